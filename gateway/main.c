/* main.c — the tgs3 program: sub-commands, start-up checks, the loop, shutdown.
 *
 * `tgs3 serve` opens the index, checks every bot (getMe) and every storage
 * chat (getChat) through the Bot API server, then serves S3 on --listen.
 * SIGTERM/SIGINT: stop accepting, let requests in flight finish (at most
 * SHUTDOWN_GRACE_MS), then stop the loop, the store thread and the index.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gateway/gw.h"

#define SHUTDOWN_GRACE_MS 30000

static void usage(FILE *fp)
{
    fprintf(fp, "tgs3 — an S3-compatible object store whose bytes live in Telegram\n\n"
                "usage: tgs3 <command> [options]\n\n"
                "commands:\n"
                "  serve     run the S3 gateway (tgs3 serve --help lists every option)\n"
                "  version   print the version\n");
}

static int mkdir_p(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0700) != 0 && errno != EEXIST)
                return -1;
            buf[i] = c;
        }
    }
    return 0;
}

/* ---- start-up checks ---------------------------------------------------------- */

struct checks {
    struct gw *gw;
    int pending;
    int failed;
};

static void on_me(void *ud, const struct tg_result *res, const struct tg_bot_info *bot)
{
    struct checks *c = ud;
    c->pending--;
    if (res->status != TG_OK) {
        log_error("bot token %s… rejected by the Bot API server: %s (%s)", "<redacted>", tg_status_name(res->status),
                  res->description);
        c->failed = 1;
        return;
    }
    log_info("bot %lld (@%s) ready", (long long)bot->id, bot->username);
}

static void on_chat(void *ud, const struct tg_result *res, const struct tg_chat_info *chat)
{
    struct checks *c = ud;
    c->pending--;
    if (res->status != TG_OK) {
        log_error("storage chat check failed: %s (%s)", tg_status_name(res->status), res->description);
        c->failed = 1;
        return;
    }
    log_info("storage chat %lld (%s \"%s\") ready", (long long)chat->id, chat->type, chat->title);
}

static int startup_checks(struct gw *gw)
{
    struct checks c = {.gw = gw};
    for (size_t i = 0; i < gw->n_bots; i++) {
        c.pending++;
        tg_get_me(gw->tg, gw->bots[i].token, on_me, &c);
    }
    for (size_t i = 0; i < gw->cfg.n_chat_ids; i++) {
        c.pending++;
        tg_get_chat(gw->tg, gw->bots[0].token, gw->cfg.chat_ids[i], on_chat, &c);
    }
    while (c.pending > 0)
        uv_run(gw->loop, UV_RUN_ONCE);
    return c.failed ? -1 : 0;
}

/* ---- shutdown ---------------------------------------------------------------- */

static uv_signal_t sig_term, sig_int;
static uv_timer_t drain_timer;
static int64_t drain_deadline;

