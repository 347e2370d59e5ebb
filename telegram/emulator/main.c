/* main.c — tgs3-botapi: a local emulator of the self-hosted Telegram Bot API server.
 *
 * DESIGN. One thread, one libuv loop, h2o 2.2 as the HTTP server. This file reads the
 * command line, takes --dir (its lock, DIR/tmp for the bodies h2o spills), opens the document
 * store and the state, listens and runs the loop. h2o buffers every request body whole (large
 * ones spill to an mmap'd file under DIR/tmp); then serve.c routes it:
 *   /bot<token>/<method>          Bot API methods (methods.c and the method files), JSON answers
 *   /file/bot<token>/<file_path>  downloads, non-local mode only (download.c; the real local
 *                                 server has none)
 *   /_emulator/...                for tests and benchmarks (admin.c): stats, and run-time
 *                                 faults of a channel: ban/unban (the channel is gone),
 *                                 kick/unkick (a bot was kicked), delete (an admin deleted a
 *                                 message), corrupt (a document's bytes damaged)
 * Telegram's behaviour on demand, all on uv timers (nothing blocks the loop):
 *   --bandwidth     a request with a body runs only after the body would have arrived at that
 *                   rate; /file/ downloads are paced to it; a local getFile answers after the
 *                   file would have downloaded
 *   --rate-chat/--rate-bot with --flood-wait-max   sliding windows (rate.c); a flood wait
 *                   within the maximum runs the call again later instead of answering 429
 *   --latency-ms    every API answer waits this long
 *   --fail-drop     the connection is closed before the method runs (h2o 2.2 has buffered the
 *                   body by then, so the client may well have sent all of it)
 *   --fail-lost     sendDocument posts, then the connection is closed without an answer, as
 *                   the real server's 500 s idle timer does (at once here, so tests stay fast)
 *   --fail-429/--fail-5xx/--fail-getfile   answers of methods.c
 *   --file-ttl      a 1 s timer removes downloaded files past their time (local mode)
 *   --store-ram     documents in memory taken once before listening (docs.c)
 * State lives under --dir and survives restarts (state.c). SIGTERM/SIGINT stop the loop and
 * free everything.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include <h2o.h>
#include <uv.h>

#include "telegram/emulator/emu.h"

struct emu_config emu_cfg;

static uv_loop_t loop;
static h2o_globalconf_t config;
static h2o_context_t ctx;
static h2o_accept_ctx_t accept_ctx;
static uv_tcp_t listener;
static uv_signal_t sigterm_h, sigint_h;
static uv_timer_t ttl_timer;
static struct emu_state state;

int64_t emu_now(void)
{
    return (int64_t)time(NULL) + emu_cfg.clock_offset;
}

/* ---- server plumbing ---- */

static void on_conn_close(uv_handle_t *h)
{
    free(h);
}

static void on_accept(uv_stream_t *server, int status)
{
    if (status != 0)
        return;
    uv_tcp_t *conn = xmalloc(sizeof(*conn));
    uv_tcp_init(server->loop, conn);
    if (uv_accept(server, (uv_stream_t *)conn) != 0) {
        uv_close((uv_handle_t *)conn, on_conn_close);
        return;
    }
    uv_tcp_nodelay(conn, 1);
    h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)conn, on_conn_close);
    h2o_accept(&accept_ctx, sock);
}

static void on_ttl_timer(uv_timer_t *t)
{
    (void)t;
    files_expire();
}

static void on_signal(uv_signal_t *h, int signum)
{
    (void)signum;
    uv_stop(h->loop);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: tgs3-botapi --listen HOST:PORT --dir DIR [--local] --chat ID [--chat ID ...]\n"
            "  Telegram's limits (defaults as Telegram): --rate-chat N (posts per bot and chat in any 60 s,\n"
            "  default 20; 0 = off) --rate-bot N (posts per bot in any 1 s, default 30; 0 = off)\n"
            "  --flood-wait-max S (waits up to S come back as latency, longer ones as 429; default 60)\n"
            "  --bandwidth BYTES (per connection per second; K/M/G) --latency-ms N\n"
            "  faults, fractions in [0,1]: --fail-429 P --fail-5xx P --fail-drop P (connection closed, the method\n"
            "  does not run) --fail-lost P (sendDocument posts, no answer comes) --fail-getfile P (transient)\n"
            "  --seed N --clock-offset S --file-ttl S (local: downloaded files removed after S)\n"
            "  --store-ram BYTES (documents in memory taken once at start, in places of --store-ram-doc BYTES,\n"
            "  default 16M+64K; for a DIR on tmpfs) --spill-threshold SIZE --revoked-bot ID ... --verbose\n"
            "  at run time (not Bot API: no latency, no faults): GET /_emulator/stats; POST /_emulator/ban?chat=ID\n"
            "  (the channel is gone: chat not found) /_emulator/unban?chat=ID /_emulator/kick?chat=ID&bot=BOTID\n"
            "  (403 bot was kicked) /_emulator/unkick?chat=ID&bot=BOTID /_emulator/delete?chat=ID&message=MID\n"
            "  (an admin deleted it) /_emulator/corrupt?chat=ID&message=MID (its document's bytes damaged)\n");
}

