/* snapshot.c — sealed index snapshots pinned in the storage chat; `tgs3 snapshot` and `tgs3 recover`.
 *
 * DESIGN. A snapshot is a consistent copy of the index (VACUUM INTO on the
 * store thread, between jobs, so no transaction is half in it), sealed on
 * libuv's pool with the snapshot subkey (kind BLK_KIND_SNAPSHOT, a random
 * identity in its header), posted as a document to the first storage chat
 * by the first bot and pinned. Only after the pin succeeded is it recorded
 * as the newest snapshot, which queues the previous one for deletion after
 * the grace period; a snapshot that could not be pinned is queued itself.
 * `tgs3 recover` needs only the Bot API flags, the chat and the key file:
 * getChat → pinned_message → its document → open → DATA_DIR/index.db.
 *
 * Packs of small objects are flushed (posted, recorded) before the copy, so
 * objects acknowledged from the local spool are recoverable from it too;
 * `tgs3 snapshot` runs without the gateway and says how many packs only the
 * spool holds.
 *
 * What a recovered index cannot know: objects written after the snapshot
 * (their blocks are strays nobody references), and deletions after it (the
 * objects come back; if GC already deleted their blocks, fsck reports them).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/blocks/blk.h"
#include "gateway/gw.h"

#define SNAPSHOT_MAX (4LL << 30) /* bytes: larger indexes are refused rather than held in memory */

struct gw_snap {
    uv_timer_t timer;
    int busy;
};

struct snap_run {
    struct gw *gw;
    gw_snapshot_cb cb;
    void *ud;
    char path[4096];
    enum store_status st;
    uv_work_t work;
    unsigned char *sealed;
    size_t sealed_len;
    size_t plain_len;
    unsigned char id[BLK_ID_LEN];
    char err[256];
    int64_t chat_id, message_id, bot_id;
};

static int run_busy; /* one snapshot at a time (serve and the tool both run one loop) */

static void snap_end(struct snap_run *r, int ok)
{
    struct gw *gw = r->gw;
    gw_snapshot_cb cb = r->cb;
    void *ud = r->ud;
    int64_t msg = r->message_id;
    free(r->sealed);
    free(r);
    run_busy = 0;
    if (cb)
        cb(gw, ok, msg, ud);
}

static void record_run(struct store *st, void *arg)
{
    struct snap_run *r = arg;
    r->st = store_snapshot_record(st, r->chat_id, r->message_id, r->bot_id, now_ms());
}

static void record_done(void *arg)
{
    struct snap_run *r = arg;
    if (r->st != STORE_OK) {
        log_error("snapshot: pinned as message %lld/%lld but cannot record it: %s", (long long)r->chat_id,
                  (long long)r->message_id, store_status_name(r->st));
        snap_end(r, 0);
        return;
    }
    log_info("snapshot: index (%zu bytes) sealed, posted and pinned as message %lld/%lld", r->plain_len,
             (long long)r->chat_id, (long long)r->message_id);
    snap_end(r, 1);
}

static void unpinned_run(struct store *st, void *arg)
{
    struct snap_run *r = arg;
    r->st = store_gc_enqueue_posted(st, r->chat_id, r->message_id, r->bot_id, now_ms(), now_ms());
}

static void unpinned_done(void *arg)
{
    snap_end(arg, 0);
}

static void on_pinned(void *ud, const struct tg_result *res)
{
    struct snap_run *r = ud;
    if (res->status != TG_OK) {
        log_error("snapshot: posted as message %lld/%lld but cannot pin it: %s (%s); the bot needs the right to "
                  "edit messages (pin) in the chat",
                  (long long)r->chat_id, (long long)r->message_id, tg_status_name(res->status), res->description);
        gw_store_call(r->gw, unpinned_run, unpinned_done, r);
        return;
    }
    gw_store_call(r->gw, record_run, record_done, r);
}

