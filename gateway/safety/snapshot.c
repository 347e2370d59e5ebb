/* snapshot.c — a new chain of the index in Telegram: a consistent copy posted in blocks, and its manifest.
 *
 * DESIGN (formats: chain.h). On the store thread, in one job: the journal's
 * changes so far are cut off (they close the old chain, journal.c) and the
 * index is copied (VACUUM INTO, between jobs, so no transaction is half in
 * it). The copy is read in --block-size pieces on libuv's pool, each sealed
 * under a random identity (BLK_KIND_SNAPSHOT) and posted like any block, as
 * a stripe of the configured layout (two at a time, through the scheduler).
 * Then the manifest naming them is posted as a mirror with one copy in
 * every live chat (k = 1), each copy pinned: any chat left holds it. Only
 * then is the chain recorded (store_chain_add for every document,
 * store_chain_begin), in one transaction that also queues every message of
 * the old chain for deletion. Whatever fails, the old chain stays the
 * newest in Telegram and what this one posted goes to the delete queue.
 *
 * `tgs3 snapshot` runs the same without the gateway (no journal: the chain
 * it begins is continued by the next serve).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/safety/chain.h"

#define SNAPSHOT_IN_FLIGHT 2 /* blocks of a snapshot being sealed or posted at once */

struct snap_block {
    struct snap_run *r;
    int64_t i;
    unsigned char *plain;
    size_t len;
    int err;
    uv_work_t work;
};

struct snap_run {
    struct gw *gw;
    uint64_t epoch;
    gw_chain_begun_cb cb;
    struct gw_snapshot_hooks hooks;
    void *ud;
    char path[4096];
    enum store_status st;
    char err[256];
    int64_t size;
    struct store_chain ch;
    int64_t n_blocks, next, in_flight, landed;
    int failed;
    struct chain_ref *refs;        /* per block, then the manifest at [n_blocks] */
    struct chain_post **posts;     /* the same */
};

static int run_busy; /* one snapshot at a time (serve and the tool both run one loop) */

static void snap_free(struct snap_run *r)
{
    for (int64_t i = 0; r->posts != NULL && i <= r->n_blocks; i++)
        chain_post_discard(r->posts[i]); /* NULL after a record */
    free(r->posts);
    free(r->refs);
    unlink(r->path);
    free(r);
    run_busy = 0;
}

static void snap_end(struct snap_run *r, int ok)
{
    struct gw *gw = r->gw;
    gw_chain_begun_cb cb = r->cb;
    void *ud = r->ud;
    struct store_chain ch = r->ch;
    uint64_t epoch = r->epoch;
    snap_free(r);
    if (cb)
        cb(gw, ok, &ch, epoch, ud);
}

/* ---- recording the chain (store thread) ---- */

static enum store_status add_doc(struct store *st, struct snap_run *r, int64_t at)
{
    struct store_chain_msg msgs[STORE_MAX_SHARDS];
    const struct chain_ref *ref = &r->refs[at];
    size_t len;
    int n_keys;
    unsigned char *blob = chain_ref_encode(ref, &len);
    for (int i = 0; i < ref->sp.n; i++) {
        msgs[i].chat_id = ref->sp.sh[i].chat_id;
        msgs[i].message_id = ref->sp.sh[i].message_id;
        msgs[i].bot_id = ref->sp.sh[i].bot_id;
    }
    struct store_chain_doc d = {
        .chain = r->ch.chain,
        .seq = ref->seq,
        .ref = blob,
        .ref_len = len,
        .msgs = msgs,
        .n_msgs = ref->sp.n,
        .keys = chain_post_keys(r->posts[at], &n_keys),
    };
    d.n_keys = n_keys;
    enum store_status ret = store_chain_add(st, &d, now_ms());
    free(blob);
    return ret;
}

static void record_run(struct store *st, void *arg)
{
    struct snap_run *r = arg;
    r->st = store_tx_begin(st);
    for (int64_t i = 0; r->st == STORE_OK && i <= r->n_blocks; i++)
        r->st = add_doc(st, r, i);
    if (r->st == STORE_OK)
        r->st = store_chain_begin(st, r->ch.chain, r->ch.chain_at, now_ms());
    if (r->st == STORE_OK)
        r->st = store_tx_commit(st);
    else
        store_tx_rollback(st);
}

static void record_done(void *arg)
{
    struct snap_run *r = arg;
    if (r->st != STORE_OK) {
        log_error("snapshot: posted but cannot record the chain: %s", store_status_name(r->st));
        snap_end(r, 0);
        return;
    }
    for (int64_t i = 0; i <= r->n_blocks; i++) { /* recorded: their journal rows are ended */
        chain_post_free(r->posts[i]);
        r->posts[i] = NULL;
    }
    r->ch.have = 1;
    log_info("snapshot: the index (%lld bytes) posted in %lld block(s), its manifest pinned in %d chat(s); a new "
             "chain begins",
             (long long)r->size, (long long)r->n_blocks, r->refs[r->n_blocks].sp.n);
    snap_end(r, 1);
}

