/* config.c — tgs3 serve options: one table; flags over TGS3_* environment over a config file over defaults.
 *
 * Every option is a row of `options[]`: its flag, its kind, its default and
 * its help line. The environment variable of `--block-size` is
 * TGS3_BLOCK_SIZE; repeatable options take a comma-separated list there.
 * `--config FILE` (or TGS3_CONFIG) names a file of `name = value` lines
 * with the same names, '#' comments and repeatable names on several lines.
 * A layer that sets a repeatable option replaces the lower layers' list.
 * Unknown names and bad values stop start-up with a message naming them
 * (and FILE:LINE for the file); --print-config shows each value's source.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/blocks/shard.h"
#include "gateway/gw.h"

enum opt_kind {
    OPT_STR, OPT_SIZE, OPT_INT, OPT_SECONDS, OPT_MODE, OPT_TOKENS, OPT_CHATS, OPT_USER, OPT_AK, OPT_SK, OPT_CONFIG,
    OPT_FLAG, /* boolean: bare --flag means true */
    OPT_ONOFF /* boolean that takes its value: --name on|off */
};

struct opt {
    const char *name;
    enum opt_kind kind;
    const char *def;
    const char *help;
};

static const struct opt options[] = {
    {"listen", OPT_STR, "127.0.0.1:9000", "S3 listener HOST:PORT"},
    {"data-dir", OPT_STR, "./data", "index, key and spill files live here"},
    {"botapi-url", OPT_STR, "http://127.0.0.1:8081", "Bot API server base URL"},
    {"bot-token", OPT_TOKENS, NULL, "bot token (repeatable)"},
    {"chat-id", OPT_CHATS, NULL, "storage channel id (repeatable)"},
    {"mode", OPT_MODE, "local", "local (self-hosted --local server) or cloud"},
    {"block-size", OPT_SIZE, "auto",
     "plaintext bytes per Telegram document (K/M/G; auto: 32M in local mode, 16M in cloud mode)"},
    {"access-key", OPT_AK, NULL, "S3 access key of the first user"},
    {"secret-key", OPT_SK, NULL, "S3 secret key of the first user"},
    {"user", OPT_USER, NULL, "another user ACCESS_KEY:SECRET_KEY (repeatable)"},
    {"region", OPT_STR, "us-east-1", "region reported to clients"},
    {"staging-dir", OPT_STR, NULL, "local mode: upload blocks by file:// from this directory"},
    {"chat-lost-after", OPT_SECONDS, "600",
     "seconds a chat may refuse documents before it is lost and its shards are rebuilt elsewhere"},
    {"scrub-interval", OPT_SECONDS, "1814400",
     "seconds one background pass reading back every shard takes (0: no background scrub)"},
    {"redundancy", OPT_STR, "auto",
     "none, mirror, rs:K+M, or auto: survive 1 lost channel with 2-5 channels, 2 with 6 or more"},
    {"domain", OPT_STR, NULL, "base domain for virtual-hosted-style requests"},
    {"max-body", OPT_SIZE, "5G", "largest single PUT or part body"},
    {"max-upload-blocks", OPT_INT, "auto", "blocks uploading to Telegram at once (auto: 128 MiB of blocks, 2 to 8)"},
    {"max-fetch-blocks", OPT_INT, "auto", "fetched blocks held in memory at once (auto: 128 MiB of blocks, 2 to 8)"},
    {"max-waiting", OPT_INT, "256", "requests queued for a budget before 503 SlowDown"},
    {"max-connections", OPT_INT, "1024", "concurrent client connections (at the cap, idle ones are closed first)"},
    {"header-timeout", OPT_SECONDS, "10", "seconds a connection may take to send a complete request head"},
    {"body-min-rate", OPT_SIZE, "16K",
     "bytes per second a streamed body must keep arriving at to hold its upload slot (0: no floor)"},
    {"max-spill", OPT_SIZE, "4G",
     "bytes of request bodies the server buffers at once (aws-chunked, chunked, small PUTs; beyond: 503 SlowDown)"},
    {"gc-grace", OPT_SECONDS, "600", "seconds an unreferenced block waits before deletion"},
    {"gc-interval", OPT_SECONDS, "5", "seconds between delete-queue runs"},
    {"upload-expiry", OPT_SECONDS, "604800", "seconds before an unfinished multipart upload expires"},
    {"req-timeout", OPT_SECONDS, "600",
     "seconds a request's headers and buffered body may take to arrive; a streamed body (PUT or part over 4 MiB) may "
     "pause this long"},
    {"rate-pair-per-min", OPT_INT, "20", "posts one bot makes into one chat in any 60 s (a burst, then as the window frees)"},
    {"rate-bot-per-sec", OPT_INT, "30", "posts per second one bot makes over all chats"},
    {"rate-chat-per-min", OPT_INT, "0", "posts per minute into one chat over all bots (0: no limit)"},
    {"max-schedule-wait", OPT_SECONDS, "120", "seconds an upload may wait to post a block before 503 SlowDown"},
    {"chat-max-messages", OPT_INT, "500000", "blocks a chat holds before new ones go to the other chats"},
    {"log-level", OPT_STR, "info", "debug, info, warn or error"},
    {"log-file", OPT_STR, NULL, "log to this file instead of stderr (SIGHUP reopens it)"},
    {"admin-listen", OPT_STR, "127.0.0.1:9001", "HOST:PORT of /metrics, /healthz and /readyz (off: none)"},
    {"health-interval", OPT_SECONDS, "5", "seconds between Bot API checks (getMe) and index statistics"},
    {"shutdown-grace", OPT_SECONDS, "30", "seconds requests in flight may take to finish after SIGTERM"},
    {"key-file", OPT_STR, NULL, "master key file (default DATA_DIR/master.key, created on first start); LOSING IT LOSES THE DATA"},
    {"no-encryption", OPT_FLAG, NULL, "post blocks unsealed (plaintext readable by Telegram); keyed hashes still verify reads"},
    {"snapshot-interval", OPT_SECONDS, "86400", "seconds after which a new snapshot of the index begins a new chain at the latest (also when the journal passed a quarter of the index)"},
    {"journal-interval", OPT_SECONDS, "5", "seconds between the index's journal documents in Telegram (at most; 0: no journal and no snapshots)"},
    {"cache-dir", OPT_STR, NULL, "block cache directory (default DATA_DIR/cache)"},
    {"cache-size", OPT_SIZE, "1G", "bytes of sealed blocks kept in the cache, least recently used out first (0: off)"},
    {"pack-threshold", OPT_SIZE, "1M", "PUT bodies smaller than this are packed together into one document"},
    {"pack-delay", OPT_INT, "2000", "ms after its first object a pack is posted at the latest"},
    {"pack-compact", OPT_INT, "50", "percent of a posted pack's bytes that are dead before GC moves its live objects to a new pack (0: never)"},
    {"stray-probe-max", OPT_INT, "1000", "message ids the start-up search for strays of a crash may read (0: no search)"},
    {"stray-probe-delay", OPT_INT, "5000", "ms after start-up the search for strays of a crash begins"},
    {"no-packing", OPT_FLAG, NULL, "store every object in documents of its own (small objects are acknowledged only once in Telegram)"},
    {"clock-offset", OPT_SECONDS, "0",
     "seconds added to the clock that Object Lock retention, lifecycle and Telegram's 48-hour rule read (time travel "
     "for tests, with tgs3-botapi --clock-offset; signatures keep the real clock)"},
    {"sigv2", OPT_ONOFF, "on", "accept AWS Signature Version 2 (header and query forms) as well as SigV4 (on|off)"},
    {"lifecycle-interval", OPT_SECONDS, "3600", "seconds between runs of the buckets' lifecycle rules (expiry, aborts)"},
    {"config", OPT_CONFIG, NULL, "read 'name = value' lines from FILE (flags > TGS3_* > file > defaults)"},
};