static void on_sent(void *ud, const struct tg_result *res, const struct tg_document *doc)
{
    struct snap_run *r = ud;
    free(r->sealed);
    r->sealed = NULL;
    if (res->status != TG_OK || doc == NULL) {
        log_error("snapshot: cannot post it: %s (%s)", tg_status_name(res->status), res->description);
        snap_end(r, 0);
        return;
    }
    r->chat_id = doc->chat_id;
    r->message_id = doc->message_id;
    tg_pin_message(r->gw->tg, r->gw->bots[0].token, r->chat_id, r->message_id, on_pinned, r);
}

/* libuv pool: read the copy, seal it, remove the plaintext copy. */
static void seal_work(uv_work_t *w)
{
    struct snap_run *r = w->data;
    unsigned char *plain = NULL;
    struct stat sb;
    int fd = open(r->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) != 0 || sb.st_size <= 0 || sb.st_size > SNAPSHOT_MAX) {
        snprintf(r->err, sizeof(r->err), "cannot read the index copy: %s", fd < 0 ? strerror(errno) : "bad size");
        goto out;
    }
    r->plain_len = (size_t)sb.st_size;
    plain = xmalloc(r->plain_len);
    for (size_t off = 0; off < r->plain_len;) {
        ssize_t n = read(fd, plain + off, r->plain_len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(r->err, sizeof(r->err), "cannot read the index copy");
            goto out;
        }
        off += (size_t)n;
    }
    r->sealed_len = r->plain_len + BLK_OVERHEAD;
    r->sealed = xmalloc(r->sealed_len);
    int kid;
    unsigned char nonce[BLK_NONCE_LEN];
    enum blk_status s = blk_random(r->id, sizeof(r->id));
    if (s == BLK_OK)
        s = blk_seal(r->gw->keys, BLK_KIND_SNAPSHOT, r->id, plain, r->plain_len, r->sealed, &kid, nonce);
    if (s != BLK_OK) {
        snprintf(r->err, sizeof(r->err), "cannot seal it: %s", blk_status_name(s));
        free(r->sealed);
        r->sealed = NULL;
    }
out:
    if (plain) {
        secure_zero(plain, r->plain_len);
        free(plain);
    }
    if (fd >= 0)
        close(fd);
    unlink(r->path);
}

static void after_seal(uv_work_t *w, int status)
{
    struct snap_run *r = w->data;
    struct gw *gw = r->gw;
    if (gw->tg == NULL) { /* shutting down: the client is gone */
        snap_end(r, 0);
        return;
    }
    if (status != 0 || r->sealed == NULL) {
        log_error("snapshot: %s", status != 0 ? "cancelled" : r->err);
        snap_end(r, 0);
        return;
    }
    char fname[64], caption[256], id[33];
    int64_t now = now_ms();
    hex_encode(r->id, sizeof(r->id), id);
    snprintf(fname, sizeof(fname), "tgs3-index-%lld.snap", (long long)now);
    snprintf(caption, sizeof(caption), "tgs3 v1 snapshot id=%s at=%lld plain=%zu", id, (long long)now, r->plain_len);
    r->bot_id = gw->bots[0].id;
    tg_send_document(gw->tg, gw->bots[0].token, gw->cfg.chat_ids[0], r->sealed, r->sealed_len, fname, caption,
                     on_sent, r);
}

static void copy_run(struct store *st, void *arg)
{
    struct snap_run *r = arg;
    unlink(r->path);
    r->st = store_snapshot_write(st, r->path);
    if (r->st != STORE_OK)
        snprintf(r->err, sizeof(r->err), "%s", store_errmsg(st));
}

static void copy_done(void *arg)
{
    struct snap_run *r = arg;
    if (r->st != STORE_OK) {
        log_error("snapshot: cannot copy the index: %s (%s)", store_status_name(r->st), r->err);
        unlink(r->path);
        snap_end(r, 0);
        return;
    }
    r->work.data = r;
    uv_queue_work(r->gw->loop, &r->work, seal_work, after_seal);
}

/* Small objects acknowledged from the spool are in the snapshot only once
 * their pack is in Telegram: the packs are flushed first. */