/* A fraction in [0,1]; -1 when v is not one. */
static double parse_fraction(const char *v)
{
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || !(d >= 0.0 && d <= 1.0))
        return -1;
    return d;
}

/* A non-negative integer; -1 when v is not one. */
static long long parse_count(const char *v)
{
    char *end;
    errno = 0;
    long long n = strtoll(v, &end, 10);
    if (end == v || *end || errno || n < 0 || n > INT32_MAX)
        return -1;
    return n;
}

/* What one command-line option did: not one of this group's, a flag (no
 * value), took the next argument as its value, or was refused (a message
 * went to stderr). */
enum arg_use { ARG_UNKNOWN, ARG_FLAG, ARG_VALUE, ARG_BAD };

static int need_value(const char *a, const char *v)
{
    if (!v) {
        fprintf(stderr, "tgs3-botapi: %s needs a value\n", a);
        return -1;
    }
    return 0;
}

/* The rate limits and failure knobs: whole numbers >= 0 (count) and fractions in [0,1] (fraction). */
static enum arg_use parse_knob(const char *a, const char *v)
{
    static const struct {
        const char *name;
        int *count;
        double *fraction;
    } knobs[] = {
        {"--rate-chat", &emu_cfg.rate_chat, NULL},
        {"--rate-bot", &emu_cfg.rate_bot, NULL},
        {"--flood-wait-max", &emu_cfg.flood_wait_max, NULL},
        {"--latency-ms", &emu_cfg.latency_ms, NULL},
        {"--file-ttl", &emu_cfg.file_ttl, NULL},
        {"--fail-429", NULL, &emu_cfg.fail_429},
        {"--fail-5xx", NULL, &emu_cfg.fail_5xx},
        {"--fail-drop", NULL, &emu_cfg.fail_drop},
        {"--fail-lost", NULL, &emu_cfg.fail_lost},
        {"--fail-getfile", NULL, &emu_cfg.fail_getfile},
    };
    for (size_t k = 0; k < ARRAY_SIZE(knobs); k++) {
        if (strcmp(a, knobs[k].name) != 0)
            continue;
        if (need_value(a, v) != 0)
            return ARG_BAD;
        if (knobs[k].count) {
            long long n = parse_count(v);
            if (n < 0) {
                fprintf(stderr, "tgs3-botapi: %s needs a whole number >= 0, not %s\n", a, v);
                return ARG_BAD;
            }
            *knobs[k].count = (int)n;
        } else {
            double d = parse_fraction(v);
            if (d < 0) {
                fprintf(stderr, "tgs3-botapi: %s needs a fraction in [0,1], not %s\n", a, v);
                return ARG_BAD;
            }
            *knobs[k].fraction = d;
        }
        return ARG_VALUE;
    }
    return ARG_UNKNOWN;
}

/* The byte sizes (K/M/G): --bandwidth may be 0 (unlimited), the others not. */
static enum arg_use parse_size_opt(const char *a, const char *v)
{
    int64_t *field;
    int64_t min;
    if (strcmp(a, "--bandwidth") == 0) {
        field = &emu_cfg.bandwidth;
        min = 0;
    } else if (strcmp(a, "--store-ram") == 0) {
        field = &emu_cfg.store_ram;
        min = 1;
    } else if (strcmp(a, "--store-ram-doc") == 0) {
        field = &emu_cfg.store_ram_doc;
        min = 1;
    } else if (strcmp(a, "--spill-threshold") == 0) {
        field = &emu_cfg.spill_threshold;
        min = 1;
    } else {
        return ARG_UNKNOWN;
    }
    if (need_value(a, v) != 0)
        return ARG_BAD;
    int64_t n = parse_size(v);
    if (n < min) {
        fprintf(stderr, "tgs3-botapi: bad size %s\n", v);
        return ARG_BAD;
    }
    *field = n;
    return ARG_VALUE;
}