void gw_config_init(struct gw_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
}

static void free_user(struct gw_user *u)
{
    free(u->access_key);
    if (u->secret_key) {
        secure_zero(u->secret_key, strlen(u->secret_key));
        free(u->secret_key);
    }
}

void gw_config_release(struct gw_config *cfg)
{
    free(cfg->listen);
    free(cfg->data_dir);
    free(cfg->botapi_url);
    for (size_t i = 0; i < cfg->n_bot_tokens; i++) {
        secure_zero(cfg->bot_tokens[i], strlen(cfg->bot_tokens[i]));
        free(cfg->bot_tokens[i]);
    }
    free(cfg->bot_tokens);
    free(cfg->chat_ids);
    for (size_t i = 0; i < cfg->n_users; i++)
        free_user(&cfg->users[i]);
    free(cfg->users);
    free(cfg->region);
    free(cfg->staging_dir);
    free(cfg->domain);
    free(cfg->log_level);
    free(cfg->log_file);
    free(cfg->admin_listen);
    free(cfg->key_file);
    free(cfg->cache_dir);
    free(cfg->redundancy);
    memset(cfg, 0, sizeof(*cfg));
}

const char *gw_config_redundancy(const struct gw_config *cfg)
{
    return cfg->redundancy != NULL ? cfg->redundancy : "auto";
}