static void on_drain(uv_timer_t *t)
{
    struct gw *gw = t->data;
    if (gw->active > 0 && mono_ms() < drain_deadline)
        return;
    if (gw->active > 0)
        log_warn("shutdown: %d requests still running after %d s; stopping anyway", gw->active,
                 SHUTDOWN_GRACE_MS / 1000);
    uv_timer_stop(t);
    uv_stop(gw->loop);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct gw *gw = s->data;
    if (gw->stopping)
        return;
    log_info("signal %d: no new connections; finishing %d requests", signum, gw->active);
    gw->stopping = 1;
    gw_server_stop_accepting(gw);
    drain_deadline = mono_ms() + SHUTDOWN_GRACE_MS;
    uv_timer_start(&drain_timer, on_drain, 0, 100);
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* ---- serve ---------------------------------------------------------------------- */

static int serve(int argc, char **argv)
{
    struct gw gw;
    memset(&gw, 0, sizeof(gw));
    gw_config_init(&gw.cfg);
    int rc = 1;
    struct store *st = NULL;
    uv_loop_t loop;

    if (gw_config_parse(&gw.cfg, argc, argv) != 0 || gw_config_check(&gw.cfg) != 0) {
        gw_config_release(&gw.cfg);
        return 2;
    }
    if (!strcmp(gw.cfg.log_level, "debug"))
        log_set_level(LOG_DEBUG);
    else if (!strcmp(gw.cfg.log_level, "warn"))
        log_set_level(LOG_WARN);
    else if (!strcmp(gw.cfg.log_level, "error"))
        log_set_level(LOG_ERROR);
    if (gw.cfg.log_file && log_open_file(gw.cfg.log_file) != 0) {
        fprintf(stderr, "tgs3: cannot open log file %s\n", gw.cfg.log_file);
        gw_config_release(&gw.cfg);
        return 2;
    }

    char path[4096];
    snprintf(path, sizeof(path), "%s/tmp", gw.cfg.data_dir);
    if (mkdir_p(gw.cfg.data_dir) != 0 || mkdir_p(path) != 0) {
        log_error("cannot create data dir %s: %s", gw.cfg.data_dir, strerror(errno));
        gw_config_release(&gw.cfg);
        return 1;
    }
    snprintf(path, sizeof(path), "%s/index.db", gw.cfg.data_dir);
    enum store_status ss = store_open(path, &st);
    if (ss != STORE_OK) {
        log_error("cannot open the index %s: %s", path, store_status_name(ss));
        gw_config_release(&gw.cfg);
        return 1;
    }
    store_set_gc_grace(st, gw.cfg.gc_grace_ms);

    /* Hashing runs on libuv's pool; give it room beside curl's resolver threads. */
    setenv("UV_THREADPOOL_SIZE", "8", 0);
    uv_loop_init(&loop);
    gw.loop = &loop;
    gw.storeq = gw_storeq_new(&gw, st);

    gw.n_bots = gw.cfg.n_bot_tokens;
    gw.bots = xcalloc(gw.n_bots, sizeof(*gw.bots));
    for (size_t i = 0; i < gw.n_bots; i++) {
        gw.bots[i].token = gw.cfg.bot_tokens[i];
        gw.bots[i].id = strtoll(gw.cfg.bot_tokens[i], NULL, 10);
    }
    struct tg_config tc = {
        .api_url = gw.cfg.botapi_url,
        .mode = gw.cfg.mode,
        .max_attempts = 5,
        .max_retry_wait = 60,
        .connect_timeout_ms = 10000,
        .timeout_ms = 600000,
        .max_connections = 64,
    };
    gw.tg = tg_client_new(gw.loop, &tc);
    if (gw.tg == NULL) {
        log_error("cannot initialise the Bot API client");
        goto out;
    }
    if (startup_checks(&gw) != 0) {
        log_error("start-up checks failed; not serving");
        goto out;
    }
    if (gw_server_start(&gw) != 0)
        goto out;
    gw_gc_start(&gw);

    uv_signal_init(gw.loop, &sig_term);
    uv_signal_init(gw.loop, &sig_int);
    sig_term.data = sig_int.data = &gw;
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    uv_timer_init(gw.loop, &drain_timer);
    drain_timer.data = &gw;
    signal(SIGPIPE, SIG_IGN);

    printf("tgs3 listening on %s (mode %s, block size %lld, %zu bot(s), %zu chat(s))\n", gw.cfg.listen,
           gw.cfg.mode == TG_MODE_LOCAL ? "local" : "cloud", (long long)gw.cfg.block_size, gw.n_bots,
           gw.cfg.n_chat_ids);
    fflush(stdout);
    uv_run(gw.loop, UV_RUN_DEFAULT);
    rc = 0;
    log_info("shutting down");
    gw_gc_stop(&gw);
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_close((uv_handle_t *)&sig_int, NULL);
    uv_close((uv_handle_t *)&drain_timer, NULL);
out:
    gw_server_stop_accepting(&gw);
    tg_client_free(gw.tg);
    gw.tg = NULL;
    gw_storeq_free(gw.storeq); /* closes the index */
    uv_run(gw.loop, UV_RUN_NOWAIT);
    if (gw.h2o_ctx.loop != NULL)
        gw_server_dispose(&gw);
    uv_walk(gw.loop, close_walk, NULL);
    uv_run(gw.loop, UV_RUN_DEFAULT);
    uv_loop_close(gw.loop);
    free(gw.bots);
    gw_config_release(&gw.cfg);
    fflush(stdout);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
        printf("tgs3 0.1\n");
        return 0;
    }
    if (!strcmp(argv[1], "serve"))
        return serve(argc - 2, argv + 2);
    fprintf(stderr, "tgs3: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