/* Where it listens and keeps files, the chats, the clock, the seed, revoked bots, flags. */
static enum arg_use parse_setup_opt(const char *a, const char *v, char **listen_s, char **dir_s)
{
    if (strcmp(a, "--local") == 0) {
        emu_cfg.local = 1;
        return ARG_FLAG;
    }
    if (strcmp(a, "--verbose") == 0) {
        log_set_level(LOG_DEBUG);
        return ARG_FLAG;
    }
    if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
        usage();
        exit(0);
    }
    if (strcmp(a, "--listen") != 0 && strcmp(a, "--dir") != 0 && strcmp(a, "--chat") != 0 &&
        strcmp(a, "--clock-offset") != 0 && strcmp(a, "--seed") != 0 && strcmp(a, "--revoked-bot") != 0)
        return ARG_UNKNOWN;
    if (need_value(a, v) != 0)
        return ARG_BAD;
    if (strcmp(a, "--listen") == 0) {
        *listen_s = xstrdup(v);
    } else if (strcmp(a, "--dir") == 0) {
        *dir_s = xstrdup(v);
    } else if (strcmp(a, "--chat") == 0) {
        char *end;
        long long id = strtoll(v, &end, 10);
        if (*end || id == 0) {
            fprintf(stderr, "tgs3-botapi: bad chat id %s\n", v);
            return ARG_BAD;
        }
        emu_cfg.chats = xrealloc(emu_cfg.chats, (emu_cfg.nchats + 1) * sizeof(*emu_cfg.chats));
        emu_cfg.chats[emu_cfg.nchats++] = id;
    } else if (strcmp(a, "--clock-offset") == 0) {
        emu_cfg.clock_offset = strtoll(v, NULL, 10);
    } else if (strcmp(a, "--seed") == 0) {
        emu_cfg.seed = strtoull(v, NULL, 10);
    } else {
        emu_cfg.revoked = xrealloc(emu_cfg.revoked, (emu_cfg.nrevoked + 1) * sizeof(*emu_cfg.revoked));
        emu_cfg.revoked[emu_cfg.nrevoked++] = strtoll(v, NULL, 10);
    }
    return ARG_VALUE;
}

static int parse_args(int argc, char **argv, char **listen_s, char **dir_s)
{
    emu_cfg.rate_chat = 20;
    emu_cfg.rate_bot = 30;
    emu_cfg.flood_wait_max = 60;
    emu_cfg.store_ram_doc = (16 << 20) + (64 << 10);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        enum arg_use use = parse_setup_opt(a, v, listen_s, dir_s);
        if (use == ARG_UNKNOWN)
            use = parse_knob(a, v);
        if (use == ARG_UNKNOWN)
            use = parse_size_opt(a, v);
        if (use == ARG_UNKNOWN) {
            fprintf(stderr, "tgs3-botapi: unknown option %s\n", a);
            return -1;
        }
        if (use == ARG_BAD)
            return -1;
        if (use == ARG_VALUE)
            i++;
    }
    if (!*listen_s || !*dir_s) {
        usage();
        return -1;
    }
    return 0;
}

static int bind_listener(const char *spec, char *shown, size_t shownsz)
{
    const char *colon = strrchr(spec, ':');
    if (!colon)
        return -1;
    char host[256];
    size_t hl = (size_t)(colon - spec);
    if (hl >= sizeof(host))
        return -1;
    memcpy(host, spec, hl);
    host[hl] = '\0';
    if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = '\0';
    }
    if (strcmp(host, "localhost") == 0 || host[0] == '\0')
        snprintf(host, sizeof(host), "127.0.0.1");
    int port = atoi(colon + 1);
    struct sockaddr_storage ss;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0)
        return -1;
    uv_tcp_init(&loop, &listener);
    int rc = uv_tcp_bind(&listener, (struct sockaddr *)&ss, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&listener, 1024, on_accept);
    if (rc != 0) {
        fprintf(stderr, "tgs3-botapi: listen %s: %s\n", spec, uv_strerror(rc));
        return -1;
    }
    int namelen = sizeof(ss);
    uv_tcp_getsockname(&listener, (struct sockaddr *)&ss, &namelen);
    int real_port = ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                                            : ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    snprintf(shown, shownsz, "%.*s:%d", (int)(colon - spec), spec, real_port);
    return 0;
}