void gw_config_usage(FILE *fp)
{
    fprintf(fp, "usage: tgs3 serve [options]\n\n"
                "options (each also read from TGS3_<NAME>, e.g. TGS3_BLOCK_SIZE, and from a --config file\n"
                "of 'name = value' lines; flags win over the environment, which wins over the file):\n");
    for (size_t i = 0; i < ARRAY_SIZE(options); i++)
        fprintf(fp, "  --%-20s %s%s%s%s\n", options[i].name, options[i].help, options[i].def ? " (default " : "",
                options[i].def ? options[i].def : "", options[i].def ? ")" : "");
    fprintf(fp, "  --%-20s %s\n", "print-config", "print every option's value and where it came from, then exit");
}

static int parse_int(const char *s, int64_t min, int64_t max, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int valid_token(const char *t)
{
    const char *colon = strchr(t, ':');
    if (colon == NULL || colon == t || t[0] == '0' || strlen(t) > 80)
        return 0;
    for (const char *p = t; p < colon; p++)
        if (!isdigit((unsigned char)*p))
            return 0;
    for (const char *p = colon + 1; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
            return 0;
    return colon[1] != '\0';
}

/* Per-user fields are set as they come: --access-key/--secret-key fill user 0. */
static struct gw_user *user0(struct gw_config *cfg)
{
    if (cfg->n_users == 0) {
        cfg->users = xcalloc(1, sizeof(*cfg->users));
        cfg->n_users = 1;
    }
    return &cfg->users[0];
}

/* The string option o->name, copied into its slot; --botapi-url loses its trailing slashes. */
static void set_string(struct gw_config *cfg, const struct opt *o, const char *v)
{
    char **slot = NULL;
    if (!strcmp(o->name, "listen"))
        slot = &cfg->listen;
    else if (!strcmp(o->name, "data-dir"))
        slot = &cfg->data_dir;
    else if (!strcmp(o->name, "botapi-url"))
        slot = &cfg->botapi_url;
    else if (!strcmp(o->name, "region"))
        slot = &cfg->region;
    else if (!strcmp(o->name, "staging-dir"))
        slot = &cfg->staging_dir;
    else if (!strcmp(o->name, "domain"))
        slot = &cfg->domain;
    else if (!strcmp(o->name, "log-level"))
        slot = &cfg->log_level;
    else if (!strcmp(o->name, "log-file"))
        slot = &cfg->log_file;
    else if (!strcmp(o->name, "admin-listen"))
        slot = &cfg->admin_listen;
    else if (!strcmp(o->name, "key-file"))
        slot = &cfg->key_file;
    else if (!strcmp(o->name, "cache-dir"))
        slot = &cfg->cache_dir;
    else if (!strcmp(o->name, "redundancy"))
        slot = &cfg->redundancy;
    ASSERT(slot != NULL);
    free(*slot);
    *slot = xstrdup(v);
    if (!strcmp(o->name, "botapi-url")) {
        size_t l = strlen(*slot);
        while (l > 0 && (*slot)[l - 1] == '/')
            (*slot)[--l] = '\0';
    }
}

/* A byte count (K/M/G); only --cache-size and --body-min-rate may be 0. 0, or -1: a bad value. */
static int set_size(struct gw_config *cfg, const struct opt *o, const char *v)
{
    if (!strcmp(o->name, "block-size") && !strcmp(v, "auto")) {
        cfg->block_size = 0; /* gw_config_parse settles it by the mode */
        return 0;
    }
    int64_t n = parse_size(v);
    if (n < 0 || (n == 0 && strcmp(o->name, "cache-size") != 0 && strcmp(o->name, "body-min-rate") != 0))
        return -1;
    if (!strcmp(o->name, "block-size"))
        cfg->block_size = n;
    else if (!strcmp(o->name, "cache-size"))
        cfg->cache_size = n;
    else if (!strcmp(o->name, "pack-threshold"))
        cfg->pack_threshold = n;
    else if (!strcmp(o->name, "body-min-rate"))
        cfg->body_min_rate = n;
    else if (!strcmp(o->name, "max-spill"))
        cfg->max_spill = n;
    else
        cfg->max_body = n;
    return 0;
}

/* An integer within the option's range. 0, or -1: a bad value. */
static int set_int(struct gw_config *cfg, const struct opt *o, const char *v)
{
    int64_t n;
    if (!strcmp(v, "auto") && (!strcmp(o->name, "max-upload-blocks") || !strcmp(o->name, "max-fetch-blocks"))) {
        if (!strcmp(o->name, "max-upload-blocks"))
            cfg->max_upload_blocks = 0; /* gw_config_parse settles it by the block size */
        else
            cfg->max_fetch_blocks = 0;
        return 0;
    }
    if (parse_int(v,
                  !strcmp(o->name, "rate-chat-per-min") || !strcmp(o->name, "pack-compact") ||
                          !strcmp(o->name, "stray-probe-max") || !strcmp(o->name, "stray-probe-delay")
                      ? 0
                      : 1,
                  !strcmp(o->name, "chat-max-messages") ? 1000000000
                  : !strcmp(o->name, "pack-compact")    ? 99
                                                        : 1000000,
                  &n) != 0)
        return -1;
    if (!strcmp(o->name, "rate-pair-per-min"))
        cfg->rate_pair_per_min = (double)n;
    else if (!strcmp(o->name, "rate-bot-per-sec"))
        cfg->rate_bot_per_sec = (double)n;
    else if (!strcmp(o->name, "rate-chat-per-min"))
        cfg->rate_chat_per_min = (double)n;
    else if (!strcmp(o->name, "chat-max-messages"))
        cfg->chat_max_messages = n;
    else if (!strcmp(o->name, "pack-delay"))
        cfg->pack_delay_ms = n;
    else if (!strcmp(o->name, "pack-compact"))
        cfg->pack_compact_pct = (int)n;
    else if (!strcmp(o->name, "stray-probe-max"))
        cfg->stray_probe_max = n;
    else if (!strcmp(o->name, "stray-probe-delay"))
        cfg->stray_probe_delay_ms = n;
    else if (!strcmp(o->name, "max-upload-blocks"))
        cfg->max_upload_blocks = (int)n;
    else if (!strcmp(o->name, "max-fetch-blocks"))
        cfg->max_fetch_blocks = (int)n;
    else if (!strcmp(o->name, "max-waiting"))
        cfg->max_waiting = (int)n;
    else
        cfg->max_connections = (int)n;
    return 0;
}

/* Seconds, kept in ms; the intervals and timeouts that must tick take 0 as 1 s. 0, or -1: a bad value. */
static int set_seconds(struct gw_config *cfg, const struct opt *o, const char *v)
{
    int64_t n;
    if (parse_int(v, 0, 100L * 365 * 86400, &n) != 0)
        return -1;
    int64_t ms = n * 1000;
    if (!strcmp(o->name, "gc-grace"))
        cfg->gc_grace_ms = ms;
    else if (!strcmp(o->name, "gc-interval"))
        cfg->gc_interval_ms = ms > 0 ? ms : 1000;
    else if (!strcmp(o->name, "upload-expiry"))
        cfg->upload_expiry_ms = ms;
    else if (!strcmp(o->name, "max-schedule-wait"))
        cfg->max_schedule_wait_ms = ms > 0 ? ms : 1000;
    else if (!strcmp(o->name, "health-interval"))
        cfg->health_interval_ms = ms > 0 ? ms : 1000;
    else if (!strcmp(o->name, "shutdown-grace"))
        cfg->shutdown_grace_ms = ms;
    else if (!strcmp(o->name, "snapshot-interval"))
        cfg->snapshot_interval_ms = ms;
    else if (!strcmp(o->name, "journal-interval"))
        cfg->journal_interval_ms = ms;
    else if (!strcmp(o->name, "scrub-interval"))
        cfg->scrub_interval_ms = ms;
    else if (!strcmp(o->name, "lifecycle-interval"))
        cfg->lifecycle_interval_ms = ms > 0 ? ms : 1000;
    else if (!strcmp(o->name, "chat-lost-after"))
        cfg->chat_lost_after_ms = ms;
    else if (!strcmp(o->name, "clock-offset"))
        cfg->clock_offset_ms = ms;
    else if (!strcmp(o->name, "header-timeout"))
        cfg->header_timeout_ms = ms > 0 ? ms : 1000;
    else
        cfg->req_timeout_ms = ms > 0 ? ms : 1000;
    return 0;
}

/* A boolean: 1/true/yes/on or 0/false/no/off. 0, or -1: a bad value. */
static int set_flag(struct gw_config *cfg, const struct opt *o, const char *v)
{
    int *flag = !strcmp(o->name, "no-packing") ? &cfg->no_packing
                : !strcmp(o->name, "sigv2")    ? &cfg->sigv2
                                               : &cfg->no_encryption;
    if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on"))
        *flag = 1;
    else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off"))
        *flag = 0;
    else
        return -1;
    return 0;
}

/* local or cloud. 0, or -1: a bad value. */
static int set_mode(struct gw_config *cfg, const char *v)
{
    if (!strcmp(v, "local"))
        cfg->mode = TG_MODE_LOCAL;
    else if (!strcmp(v, "cloud"))
        cfg->mode = TG_MODE_CLOUD;
    else
        return -1;
    return 0;
}

/* Appends a bot token; a malformed one is refused with its own message. 0 or -1. */
static int add_token(struct gw_config *cfg, const char *v, const char *src)
{
    if (!valid_token(v)) {
        fprintf(stderr, "tgs3: %s: --bot-token: not a bot token (expected <digits>:<secret>)\n", src);
        return -1;
    }
    cfg->bot_tokens = xrealloc(cfg->bot_tokens, (cfg->n_bot_tokens + 1) * sizeof(char *));
    cfg->bot_tokens[cfg->n_bot_tokens++] = xstrdup(v);
    return 0;
}

/* Appends a non-zero chat id. 0, or -1: a bad value. */
static int add_chat(struct gw_config *cfg, const char *v)
{
    int64_t n;
    if (parse_int(v, INT64_MIN + 1, INT64_MAX, &n) != 0 || n == 0)
        return -1;
    cfg->chat_ids = xrealloc(cfg->chat_ids, (cfg->n_chat_ids + 1) * sizeof(int64_t));
    cfg->chat_ids[cfg->n_chat_ids++] = n;
    return 0;
}

/* --secret-key of the first user; the old secret is cleansed. */
static void set_secret_key(struct gw_config *cfg, const char *v)
{
    struct gw_user *u = user0(cfg);
    if (u->secret_key) {
        secure_zero(u->secret_key, strlen(u->secret_key));
        free(u->secret_key);
    }
    u->secret_key = xstrdup(v);
}

/* Appends a user ACCESS_KEY:SECRET_KEY; a malformed one is refused with its own message. 0 or -1. */
static int add_user(struct gw_config *cfg, const char *v, const char *src)
{
    const char *colon = strchr(v, ':');
    if (colon == NULL || colon == v || colon[1] == '\0') {
        fprintf(stderr, "tgs3: %s: --user: expected ACCESS_KEY:SECRET_KEY\n", src);
        return -1;
    }
    if (cfg->n_users == 0)
        user0(cfg); /* slot 0 stays for --access-key/--secret-key */
    cfg->users = xrealloc(cfg->users, (cfg->n_users + 1) * sizeof(*cfg->users));
    cfg->users[cfg->n_users].access_key = xstrndup(v, (size_t)(colon - v));
    cfg->users[cfg->n_users].secret_key = xstrdup(colon + 1);
    cfg->n_users++;
    return 0;
}

/* Sets option o to v (src names the layer for messages). 0, or -1 after a
 * message to stderr; a secret value is never printed. */
static int set_opt(struct gw_config *cfg, const struct opt *o, const char *v, const char *src)
{
    int rc = -1;
    switch (o->kind) {
    case OPT_STR:
        set_string(cfg, o, v);
        return 0;
    case OPT_SIZE:
        rc = set_size(cfg, o, v);
        break;
    case OPT_INT:
        rc = set_int(cfg, o, v);
        break;
    case OPT_SECONDS:
        rc = set_seconds(cfg, o, v);
        break;
    case OPT_FLAG:
    case OPT_ONOFF:
        rc = set_flag(cfg, o, v);
        break;
    case OPT_MODE:
        rc = set_mode(cfg, v);
        break;
    case OPT_TOKENS:
        return add_token(cfg, v, src);
    case OPT_CHATS:
        rc = add_chat(cfg, v);
        break;
    case OPT_AK:
        free(user0(cfg)->access_key);
        user0(cfg)->access_key = xstrdup(v);
        return 0;
    case OPT_SK:
        set_secret_key(cfg, v);
        return 0;
    case OPT_CONFIG:
        return 0; /* read before the other layers (gw_config_parse) */
    case OPT_USER:
        return add_user(cfg, v, src);
    }
    if (rc == 0)
        return 0;
    fprintf(stderr, "tgs3: %s: --%s: bad value '%s'\n", src, o->name,
            (o->kind == OPT_TOKENS || o->kind == OPT_SK) ? "<redacted>" : v);
    return -1;
}

static const struct opt *find_opt(const char *name, size_t len)
{
    for (size_t i = 0; i < ARRAY_SIZE(options); i++)
        if (strlen(options[i].name) == len && !strncmp(options[i].name, name, len))
            return &options[i];
    return NULL;
}

static int is_repeatable(const struct opt *o)
{
    return o->kind == OPT_TOKENS || o->kind == OPT_CHATS || o->kind == OPT_USER;
}

/* What each option was last set to and by which layer (for --print-config). */
struct shown {
    char *val;
    char *src;
};

static int is_secret(const struct opt *o)
{
    return o->kind == OPT_TOKENS || o->kind == OPT_SK || o->kind == OPT_USER;
}

/* A layer that sets a repeatable option replaces the lists of the layers below it. */
static void reset_list(struct gw_config *cfg, const struct opt *o)
{
    if (o->kind == OPT_TOKENS) {
        for (size_t k = 0; k < cfg->n_bot_tokens; k++) {
            secure_zero(cfg->bot_tokens[k], strlen(cfg->bot_tokens[k]));
            free(cfg->bot_tokens[k]);
        }
        cfg->n_bot_tokens = 0;
    } else if (o->kind == OPT_CHATS) {
        cfg->n_chat_ids = 0;
    } else if (o->kind == OPT_USER) {
        while (cfg->n_users > 1)
            free_user(&cfg->users[--cfg->n_users]);
    }
}

/* Sets o from one layer; `first` says whether this is the layer's first value for o. */
static int apply(struct gw_config *cfg, struct shown *sh, const struct opt *o, const char *v, const char *src,
                 int first)
{
    struct shown *s = &sh[o - options];
    if (is_repeatable(o) && first)
        reset_list(cfg, o);
    if (set_opt(cfg, o, v, src) != 0)
        return -1;
    const char *shown = is_secret(o) ? "<redacted>" : v;
    if (is_repeatable(o) && !first && s->val != NULL) {
        size_t n = strlen(s->val) + strlen(shown) + 3;
        char *j = xmalloc(n);
        snprintf(j, n, "%s, %s", s->val, shown);
        free(s->val);
        s->val = j;
    } else {
        free(s->val);
        s->val = xstrdup(shown);
    }
    free(s->src);
    s->src = xstrdup(src);
    return 0;
}

static char *trim(char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    size_t n = strlen(p);
    while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r' || p[n - 1] == '\n'))
        p[--n] = '\0';
    return p;
}

/* --config FILE: `name = value` lines, '#' comments, blank lines; a
 * repeatable name may appear on several lines. Errors name FILE:LINE. */
static int read_file(struct gw_config *cfg, struct shown *sh, const char *path)
{
    FILE *fp = fopen(path, "r");
    char line[4096];
    int lineno = 0, rc = 0;
    unsigned char seen[ARRAY_SIZE(options)];

    if (fp == NULL) {
        fprintf(stderr, "tgs3: --config %s: %s\n", path, strerror(errno));
        return -1;
    }
    memset(seen, 0, sizeof(seen));
    while (rc == 0 && fgets(line, sizeof(line), fp) != NULL) {
        lineno++;
        char where[4200];
        snprintf(where, sizeof(where), "%s:%d", path, lineno);
        if (strchr(line, '\n') == NULL && !feof(fp)) {
            fprintf(stderr, "tgs3: %s: line too long\n", where);
            rc = -1;
            break;
        }
        char *p = trim(line);
        if (*p == '\0' || *p == '#')
            continue;
        char *eq = strchr(p, '=');
        if (eq == NULL) {
            fprintf(stderr, "tgs3: %s: expected 'name = value'\n", where);
            rc = -1;
            break;
        }
        *eq = '\0';
        char *name = trim(p), *val = trim(eq + 1);
        if (name[0] == '-' && name[1] == '-')
            name += 2;
        size_t vl = strlen(val);
        if (vl >= 2 && ((val[0] == '"' && val[vl - 1] == '"') || (val[0] == '\'' && val[vl - 1] == '\''))) {
            val[vl - 1] = '\0';
            val++;
        }
        const struct opt *o = find_opt(name, strlen(name));
        if (o == NULL || o->kind == OPT_CONFIG) {
            fprintf(stderr, "tgs3: %s: %s option '%s' (see tgs3 serve --help)\n", where,
                    o ? "a config file cannot name the" : "unknown", name);
            rc = -1;
            break;
        }
        if (!is_repeatable(o) && seen[o - options]) {
            fprintf(stderr, "tgs3: %s: '%s' given twice (only repeatable options may be)\n", where, name);
            rc = -1;
            break;
        }
        rc = apply(cfg, sh, o, val, where, !seen[o - options]);
        seen[o - options] = 1;
    }
    secure_zero(line, sizeof(line));
    fclose(fp);
    return rc;
}

/* The block size and the budgets left at auto. The block size: 32 MiB through a local server (a
 * pair's 20 posts a minute carry twice what 16 MiB blocks do), 16 MiB in cloud mode (its downloads
 * stop at 20 MB). Each budget: AUTO_BUDGET bytes of blocks, so the block buffers stay within 256 MiB
 * whatever the block size; at least 2 (one block uploads while the next fills), at most 8. */
#define AUTO_BLOCK_LOCAL (32LL << 20)
#define AUTO_BLOCK_CLOUD (16LL << 20)
#define AUTO_BUDGET (128LL << 20)

static void settle_auto(struct gw_config *cfg, struct shown *sh)
{
    char v[64];
    if (cfg->block_size == 0)
        cfg->block_size = cfg->mode == TG_MODE_CLOUD ? AUTO_BLOCK_CLOUD : AUTO_BLOCK_LOCAL;
    int64_t slots = AUTO_BUDGET / cfg->block_size;
    slots = slots < 2 ? 2 : slots > 8 ? 8 : slots;
    if (cfg->max_upload_blocks == 0)
        cfg->max_upload_blocks = (int)slots;
    if (cfg->max_fetch_blocks == 0)
        cfg->max_fetch_blocks = (int)slots;
    for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
        if (sh[i].val == NULL || strcmp(sh[i].val, "auto") != 0)
            continue;
        if (!strcmp(options[i].name, "block-size"))
            snprintf(v, sizeof(v), "%lldM", (long long)(cfg->block_size >> 20));
        else
            snprintf(v, sizeof(v), "%d", !strcmp(options[i].name, "max-upload-blocks") ? cfg->max_upload_blocks
                                                                                       : cfg->max_fetch_blocks);
        free(sh[i].val);
        sh[i].val = xstrdup(v);
    }
}

static void print_config(const struct shown *sh)
{
    for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
        if (options[i].kind == OPT_CONFIG)
            continue;
        printf("%-18s = %-40s # %s\n", options[i].name, sh[i].val ? sh[i].val : "",
               sh[i].val ? sh[i].src : "unset");
    }
    fflush(stdout);
}

