/* setup.c — the one start-up of what every sub-command needs: the data-dir
 * lock, the index and its store thread, the bots, the Bot API client, and
 * for what posts the scheduler, the layout of new blocks and the retired chats.
 *
 * `tgs3 serve` (main.c) and the tools (fsck, snapshot, recover, gc, and
 * repair and scrub, which post) build their gateway from these pieces, so
 * each is written once. Messages go to
 * the log (stderr unless --log-file); nothing here logs a token.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/engine/stripe.h"
#include "gateway/gw.h"

static void close_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int gw_data_dir_try_lock(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/tgs3.lock", dir);
    if (lock_file(path) >= 0)
        return 0; /* its descriptor stays open: the lock goes with the process */
    return errno == EWOULDBLOCK ? 1 : -1;
}

int gw_data_dir_lock(const char *dir, const char *name)
{
    int rc = gw_data_dir_try_lock(dir);
    if (rc == 0)
        return 0;
    if (rc == 1)
        log_error("tgs3 %s: the data dir %s is in use by another tgs3 (serve, recover, repair, fsck --repair, or a "
                  "scrub upgrading blocks); stop it first",
                  name, dir);
    else
        log_error("tgs3 %s: cannot lock %s/tgs3.lock: %s", name, dir, strerror(errno));
    return -1;
}

/* The stripe layout of new blocks (--redundancy) and its Reed–Solomon tables. */
static int start_redundancy(struct gw *gw)
{
    if (blk_layout_parse(gw_config_redundancy(&gw->cfg), (int)gw->cfg.n_chat_ids, &gw->red_k, &gw->red_m) != 0) {
        log_error("--redundancy %s does not fit %zu storage chats", gw_config_redundancy(&gw->cfg),
                  gw->cfg.n_chat_ids); /* serve checked it with the options; the tools meet it here */
        return -1;
    }
    if (gw->red_k == 1 && gw->red_m == 0) {
        if (gw->cfg.n_chat_ids < 2)
            log_warn("one storage chat: blocks are stored unprotected; if the channel is deleted or banned they are "
                     "lost (add --chat-id channels for redundancy)");
        else
            log_warn("--redundancy none: blocks are stored unprotected in %zu chats", gw->cfg.n_chat_ids);
        return 0;
    }
    for (size_t i = 0; i < gw->cfg.n_chat_ids; i++) /* chats that refused at start-up */
        if (gw_chat_state(gw, i) != GW_CHAT_OK && gw->pool != NULL)
            tg_pool_set_chat_open(gw->pool, i, 0);
    gw->ec = gw_ec_for(gw, gw->red_k, gw->red_m);
    if (gw->ec == NULL) {
        log_error("cannot set up Reed-Solomon tables for %d+%d", gw->red_k, gw->red_m);
        return -1;
    }
    log_info("redundancy: each block is %d data + %d parity shards in %d different chats of %zu (survives %d lost)",
             gw->red_k, gw->red_m, gw->red_k + gw->red_m, gw->cfg.n_chat_ids, gw->red_m);
    return 0;
}

/* Chats the operator retired (tgs3 chat retire) take nothing new. */
static int retire_chats(struct gw *gw, struct store *st)
{
    int64_t *ids = NULL;
    size_t n = 0;
    enum store_status s = store_chats_retired(st, &ids, &n);
    if (s != STORE_OK) {
        log_error("cannot read the retired chats: %s", store_status_name(s));
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        int ci = gw_chat_index(gw, ids[i]);
        if (ci >= 0)
            gw_chat_retired(gw, (size_t)ci);
    }
    free(ids);
    return 0;
}

int gw_setup_posting(struct gw *gw)
{
    struct store *st = gw_storeq_store(gw->storeq);
    int64_t *counts = xcalloc(gw->cfg.n_chat_ids, sizeof(*counts));
    int rc = 0;
    for (size_t i = 0; i < gw->cfg.n_chat_ids && rc == 0; i++) {
        enum store_status s = store_block_count_chat(st, gw->cfg.chat_ids[i], &counts[i]);
        if (s != STORE_OK) {
            log_error("cannot count the blocks of chat %lld: %s", (long long)gw->cfg.chat_ids[i],
                      store_status_name(s));
            rc = -1;
        }
    }
    if (rc == 0)
        rc = gw_sched_start(gw, counts);
    free(counts);
    if (rc == 0)
        rc = start_redundancy(gw);
    if (rc == 0)
        rc = retire_chats(gw, st);
    return rc;
}