/* ---- the manifest ---- */

static void on_manifest(struct gw *gw, int ok, const struct chain_ref *ref, struct chain_post *p, void *ud)
{
    struct snap_run *r = ud;
    if (!ok) {
        chain_post_free(p);
        log_error("snapshot: the manifest could not be posted and pinned");
        snap_end(r, 0);
        return;
    }
    r->posts[r->n_blocks] = p;
    r->refs[r->n_blocks] = *ref;
    gw_store_call(gw, record_run, record_done, r);
}

static void post_manifest(struct snap_run *r)
{
    struct gw *gw = r->gw;
    struct chain_manifest mf;
    memset(&mf, 0, sizeof(mf));
    memcpy(mf.chain, r->ch.chain, CHAIN_ID_LEN);
    mf.chain_at = r->ch.chain_at;
    mf.created_ms = now_ms();
    mf.index_size = (uint64_t)r->size;
    mf.n_blocks = (uint32_t)r->n_blocks;
    mf.blocks = r->refs;
    size_t len;
    unsigned char *plain = chain_manifest_encode(&mf, &len);
    int live = 0;
    for (size_t i = 0; i < gw->cfg.n_chat_ids; i++)
        live += gw_chat_state(gw, i) == GW_CHAT_OK;
    if (live < 1)
        live = 1;
    if (live > STORE_MAX_SHARDS)
        live = STORE_MAX_SHARDS;
    chain_post_start(gw, BLK_KIND_SNAPSHOT, 0, r->ch.chain, r->ch.chain_at, plain, len, 1, live - 1, 1, on_manifest,
                     r);
}

/* ---- the blocks ---- */

static void next_blocks(struct snap_run *r);

static void on_block(struct gw *gw, int ok, const struct chain_ref *ref, struct chain_post *p, void *ud)
{
    struct snap_block *b = ud;
    struct snap_run *r = b->r;
    (void)gw;
    r->in_flight--;
    if (ok) {
        r->posts[b->i] = p;
        r->refs[b->i] = *ref;
        r->landed++;
    } else {
        chain_post_free(p);
        r->failed = 1;
    }
    free(b);
    next_blocks(r);
}

static void read_work(uv_work_t *w)
{
    struct snap_block *b = w->data;
    int fd = open(b->r->path, O_RDONLY | O_CLOEXEC);
    b->plain = xmalloc(b->len ? b->len : 1);
    if (fd < 0 || pread_full(fd, b->plain, b->len, (off_t)(b->i * b->r->gw->cfg.block_size)) != (ssize_t)b->len)
        b->err = errno ? errno : EIO;
    if (fd >= 0)
        close(fd);
}

static void after_read(uv_work_t *w, int status)
{
    struct snap_block *b = w->data;
    struct snap_run *r = b->r;
    struct gw *gw = r->gw;
    if (status != 0 || b->err != 0 || gw->tg == NULL) {
        log_error("snapshot: cannot read block %lld of the copy: %s", (long long)b->i,
                  status != 0 ? "cancelled" : strerror(b->err));
        free(b->plain);
        r->in_flight--;
        r->failed = 1;
        free(b);
        next_blocks(r);
        return;
    }
    chain_post_start(gw, BLK_KIND_SNAPSHOT, -1 - b->i, r->ch.chain, r->ch.chain_at, b->plain, b->len, gw->red_k,
                     gw->red_m, 0, on_block, b);
}

static void next_blocks(struct snap_run *r)
{
    while (!r->failed && r->next < r->n_blocks && r->in_flight < SNAPSHOT_IN_FLIGHT) {
        struct snap_block *b = xcalloc(1, sizeof(*b));
        int64_t bs = r->gw->cfg.block_size;
        b->r = r;
        b->i = r->next++;
        b->len = (size_t)(r->size - b->i * bs < bs ? r->size - b->i * bs : bs);
        b->work.data = b;
        r->in_flight++;
        if (uv_queue_work(r->gw->loop, &b->work, read_work, after_read) != 0) {
            r->in_flight--;
            r->failed = 1;
            free(b);
        }
    }
    if (r->in_flight > 0)
        return;
    if (r->failed) {
        log_error("snapshot: %lld of %lld block(s) posted; the chain stays as it was", (long long)r->landed,
                  (long long)r->n_blocks);
        snap_end(r, 0);
        return;
    }
    if (r->landed == r->n_blocks)
        post_manifest(r);
}

/* ---- the copy (store thread) ---- */

static void copy_run(struct store *st, void *arg)
{
    struct snap_run *r = arg;
    struct stat sb;
    if (r->hooks.cut != NULL)
        r->hooks.cut(r->gw, st, r->epoch);
    unlink(r->path);
    r->st = store_snapshot_write(st, r->path);
    if (r->st != STORE_OK)
        snprintf(r->err, sizeof(r->err), "%s", store_errmsg(st));
    else if (stat(r->path, &sb) != 0 || sb.st_size <= 0)
        r->st = STORE_IO;
    else
        r->size = sb.st_size;
}