int gw_config_parse(struct gw_config *cfg, int argc, char **argv)
{
    struct shown sh[ARRAY_SIZE(options)];
    const char *config_file = getenv("TGS3_CONFIG");
    int print = 0, rc = -1;

    memset(sh, 0, sizeof(sh));
    /* 0. --help, --print-config and --config come first: the file sits below the environment. */
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            gw_config_usage(stdout);
            exit(0);
        }
        if (!strcmp(a, "--print-config")) {
            print = 1;
        } else if (!strncmp(a, "--config=", 9)) {
            config_file = a + 9;
        } else if (!strcmp(a, "--config")) {
            if (i + 1 >= argc) {
                fprintf(stderr, "tgs3: option '--config' needs a value\n");
                return -1;
            }
            config_file = argv[++i];
        }
    }
    /* 1. defaults */
    for (size_t i = 0; i < ARRAY_SIZE(options); i++)
        if (options[i].def != NULL && apply(cfg, sh, &options[i], options[i].def, "default", 1) != 0)
            goto out;
    /* 2. the config file */
    if (config_file != NULL && *config_file != '\0' && read_file(cfg, sh, config_file) != 0)
        goto out;
    /* 3. environment */
    for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
        char env[64] = "TGS3_";
        size_t k = 5;
        if (options[i].kind == OPT_CONFIG)
            continue;
        for (const char *p = options[i].name; *p && k + 1 < sizeof(env); p++)
            env[k++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
        env[k] = '\0';
        const char *v = getenv(env);
        if (v == NULL || *v == '\0')
            continue;
        const char *src = env;
        if (is_repeatable(&options[i])) {
            char *copy = xstrdup(v), *save = NULL;
            int r = 0, first = 1;
            for (char *tok = strtok_r(copy, ",", &save); tok && r == 0; tok = strtok_r(NULL, ",", &save)) {
                r = apply(cfg, sh, &options[i], tok, src, first);
                first = 0;
            }
            secure_zero(copy, strlen(v));
            free(copy);
            if (r != 0)
                goto out;
        } else if (apply(cfg, sh, &options[i], v, src, 1) != 0) {
            goto out;
        }
    }
    /* 4. flags: repeatable flags given on the command line replace the lower layers' lists */
    unsigned char seen[ARRAY_SIZE(options)];
    memset(seen, 0, sizeof(seen));
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--print-config"))
            continue;
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "tgs3: unexpected argument '%s' (see tgs3 serve --help)\n", a);
            goto out;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const struct opt *o = find_opt(name, nlen);
        if (o == NULL) {
            fprintf(stderr, "tgs3: unknown option '--%.*s' (see tgs3 serve --help)\n", (int)nlen, name);
            goto out;
        }
        const char *v = eq ? eq + 1 : NULL;
        if (v == NULL && o->kind == OPT_FLAG) {
            v = "true";
        } else if (v == NULL) {
            if (i + 1 >= argc) {
                fprintf(stderr, "tgs3: option '--%s' needs a value\n", o->name);
                goto out;
            }
            v = argv[++i];
        }
        if (o->kind == OPT_CONFIG)
            continue; /* read in step 2 */
        if (apply(cfg, sh, o, v, "command line", !seen[o - options]) != 0)
            goto out;
        seen[o - options] = 1;
    }
    rc = 0;
    settle_auto(cfg, sh);
    clock_set_offset_ms(cfg->clock_offset_ms); /* every command reads one clock */
    if (print) {
        print_config(sh);
        rc = 1;
    }