struct store *gw_setup_index(const struct gw *gw, const char *name)
{
    char path[4096];
    struct store *st = NULL;
    snprintf(path, sizeof(path), "%s/index.db", gw->cfg.data_dir);
    enum store_status ss = store_open(path, &st);
    if (ss != STORE_OK) {
        log_error("tgs3 %s: cannot open the index %s: %s", name, path, store_status_name(ss));
        return NULL;
    }
    store_set_gc_grace(st, gw->cfg.gc_grace_ms);
    return st;
}

void gw_setup_bots(struct gw *gw)
{
    gw->n_bots = gw->cfg.n_bot_tokens;
    gw->bots = xcalloc(gw->n_bots ? gw->n_bots : 1, sizeof(*gw->bots));
    for (size_t i = 0; i < gw->n_bots; i++) {
        gw->bots[i].token = gw->cfg.bot_tokens[i];
        gw->bots[i].id = strtoll(gw->cfg.bot_tokens[i], NULL, 10);
    }
}

int gw_setup_client(struct gw *gw, const char *name, long timeout_ms, int max_connections, int send_no_wait_429)
{
    struct tg_config tc = {
        .api_url = gw->cfg.botapi_url,
        .mode = gw->cfg.mode,
        .max_attempts = 5,
        .max_retry_wait = 60,
        .connect_timeout_ms = 10000,
        .timeout_ms = timeout_ms,
        .max_connections = max_connections,
        .send_no_wait_429 = send_no_wait_429,
    };
    gw->tg = tg_client_new(gw->loop, &tc);
    if (gw->tg == NULL) {
        log_error("tgs3 %s: cannot initialise the Bot API client", name);
        return -1;
    }
    return 0;
}

#define WAKE_MS 50

static void on_wake(uv_timer_t *t)
{
    (void)t; /* the turn of the loop ends: its caller looks at its condition again */
}

void gw_wake_start(struct gw *gw)
{
    uv_timer_init(gw->loop, &gw->wake);
    uv_timer_start(&gw->wake, on_wake, WAKE_MS, WAKE_MS);
}

void gw_wake_stop(struct gw *gw)
{
    uv_timer_stop(&gw->wake);
}

int gw_tool_open(struct gw *gw, uv_loop_t *loop, const char *name, long timeout_ms)
{
    struct store *st = gw_setup_index(gw, name);
    if (st == NULL)
        return -1;
    uv_loop_init(loop);
    gw->loop = loop;
    gw_wake_start(gw);
    gw->storeq = gw_storeq_new(gw, st);
    gw_setup_bots(gw);
    return gw_setup_client(gw, name, timeout_ms, 8, 0);
}

void gw_tool_close(struct gw *gw)
{
    gw_chats_free(gw); /* its calls cancelled while the client is there */
    tg_client_free(gw->tg);
    gw->tg = NULL;
    if (gw->storeq)
        gw_storeq_free(gw->storeq); /* closes the index */
    gw->storeq = NULL;
    if (gw->loop) {
        uv_walk(gw->loop, close_handle, NULL);
        uv_run(gw->loop, UV_RUN_DEFAULT);
        uv_loop_close(gw->loop);
    }
    gw_chats_free(gw); /* again: a store job gw_storeq_free finished may have looked at a chat (no calls) */
    free(gw->bots);
    gw->bots = NULL;
    gw_ec_free_all(gw); /* Reed–Solomon tables of the stripes read */
    gw_keys_free(gw);
}

int gw_tool_args(struct gw *gw, int argc, char **argv, const char *usage, const char *const *own, int *own_set)
{
    memset(gw, 0, sizeof(*gw));
    gw_config_init(&gw->cfg);
    char **args = xcalloc((size_t)argc + 1, sizeof(char *));
    int n_args = 0;
    for (int i = 0; i < argc; i++) {
        int mine = 0;
        for (size_t k = 0; own && own[k]; k++)
            if (!strcmp(argv[i], own[k])) {
                own_set[k] = 1;
                mine = 1;
            }
        if (mine)
            continue;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            printf("%s\n", usage);
            free(args);
            gw_config_release(&gw->cfg);
            return 0;
        }
        args[n_args++] = argv[i];
    }
    int prc = gw_config_parse(&gw->cfg, n_args, args);
    free(args);
    if (prc == 0)
        return -1;
    gw_config_release(&gw->cfg);
    return prc == 1 ? 0 : 2;
}
