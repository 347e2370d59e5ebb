/* keys.c — the master key file, the journal sweep at start-up, and the set-up shared by the safety tools.
 *
 * The key file (--key-file, default DATA_DIR/master.key) is created on the
 * first start with 32 random bytes, mode 0600, and never leaves the
 * machine: it is not uploaded, not in snapshots, never logged. Losing it
 * loses every sealed block and every snapshot.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gateway/blocks/blk.h"
#include "gateway/gw.h"

static void key_path(const struct gw *gw, char *out, size_t n)
{
    if (gw->cfg.key_file != NULL)
        snprintf(out, n, "%s", gw->cfg.key_file);
    else
        snprintf(out, n, "%s/master.key", gw->cfg.data_dir);
}

int gw_keys_load(struct gw *gw, int create)
{
    char path[4096], err[512];
    int created = 0, loose = 0;
    key_path(gw, path, sizeof(path));
    enum blk_status s = blk_keyring_load(path, create, &gw->keys, &created, &loose, err, sizeof(err));
    if (s != BLK_OK) {
        log_error("master key: %s", err);
        return -1;
    }
    if (created)
        log_warn("created a new master key in %s: back it up now; losing it loses every object stored with it",
                 path);
    if (loose)
        log_warn("master key %s is readable by other users; chmod 600 it", path);
    log_info("master key %s loaded (key id %d for new blocks)%s", path, blk_keyring_current(gw->keys),
             gw->cfg.no_encryption ? "; --no-encryption: blocks are posted UNSEALED" : "");
    return 0;
}

void gw_keys_free(struct gw *gw)
{
    blk_keyring_free(gw->keys);
    gw->keys = NULL;
}

void gw_journal_sweep(struct store *st, struct store_inflight **unconfirmed, size_t *n)
{
    size_t swept = 0;
    *unconfirmed = NULL;
    *n = 0;
    enum store_status s = store_inflight_sweep(st, now_ms(), unconfirmed, n, &swept);
    if (s != STORE_OK) {
        log_error("journal sweep: %s (%s)", store_status_name(s), store_errmsg(st));
        return;
    }
    if (swept > 0 || *n > 0)
        log_warn("journal: %zu blocks were left in flight by the last run: %zu posted ones queued for deletion "
                 "or holds released; %zu posts were never answered (the stray probe looks for them)",
                 swept + *n, swept, *n);
}

static void close_handle(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int gw_data_dir_lock(const char *dir, const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/tgs3.lock", dir);
    if (lock_file(path) >= 0)
        return 0; /* its descriptor stays open: the lock goes with the process */
    if (errno == EWOULDBLOCK)
        log_error("tgs3 %s: the data dir %s is in use by another tgs3 (serve, recover or fsck --repair); stop it first",
                  name, dir);
    else
        log_error("tgs3 %s: cannot lock %s: %s", name, path, strerror(errno));
    return -1;
}

int gw_tool_open(struct gw *gw, uv_loop_t *loop, const char *name)
{
    char path[4096];
    struct store *st = NULL;
    snprintf(path, sizeof(path), "%s/index.db", gw->cfg.data_dir);
    enum store_status ss = store_open(path, &st);
    if (ss != STORE_OK) {
        fprintf(stderr, "tgs3 %s: cannot open the index %s: %s\n", name, path, store_status_name(ss));
        return -1;
    }
    store_set_gc_grace(st, gw->cfg.gc_grace_ms);
    uv_loop_init(loop);
    gw->loop = loop;
    gw->storeq = gw_storeq_new(gw, st);
    gw->n_bots = gw->cfg.n_bot_tokens;
    gw->bots = xcalloc(gw->n_bots ? gw->n_bots : 1, sizeof(*gw->bots));
    for (size_t i = 0; i < gw->n_bots; i++) {
        gw->bots[i].token = gw->cfg.bot_tokens[i];
        gw->bots[i].id = strtoll(gw->cfg.bot_tokens[i], NULL, 10);
    }
    struct tg_config tc = {
        .api_url = gw->cfg.botapi_url,
        .mode = gw->cfg.mode,
        .max_attempts = 5,
        .max_retry_wait = 60,
        .connect_timeout_ms = 10000,
        .timeout_ms = 600000,
        .max_connections = 8,
    };
    gw->tg = tg_client_new(gw->loop, &tc);
    if (gw->tg == NULL) {
        fprintf(stderr, "tgs3 %s: cannot initialise the Bot API client\n", name);
        return -1;
    }
    return 0;
}

void gw_tool_close(struct gw *gw)
{
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
    free(gw->bots);
    gw->bots = NULL;
    gw_keys_free(gw);
}