out:
    for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
        free(sh[i].val);
        free(sh[i].src);
    }
    return rc;
}

int gw_config_check(const struct gw_config *cfg)
{
    if (cfg->n_users == 0 || cfg->users[0].access_key == NULL || cfg->users[0].secret_key == NULL) {
        fprintf(stderr, "tgs3: no credentials: set --access-key and --secret-key (or TGS3_ACCESS_KEY, "
                        "TGS3_SECRET_KEY)\n");
        return -1;
    }
    if (cfg->n_bot_tokens == 0) {
        fprintf(stderr, "tgs3: no bot: give --bot-token at least once\n");
        return -1;
    }
    if (cfg->n_chat_ids == 0) {
        fprintf(stderr, "tgs3: no storage chat: give --chat-id at least once\n");
        return -1;
    }
    int64_t max = cfg->mode == TG_MODE_LOCAL ? TG_LOCAL_MAX_UPLOAD : TG_CLOUD_MAX_DOWNLOAD;
    if (cfg->block_size > max || cfg->block_size < 4096) {
        fprintf(stderr, "tgs3: --block-size %lld does not fit %s mode (4 KiB to %lld bytes%s)\n",
                (long long)cfg->block_size, cfg->mode == TG_MODE_LOCAL ? "local" : "cloud", (long long)max,
                cfg->mode == TG_MODE_CLOUD ? ": the cloud Bot API downloads at most 20 MiB" : "");
        return -1;
    }
    int k, m;
    if (blk_layout_parse(gw_config_redundancy(cfg), (int)cfg->n_chat_ids, &k, &m) != 0) {
        fprintf(stderr, "tgs3: --redundancy %s: expected none, mirror, auto or rs:K+M with K + M at most the %zu "
                        "configured chats (and at most %d)\n",
                gw_config_redundancy(cfg), cfg->n_chat_ids, BLK_MAX_SHARDS);
        return -1;
    }
    if (strchr(cfg->listen, ':') == NULL) {
        fprintf(stderr, "tgs3: --listen: expected HOST:PORT\n");
        return -1;
    }
    if (cfg->admin_listen != NULL && strcmp(cfg->admin_listen, "off") != 0) {
        if (strchr(cfg->admin_listen, ':') == NULL) {
            fprintf(stderr, "tgs3: --admin-listen: expected HOST:PORT or off\n");
            return -1;
        }
        if (!strcmp(cfg->admin_listen, cfg->listen)) {
            fprintf(stderr, "tgs3: --admin-listen must differ from --listen (/metrics would be a bucket)\n");
            return -1;
        }
    }
    return 0;
}