int main(int argc, char **argv)
{
    char *listen_s = NULL, *dir_s = NULL, *dir_abs = NULL;
    int rc = 1, h2o_up = 0, listening = 0;
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&loop);
    if (parse_args(argc, argv, &listen_s, &dir_s) != 0)
        goto out;
    if (mkdir(dir_s, 0750) != 0 && errno != EEXIST) {
        fprintf(stderr, "tgs3-botapi: mkdir %s: %s\n", dir_s, strerror(errno));
        goto out;
    }
    dir_abs = realpath(dir_s, NULL);
    if (!dir_abs) {
        fprintf(stderr, "tgs3-botapi: realpath %s: %s\n", dir_s, strerror(errno));
        goto out;
    }
    emu_cfg.dir = dir_abs;
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s/tmp", dir_abs);
    if (mkdir(tmp, 0750) != 0 && errno != EEXIST) {
        fprintf(stderr, "tgs3-botapi: mkdir %s: %s\n", tmp, strerror(errno));
        goto out;
    }
    /* One server per --dir, as the real one's binlog lock (another would sweep and
     * overwrite this one's documents). The descriptor stays open until exit. */
    snprintf(tmp, sizeof(tmp), "%s/state.lock", dir_abs);
    if (lock_file(tmp) < 0) {
        fprintf(stderr, "tgs3-botapi: can't lock file \"%s\", because it is already in use; check for another "
                        "program instance running (%s)\n",
                tmp, strerror(errno));
        goto out;
    }
    snprintf(h2o_socket_buffer_mmap_settings.fn_template, sizeof(h2o_socket_buffer_mmap_settings.fn_template),
             "%s/tmp/h2o.b.XXXXXX", dir_abs);
    if (emu_cfg.spill_threshold > 0)
        h2o_socket_buffer_mmap_settings.threshold = (size_t)emu_cfg.spill_threshold;
    if (docs_open(dir_abs, emu_cfg.store_ram, emu_cfg.store_ram_doc) != 0)
        goto out;
    if (state_open(&state, dir_abs, emu_cfg.chats, emu_cfg.nchats) != 0)
        goto out;
    methods_init(&state);
    admin_init(&state);

    h2o_config_init(&config);
    config.max_request_entity_size = (size_t)2200 * 1024 * 1024;
    config.http1.req_timeout = 600000;
    h2o_hostconf_t *host = h2o_config_register_host(&config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pathconf = h2o_config_register_path(host, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(pathconf, sizeof(*handler));
    handler->on_req = serve_on_req;
    h2o_context_init(&ctx, &loop, &config);
    h2o_up = 1;
    accept_ctx.ctx = &ctx;
    accept_ctx.hosts = config.hosts;

    char shown[300];
    if (bind_listener(listen_s, shown, sizeof(shown)) != 0)
        goto out;
    listening = 1;
    uv_signal_init(&loop, &sigterm_h);
    uv_signal_start(&sigterm_h, on_signal, SIGTERM);
    uv_signal_init(&loop, &sigint_h);
    uv_signal_start(&sigint_h, on_signal, SIGINT);
    uv_timer_init(&loop, &ttl_timer);
    if (emu_cfg.file_ttl > 0 && emu_cfg.local)
        uv_timer_start(&ttl_timer, on_ttl_timer, 1000, 1000);
    printf("tgs3-botapi listening on %s\n", shown);
    fflush(stdout);
    uv_run(&loop, UV_RUN_DEFAULT);
    rc = 0;
out:
    if (listening) {
        uv_close((uv_handle_t *)&listener, NULL);
        uv_close((uv_handle_t *)&sigterm_h, NULL);
        uv_close((uv_handle_t *)&sigint_h, NULL);
        uv_timer_stop(&ttl_timer);
        uv_close((uv_handle_t *)&ttl_timer, NULL);
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    /* Live connections still reference the context; then it stays (reachable) until exit. */
    int idle = h2o_linklist_is_empty(&ctx.http1._conns) && h2o_linklist_is_empty(&ctx.http2._conns);
    if (h2o_up && idle) {
        h2o_context_dispose(&ctx);
        h2o_config_dispose(&config);
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    if (!h2o_up || idle)
        uv_loop_close(&loop);
    methods_release();
    state_close(&state);
    docs_close();
    free(emu_cfg.chats);
    free(emu_cfg.revoked);
    free(listen_s);
    free(dir_s);
    free(dir_abs);
    fflush(stdout);
    return rc;
}