static void copy_done(void *arg)
{
    struct snap_run *r = arg;
    if (r->hooks.cut_done != NULL)
        r->hooks.cut_done(r->gw, r->size);
    if (r->st != STORE_OK) {
        log_error("snapshot: cannot copy the index: %s (%s)", store_status_name(r->st), r->err);
        snap_end(r, 0);
        return;
    }
    int64_t bs = r->gw->cfg.block_size;
    r->n_blocks = (r->size + bs - 1) / bs;
    if (r->n_blocks > CHAIN_MAX_BLOCKS) {
        log_error("snapshot: the index (%lld bytes) needs more than %d blocks of --block-size", (long long)r->size,
                  CHAIN_MAX_BLOCKS);
        snap_end(r, 0);
        return;
    }
    r->refs = xcalloc((size_t)r->n_blocks + 1, sizeof(*r->refs));
    r->posts = xcalloc((size_t)r->n_blocks + 1, sizeof(*r->posts));
    next_blocks(r);
}

int gw_snapshot_begin(struct gw *gw, uint64_t epoch, const struct gw_snapshot_hooks *hooks, gw_chain_begun_cb cb,
                      void *ud)
{
    if (run_busy || gw->keys == NULL || gw->n_bots == 0 || gw->cfg.n_chat_ids == 0)
        return -1;
    run_busy = 1;
    struct snap_run *r = xcalloc(1, sizeof(*r));
    r->gw = gw;
    r->epoch = epoch;
    if (hooks != NULL)
        r->hooks = *hooks;
    r->cb = cb;
    r->ud = ud;
    if (blk_random(r->ch.chain, sizeof(r->ch.chain)) != BLK_OK)
        abort();
    r->ch.chain_at = now_ms();
    snprintf(r->path, sizeof(r->path), "%s/tmp/snapshot-%d.db", gw->cfg.data_dir, (int)getpid());
    gw_store_call(gw, copy_run, copy_done, r);
    return 0;
}

/* ---- tgs3 snapshot ----------------------------------------------------------------- */

struct wait_snap {
    int done, ok;
    struct store_chain ch;
};

static void on_tool_snapshot(struct gw *gw, int ok, const struct store_chain *ch, uint64_t epoch, void *ud)
{
    struct wait_snap *w = ud;
    (void)gw;
    (void)epoch;
    w->done = 1;
    w->ok = ok;
    w->ch = *ch;
}

int gw_cmd_snapshot(int argc, char **argv)
{
    struct gw gw;
    uv_loop_t loop;
    int rc = 1;
    int prc = gw_tool_args(&gw, argc, argv,
                           "usage: tgs3 snapshot [serve options: --data-dir, --key-file, --botapi-url, "
                           "--bot-token, --chat-id, --mode, --redundancy, --block-size, --config …]\n\n"
                           "Begins a new chain of the index in Telegram: a consistent copy posted in blocks, its "
                           "manifest pinned in every chat (tgs3 recover finds it there).",
                           NULL, NULL);
    if (prc >= 0)
        return prc;
    if (gw.cfg.n_bot_tokens == 0 || gw.cfg.n_chat_ids == 0) {
        fprintf(stderr, "tgs3: give --bot-token and --chat-id as for tgs3 serve\n");
        gw_config_release(&gw.cfg);
        return 2;
    }
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s/tmp", gw.cfg.data_dir);
    mkdir(tmp, 0700);
    if (gw_keys_load(&gw, 0) != 0 || gw_tool_open(&gw, &loop, "snapshot", 600000) != 0 || gw_setup_posting(&gw) != 0)
        goto out;
    struct store_stats_extra stats;
    if (store_stats_extra(gw_storeq_store(gw.storeq), &stats) == STORE_OK && stats.unposted > 0)
        fprintf(stderr,
                "tgs3 snapshot: %lld pack(s) of small objects are only in DATA_DIR/spool (the gateway posts them "
                "when it runs); objects in them cannot be recovered from this snapshot\n",
                (long long)stats.unposted);
    struct wait_snap w = {0};
    if (gw_snapshot_begin(&gw, 0, NULL, on_tool_snapshot, &w) != 0)
        goto out;
    while (!w.done)
        uv_run(gw.loop, UV_RUN_ONCE);
    if (w.ok) {
        char hex[2 * CHAIN_ID_LEN + 1];
        hex_encode(w.ch.chain, CHAIN_ID_LEN, hex);
        printf("snapshot posted: chain %s, its manifest pinned\n", hex);
        rc = 0;
    } else {
        fprintf(stderr, "tgs3 snapshot: failed (see the log above)\n");
    }
out:
    gw_sched_stop(&gw);
    gw_chats_free(&gw);
    gw_tool_close(&gw);
    gw_config_release(&gw.cfg);
    fflush(stdout);
    return rc;
}