static void on_flushed(void *ud, size_t unposted)
{
    struct snap_run *r = ud;
    if (unposted > 0)
        log_warn("snapshot: %zu pack(s) of small objects could not be posted first; the objects in them cannot be "
                 "recovered from this snapshot (they are on this disk, and posted later)",
                 unposted);
    gw_store_call(r->gw, copy_run, copy_done, r);
}

int gw_snapshot_run(struct gw *gw, gw_snapshot_cb cb, void *ud)
{
    if (run_busy || gw->keys == NULL || gw->n_bots == 0 || gw->cfg.n_chat_ids == 0)
        return -1;
    run_busy = 1;
    struct snap_run *r = xcalloc(1, sizeof(*r));
    r->gw = gw;
    r->cb = cb;
    r->ud = ud;
    snprintf(r->path, sizeof(r->path), "%s/tmp/snapshot-%d.db", gw->cfg.data_dir, (int)getpid());
    gw_pack_flush(gw, gw->cfg.max_schedule_wait_ms + gw->cfg.pack_delay_ms, on_flushed, r);
    return 0;
}

/* ---- periodic ------------------------------------------------------------------ */

static void on_periodic_done(struct gw *gw, int ok, int64_t message_id, void *ud)
{
    (void)ok;
    (void)message_id;
    (void)ud;
    if (gw->snap != NULL) /* NULL once stopped (the timer's memory is gone then) */
        gw->snap->busy = 0;
}

static void on_tick(uv_timer_t *t)
{
    struct gw *gw = t->data;
    struct gw_snap *s = gw->snap;
    if (s->busy || gw->stopping)
        return;
    if (gw_snapshot_run(gw, on_periodic_done, s) == 0)
        s->busy = 1;
}

void gw_snapshot_start(struct gw *gw)
{
    if (gw->cfg.snapshot_interval_ms <= 0 || gw->snap != NULL)
        return;
    gw->snap = xcalloc(1, sizeof(*gw->snap));
    uv_timer_init(gw->loop, &gw->snap->timer);
    gw->snap->timer.data = gw;
    uint64_t every = (uint64_t)gw->cfg.snapshot_interval_ms;
    uv_timer_start(&gw->snap->timer, on_tick, every, every);
}

static void on_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

void gw_snapshot_stop(struct gw *gw)
{
    if (gw->snap == NULL)
        return;
    /* A run in flight keeps going until the loop stops; its state is its own. */
    uv_timer_stop(&gw->snap->timer);
    gw->snap->timer.data = gw->snap;
    uv_close((uv_handle_t *)&gw->snap->timer, on_timer_closed);
    gw->snap = NULL;
}

/* ---- tgs3 snapshot ----------------------------------------------------------------- */

/* The tool's arguments (gw_tool_args), then the bots and chats it needs: -1 to go on, else the exit status. */
static int parse_tool_args(struct gw *gw, int argc, char **argv, const char *usage, const char *const *own,
                           int *own_set)
{
    int prc = gw_tool_args(gw, argc, argv, usage, own, own_set);
    if (prc >= 0)
        return prc;
    if (gw->cfg.n_bot_tokens == 0 || gw->cfg.n_chat_ids == 0) {
        fprintf(stderr, "tgs3: give --bot-token and --chat-id as for tgs3 serve\n");
        gw_config_release(&gw->cfg);
        return 2;
    }
    return -1;
}

struct wait_snap {
    int done, ok;
    int64_t message_id;
};

static void on_tool_snapshot(struct gw *gw, int ok, int64_t message_id, void *ud)
{
    (void)gw;
    struct wait_snap *w = ud;
    w->done = 1;
    w->ok = ok;
    w->message_id = message_id;
}

int gw_cmd_snapshot(int argc, char **argv)
{
    struct gw gw;
    uv_loop_t loop;
    int rc = 1;
    int prc = parse_tool_args(&gw, argc, argv,
                              "usage: tgs3 snapshot [serve options: --data-dir, --key-file, --botapi-url, "
                              "--bot-token, --chat-id, --mode, --config …]\n\n"
                              "Writes a consistent copy of the index, seals it with the snapshot key, posts it "
                              "to the first chat and pins it (tgs3 recover finds it there).",
                              NULL, NULL);
    if (prc >= 0)
        return prc;
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s/tmp", gw.cfg.data_dir);
    mkdir(tmp, 0700);
    if (gw_keys_load(&gw, 0) != 0 || gw_tool_open(&gw, &loop, "snapshot", 600000) != 0)
        goto out;
    struct store_stats_extra stats;
    if (store_stats_extra(gw_storeq_store(gw.storeq), &stats) == STORE_OK && stats.unposted > 0)
        fprintf(stderr,
                "tgs3 snapshot: %lld pack(s) of small objects are only in DATA_DIR/spool (the gateway posts them "
                "when it runs); objects in them cannot be recovered from this snapshot\n",
                (long long)stats.unposted);
    struct wait_snap w = {0};
    if (gw_snapshot_run(&gw, on_tool_snapshot, &w) != 0)
        goto out;
    while (!w.done)
        uv_run(gw.loop, UV_RUN_ONCE);
    if (w.ok) {
        printf("snapshot pinned as message %lld in chat %lld\n", (long long)w.message_id,
               (long long)gw.cfg.chat_ids[0]);
        rc = 0;
    } else {
        fprintf(stderr, "tgs3 snapshot: failed (see the log above)\n");
    }
out:
    gw_tool_close(&gw);
    gw_config_release(&gw.cfg);
    fflush(stdout);
    return rc;
}

/* ---- tgs3 recover ------------------------------------------------------------------ */

struct recover {
    struct gw *gw;
    int done, ok;
    struct tg_document doc;
    unsigned char *data;
    size_t len;
};

static void on_fetched(void *ud, const struct tg_result *res, unsigned char *data, size_t len)
{
    struct recover *rc = ud;
    rc->done = 1;
    if (res->status != TG_OK) {
        fprintf(stderr, "tgs3 recover: cannot download the snapshot: %s (%s)\n", tg_status_name(res->status),
                res->description);
        bigbuf_free(data);
        return;
    }
    rc->data = data;
    rc->len = len;
    rc->ok = 1;
}

static void on_chat(void *ud, const struct tg_result *res, const struct tg_chat_info *chat)
{
    struct recover *rc = ud;
    if (res->status != TG_OK) {
        fprintf(stderr, "tgs3 recover: getChat failed: %s (%s)\n", tg_status_name(res->status), res->description);
        rc->done = 1;
        return;
    }
    if (!chat->has_pinned || strncmp(chat->pinned.caption, "tgs3 v1 snapshot ", 17) != 0) {
        fprintf(stderr, "tgs3 recover: chat %lld has no pinned tgs3 snapshot\n", (long long)chat->id);
        rc->done = 1;
        return;
    }
    rc->doc = chat->pinned;
    printf("pinned snapshot: message %lld, %lld bytes, caption \"%s\"\n", (long long)rc->doc.message_id,
           (long long)rc->doc.file_size, rc->doc.caption);
    tg_fetch_file(rc->gw->tg, rc->gw->bots[0].token, rc->doc.file_id, rc->doc.file_size,
                  (size_t)rc->doc.file_size, on_fetched, rc);
}

static int write_file(const char *path, const unsigned char *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    for (size_t off = 0; off < len;) {
        ssize_t n = write(fd, data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            close(fd);
            return -1;
        }
        off += (size_t)n;
    }
    int r = fsync(fd);
    close(fd);
    return r;
}

static void remove_scratch(const char *dir)
{
    static const char *const names[] = {"index.db", "index.db-wal", "index.db-shm"};
    char p[4200];
    if (dir[0] == '\0')
        return;
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

int gw_cmd_recover(int argc, char **argv)
{
    static const char *const own[] = {"--force", NULL};
    int own_set[1] = {0};
    struct gw gw;
    uv_loop_t loop;
    struct recover r = {0};
    int rc = 1;
    char path[4096], tmp[4096] = "";
    int prc = parse_tool_args(&gw, argc, argv,
                              "usage: tgs3 recover --data-dir DIR --key-file FILE [--force] [serve options: "
                              "--botapi-url, --bot-token, --chat-id, --mode …]\n\n"
                              "Rebuilds DIR/index.db from the snapshot pinned in the first chat (getChat). "
                              "Refuses to replace an existing index unless --force.",
                              own, own_set);
    if (prc >= 0)
        return prc;
    snprintf(path, sizeof(path), "%s/index.db", gw.cfg.data_dir);
    struct stat sb;
    if (stat(path, &sb) == 0 && !own_set[0]) {
        fprintf(stderr, "tgs3 recover: %s exists; move it away or give --force\n", path);
        gw_config_release(&gw.cfg);
        return 2;
    }
    if (gw_keys_load(&gw, 0) != 0) {
        fprintf(stderr, "tgs3 recover: the key file is needed (--key-file FILE)\n");
        goto out;
    }
    mkdir(gw.cfg.data_dir, 0700);
    if (gw_data_dir_lock(gw.cfg.data_dir, "recover") != 0)
        goto out;
    char scratch[4096];
    snprintf(scratch, sizeof(scratch), "%s/tmp", gw.cfg.data_dir);
    mkdir(scratch, 0700);
    /* The tool opens a scratch index for its store thread; the real one is written at the end. */
    snprintf(tmp, sizeof(tmp), "%s/tmp/recover-%d", gw.cfg.data_dir, (int)getpid());
    mkdir(tmp, 0700);
    char *real_dir = gw.cfg.data_dir;
    gw.cfg.data_dir = tmp;
    int opened = gw_tool_open(&gw, &loop, "recover", 600000);
    gw.cfg.data_dir = real_dir;
    if (opened != 0)
        goto out;
    r.gw = &gw;
    tg_get_chat(gw.tg, gw.bots[0].token, gw.cfg.chat_ids[0], on_chat, &r);
    while (!r.done)
        uv_run(gw.loop, UV_RUN_ONCE);
    if (!r.ok)
        goto out;
    int kind, kid;
    unsigned char id[BLK_ID_LEN];
    size_t plen = 0;
    enum blk_status bs = blk_peek(r.data, r.len, &kind, &kid, id);
    if (bs == BLK_OK)
        bs = blk_open(gw.keys, BLK_KIND_SNAPSHOT, id, 0, SIZE_MAX, r.data, r.len, &plen);
    if (bs != BLK_OK) {
        fprintf(stderr, "tgs3 recover: the pinned snapshot does not open with this key file: %s\n",
                blk_status_name(bs));
        goto out;
    }
    char part[4200];
    snprintf(part, sizeof(part), "%s.recover", path);
    if (write_file(part, r.data + BLK_HEADER_LEN, plen) != 0) {
        fprintf(stderr, "tgs3 recover: cannot write %s: %s\n", part, strerror(errno));
        goto out;
    }
    char side[4200];
    snprintf(side, sizeof(side), "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", path);
    unlink(side);
    if (rename(part, path) != 0) {
        fprintf(stderr, "tgs3 recover: cannot rename %s: %s\n", part, strerror(errno));
        goto out;
    }
    struct store *st = NULL;
    struct store_stats stats;
    if (store_open(path, &st) != STORE_OK || store_stats_get(st, &stats) != STORE_OK) {
        fprintf(stderr, "tgs3 recover: the recovered index does not open\n");
        store_close(st);
        goto out;
    }
    store_close(st);
    printf("recovered %s: %lld buckets, %lld objects, %lld bytes in %lld blocks\n", path, (long long)stats.buckets,
           (long long)stats.objects, (long long)stats.bytes, (long long)stats.blocks);
    if (gw.cfg.key_file != NULL)
        printf("start the gateway with --key-file %s\n", gw.cfg.key_file);
    rc = 0;
out:
    if (r.data) {
        secure_zero(r.data, r.len);
        bigbuf_free(r.data);
    }
    gw_tool_close(&gw);
    remove_scratch(tmp);
    gw_config_release(&gw.cfg);
    fflush(stdout);
    return rc;
}
