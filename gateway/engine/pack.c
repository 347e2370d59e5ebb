/* pack.c — small-object packing: many small objects become one Telegram document.
 *
 * A PUT body under --pack-threshold is appended to the open pack, a file in
 * DATA_DIR/spool named after the pack's block row, written and fdatasync'd
 * on libuv's pool; only then is the object committed (its one extent points
 * into the pack at the append's offset) and acknowledged. A pack is closed
 * when the next append would not fit in --block-size or --pack-delay ms after
 * its first append; a closed pack is read back, sealed (pool) and posted
 * through the scheduler like any block (as a stripe, with redundancy), and
 * its row gets where it lives.
 *
 * DESIGN
 *   The pack's block row exists from the moment the pack opens: chat_id 0
 *   and a negative message id mark it unposted, and the pack holds one
 *   reference of its own (so deleting every object in it cannot remove the
 *   row under later appends) until the row is filled in after the post.
 *   Reads of an unposted pack come from the spool file (cache.c), each of
 *   only the bytes its object holds (gw_fetch_start_range); the file
 *   is removed a minute after the post, when no read can still be using the
 *   old row. A restart finds the spool files left and posts them (resume),
 *   after the search for strays of the crash (strays.c): a post of the pack
 *   whose answer the crash swallowed is deleted, not adopted.
 *   Durability: an acknowledged small object is on local disk (fsync'd)
 *   and reaches Telegram up to --pack-delay plus the scheduler's wait later;
 *   --no-packing turns this off.
 *   Dead bytes: deleting a packed object lowers the pack's refcount; a
 *   posted pack that is mostly dead is compacted by compact.c, which
 *   appends its live objects here like any PUT.
 *   Threads: loop thread, except the append, read and seal jobs on the pool,
 *   which touch only their own job and the spool file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/engine/cache.h"
#include "gateway/engine/stripe.h"
#include "gateway/gw.h"

#define UNLINK_DELAY_MS 60000

struct append {
    struct gw_packer *pk;
    struct pack *pack;
    const void *data;
    size_t len;
    int64_t off;
    int err;
    gw_pack_cb cb;
    void *ud;
    uv_work_t work;
    struct append *next; /* waiting for an open pack */
};

struct pack {
    struct gw_packer *pk;
    struct store_block blk; /* the row; filled in as it is sealed and posted */
    char path[4352];
    size_t len;             /* bytes reserved by appends */
    int appending;          /* append jobs running */
    int closed;             /* takes no more appends */
    int resumed;            /* left unposted by the last run (held while the stray probe runs) */
    int recorded;           /* posted, and the row says where */
    int marked;             /* the row says a post was started (store_pack_posting) */
    int sealing;
    enum blk_status seal_st;
    int read_err;
    unsigned char *buf;     /* sealed document */
    size_t buf_len;
    uv_work_t work;
    struct gw_post_slot post;
    struct gw_stripe_send *ss; /* with redundancy: its shards (stripe_send.c), else NULL */
    enum store_status st;
    uv_timer_t timer;       /* retry, then the spool file's removal */
    int timer_on;
    struct pack *next;      /* pk->packs */
};

struct gw_packer {
    struct gw *gw;
    char *dir;
    struct pack *open;
    int opening;            /* a row insert runs */
    struct append *wait_head, *wait_tail;
    uv_timer_t delay;
    struct pack *packs;     /* closed packs not yet done */
    int stopping;
    uint64_t posted;
    /* gw_pack_flush: one at a time */
    gw_pack_flush_cb flush_cb;
    void *flush_ud;
    int64_t flush_upto;     /* packs with a row id up to this one are waited for */
    uv_timer_t flush_timer; /* its time limit */
};

static size_t flush_pending(const struct gw_packer *p);
static void flush_check(struct gw_packer *p);

static void pack_close(struct pack *pk);
static void open_pack(struct gw_packer *p);
static struct pack *pack_new(struct gw_packer *p);

static void on_timer_closed(uv_handle_t *h)
{
    free(h->data);
}

/* Frees a pack nothing else refers to (its timer first). */
static void pack_release(struct pack *pk) /* what a pack owns besides its timer */
{
    bigbuf_free(pk->buf);
    pk->buf = NULL;
    gw_stripe_send_release(pk->ss);
    free(pk->ss);
    pk->ss = NULL;
}

static void pack_discard(struct pack *pk)
{
    pack_release(pk);
    pk->timer.data = pk;
    uv_close((uv_handle_t *)&pk->timer, on_timer_closed);
}

int gw_pack_wants(const struct gw *gw, size_t len)
{
    return gw->packer != NULL && !gw->packer->stopping && !gw->cfg.no_packing && len > 0 &&
           (int64_t)len < gw->cfg.pack_threshold &&
           (int64_t)len <= gw->cfg.block_size;
}

int gw_pack_path(const struct gw *gw, int64_t block_id, char *out, size_t n)
{
    if (gw->cfg.data_dir == NULL)
        return -1;
    snprintf(out, n, "%s/spool/pack-%lld.dat", gw->cfg.data_dir, (long long)block_id);
    return 0;
}

/* ---- appends ------------------------------------------------------------------ */

static void append_work(uv_work_t *w)
{
    struct append *a = w->data;
    a->err = 0;
    int fd = open(a->pack->path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        a->err = errno;
        return;
    }
    if (pwrite_all(fd, a->data, a->len, (off_t)a->off) != 0)
        a->err = errno;
    if (a->err == 0 && fdatasync(fd) != 0)
        a->err = errno;
    if (close(fd) != 0 && a->err == 0)
        a->err = errno;
}

static void after_append(uv_work_t *w, int status)
{
    struct append *a = w->data;
    struct pack *pk = a->pack;
    pk->appending--;
    int ok = status == 0 && a->err == 0;
    if (!ok)
        log_error("pack %lld: cannot append %zu bytes to %s: %s", (long long)pk->blk.id, a->len, pk->path,
                  strerror(status != 0 ? ECANCELED : a->err));
    gw_pack_cb cb = a->cb;
    void *ud = a->ud;
    int64_t id = pk->blk.id, off = a->off;
    free(a);
    if (pk->closed && pk->appending == 0)
        pack_close(pk);
    cb(ud, ok, id, off);
}

/* Places a into the open pack (the caller checked it fits). */
static void place(struct pack *pk, struct append *a)
{
    struct gw *gw = pk->pk->gw;
    a->pack = pk;
    a->off = (int64_t)pk->len;
    pk->len += a->len;
    pk->appending++;
    a->work.data = a;
    if (uv_queue_work(gw->loop, &a->work, append_work, after_append) != 0) {
        a->err = EIO;
        pk->appending++;
        after_append(&a->work, 0);
    }
}

static void close_open(struct gw_packer *p)
{
    struct pack *pk = p->open;
    if (pk == NULL)
        return;
    p->open = NULL;
    uv_timer_stop(&p->delay);
    pk->closed = 1;
    if (pk->len == 0) {
        /* Nothing went in (an empty document cannot be posted); the row keeps
         * its own reference, an unposted row of no object. */
        pack_discard(pk);
        return;
    }
    pk->next = p->packs;
    p->packs = pk;
    if (pk->appending == 0)
        pack_close(pk);
}

static void on_delay(uv_timer_t *t)
{
    struct gw_packer *p = t->data;
    close_open(p);
}

/* Serves the waiting appends with the open pack, closing and opening packs as they fill. */
static void drain(struct gw_packer *p)
{
    int64_t bs = p->gw->cfg.block_size;
    while (p->wait_head != NULL) {
        struct append *a = p->wait_head;
        if (p->open != NULL && (int64_t)(p->open->len + a->len) > bs)
            close_open(p);
        if (p->open == NULL) {
            open_pack(p);
            return; /* resumed when the row is in */
        }
        p->wait_head = a->next;
        if (p->wait_head == NULL)
            p->wait_tail = NULL;
        a->next = NULL;
        int first = p->open->len == 0;
        place(p->open, a);
        if (first) /* --pack-delay counts from a pack's first append */
            uv_timer_start(&p->delay, on_delay, (uint64_t)p->gw->cfg.pack_delay_ms, 0);
    }
}

void gw_pack_append(struct gw *gw, const void *data, size_t len, gw_pack_cb cb, void *ud)
{
    struct gw_packer *p = gw->packer;
    struct append *a = xcalloc(1, sizeof(*a));
    a->pk = p;
    a->data = data;
    a->len = len;
    a->cb = cb;
    a->ud = ud;
    SQUEUE_APPEND(p->wait_head, p->wait_tail, a, next);
    drain(p);
}


/* ---- opening a pack: its row ------------------------------------------------------ */

struct open_job {
    struct gw_packer *p;
    struct pack *pk;
};

static void open_run(struct store *st, void *arg)
{
    struct open_job *j = arg;
    struct store_block *b = &j->pk->blk;
    int64_t r = 0;
    if (blk_random(&r, sizeof(r)) != BLK_OK || blk_random(b->uuid, sizeof(b->uuid)) != BLK_OK) {
        j->pk->st = STORE_IO;
        return;
    }
    b->chat_id = 0;
    b->message_id = -((r & INT64_MAX) | 1); /* unposted: unique, negative */
    b->created_ms = now_ms();
    j->pk->st = store_block_insert_held(st, b);
}

static void fail_waiting(struct gw_packer *p)
{
    while (p->wait_head != NULL) {
        struct append *a = p->wait_head;
        p->wait_head = a->next;
        if (p->wait_head == NULL)
            p->wait_tail = NULL;
        gw_pack_cb cb = a->cb;
        void *ud = a->ud;
        free(a);
        cb(ud, 0, 0, 0);
    }
}

static void open_done(void *arg)
{
    struct open_job *j = arg;
    struct gw_packer *p = j->p;
    struct pack *pk = j->pk;
    free(j);
    p->opening = 0;
    if (pk->st != STORE_OK || p->stopping) {
        if (pk->st != STORE_OK)
            log_error("pack: cannot record a new pack: %s", store_status_name(pk->st));
        pack_discard(pk);
        fail_waiting(p);
        return;
    }
    snprintf(pk->path, sizeof(pk->path), "%s/pack-%lld.dat", p->dir, (long long)pk->blk.id);
    p->open = pk;
    drain(p);
}

static void open_pack(struct gw_packer *p)
{
    if (p->opening)
        return;
    p->opening = 1;
    struct open_job *j = xcalloc(1, sizeof(*j));
    j->p = p;
    j->pk = pack_new(p);
    gw_store_call(p->gw, open_run, open_done, j);
}

/* ---- sealing and posting a closed pack ----------------------------------------------- */

static void pack_done(struct pack *pk);
static void post_pack(struct pack *pk);

static void seal_work(uv_work_t *w)
{
    struct pack *pk = w->data;
    struct gw *gw = pk->pk->gw;
    struct store_block *b = &pk->blk;
    size_t n = pk->len;
    /* Read where the plaintext of a sealed document sits, and sealed in place. */
    int seal = gw->keys != NULL && !gw->cfg.no_encryption;
    unsigned char *buf = bigbuf_new(gw_stripe_capacity(gw, n + (seal ? BLK_OVERHEAD : 0)));
    unsigned char *plain = buf + (seal ? BLK_HEADER_LEN : 0);
    pk->read_err = 0;
    pk->seal_st = BLK_OK;
    int fd = open(pk->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        pk->read_err = errno;
    } else {
        ssize_t got = pread_full(fd, plain, n, 0);
        if (got < 0)
            pk->read_err = errno;
        else if ((size_t)got < n) /* appends that never completed: zeros, referenced by nothing */
            memset(plain + got, 0, n - (size_t)got);
        close(fd);
    }
    if (pk->read_err != 0) {
        bigbuf_free(buf);
        return;
    }
    b->plain_size = (int64_t)n;
    memset(b->hash, 0, sizeof(b->hash));
    if (gw->keys != NULL)
        pk->seal_st = blk_hash(gw->keys, plain, n, b->hash);
    pk->buf = buf;
    pk->buf_len = n + (seal ? BLK_OVERHEAD : 0);
    b->key_id = 0;
    if (pk->seal_st == BLK_OK && seal)
        pk->seal_st = blk_seal(gw->keys, BLK_KIND_DATA, b->uuid, plain, n, buf, &b->key_id, b->nonce);
    if (pk->seal_st == BLK_OK && pk->ss != NULL) /* fresh shard identities at every attempt */
        pk->seal_st = gw_stripe_encode(pk->ss, gw->keys, b->uuid, buf, pk->buf_len);
}

static void on_retry(uv_timer_t *t)
{
    struct pack *pk = t->data;
    pk->timer_on = 0;
    pack_close(pk);
}

static void retry_later(struct pack *pk)
{
    bigbuf_free(pk->buf);
    pk->buf = NULL;
    if (pk->pk->stopping)
        return; /* a restart resumes it */
    uv_timer_start(&pk->timer, on_retry, 5000, 0);
    pk->timer_on = 1;
}

static void after_seal(uv_work_t *w, int status)
{
    struct pack *pk = w->data;
    pk->sealing = 0;
    if (status != 0 || pk->read_err != 0 || pk->seal_st != BLK_OK) {
        log_error("pack %lld: cannot seal %s: %s", (long long)pk->blk.id, pk->path,
                  status != 0 ? "cancelled"
                  : pk->read_err ? strerror(pk->read_err)
                                 : blk_status_name(pk->seal_st));
        retry_later(pk);
        return;
    }
    post_pack(pk);
}

/* Closed and every append in: seal it on the pool. */
static void pack_close(struct pack *pk)
{
    if (pk->sealing || pk->buf != NULL || pk->pk->stopping)
        return;
    pk->sealing = 1;
    if (gw_stripe_wanted(pk->pk->gw) && pk->ss == NULL) {
        struct gw *gw = pk->pk->gw;
        pk->ss = xcalloc(1, sizeof(*pk->ss));
        pk->ss->gw = gw;
        pk->ss->k = gw->red_k;
        pk->ss->m = gw->red_m;
        pk->ss->ec = gw->ec;
        snprintf(pk->ss->name, sizeof(pk->ss->name), "pack=%lld", (long long)pk->blk.id);
    }
    pk->work.data = pk;
    if (uv_queue_work(pk->pk->gw->loop, &pk->work, seal_work, after_seal) != 0) {
        pk->sealing = 0;
        retry_later(pk);
    }
}

struct posted_job {
    struct pack *pk;
    enum store_status st;
};

static void posted_run(struct store *st, void *arg)
{
    struct posted_job *j = arg;
    struct store_block *b = &j->pk->blk;
    j->st = store_block_set_posted(st, b); /* and drops the pack's own hold */
    if (j->st != STORE_OK) {
        /* Gone meanwhile (or unrecordable): the document has no owner. */
        enum store_status s = store_gc_enqueue_posted(st, b->chat_id, b->message_id, b->bot_id, b->created_ms,
                                                      now_ms());
        if (s != STORE_OK)
            log_error("pack %lld: cannot queue message %lld/%lld for deletion: %s", (long long)b->id,
                      (long long)b->chat_id, (long long)b->message_id, store_status_name(s));
    }
}

static void on_unlink_due(uv_timer_t *t)
{
    struct pack *pk = t->data;
    pk->timer_on = 0;
    pack_done(pk);
}

static void on_spool_unlinked(uv_fs_t *req)
{
    uv_fs_req_cleanup(req);
    free(req);
}

static void posted_done(void *arg)
{
    struct posted_job *j = arg;
    struct pack *pk = j->pk;
    enum store_status st = j->st;
    free(j);
    if (st != STORE_OK) {
        log_error("pack %lld: posted as %lld/%lld but not recorded: %s", (long long)pk->blk.id,
                  (long long)pk->blk.chat_id, (long long)pk->blk.message_id, store_status_name(st));
    } else {
        pk->pk->posted++;
        pk->recorded = 1;
        log_debug("pack %lld: %zu bytes posted as %lld/%lld", (long long)pk->blk.id, pk->len,
                  (long long)pk->blk.chat_id, (long long)pk->blk.message_id);
        /* Later reads find it posted: the sealed document goes straight into the cache. */
        if (gw_cache_put(pk->pk->gw, &pk->blk, pk->buf, pk->buf_len))
            pk->buf = NULL;
    }
    bigbuf_free(pk->buf);
    pk->buf = NULL;
    flush_check(pk->pk);
    if (pk->pk->stopping) {
        pack_done(pk);
        return;
    }
    uv_timer_start(&pk->timer, on_unlink_due, UNLINK_DELAY_MS, 0);
    pk->timer_on = 1;
}

static void on_pack_sent(void *ud, const struct tg_result *res, const struct tg_document *doc)
{
    struct pack *pk = ud;
    struct gw *gw = pk->pk->gw;
    if (gw_sched_done(gw, &pk->post, res, pk->pk->stopping))
        return; /* placed on another pair */
    if (res->status != TG_OK || doc == NULL || (size_t)doc->file_size != pk->buf_len) {
        log_warn("pack %lld: not stored: %s (%s); retrying", (long long)pk->blk.id, tg_status_name(res->status),
                 res->description);
        retry_later(pk);
        return;
    }
    struct store_block *b = &pk->blk;
    b->chat_id = doc->chat_id;
    b->message_id = doc->message_id;
    snprintf(b->file_id, sizeof(b->file_id), "%s", doc->file_id);
    snprintf(b->file_unique_id, sizeof(b->file_unique_id), "%s", doc->file_unique_id);
    b->stored_size = doc->file_size;
    b->created_ms = now_ms();
    struct posted_job *j = xcalloc(1, sizeof(*j));
    j->pk = pk;
    gw_store_call(gw, posted_run, posted_done, j);
}

static void send_pack(struct pack *pk, size_t bot, size_t chat)
{
    struct gw *gw = pk->pk->gw;
    char fname[64], caption[160], id[33];
    pk->blk.bot_id = gw->bots[bot].id;
    hex_encode(pk->blk.uuid, sizeof(pk->blk.uuid), id);
    snprintf(fname, sizeof(fname), "tgs3-pack-%lld.bin", (long long)pk->blk.id);
    snprintf(caption, sizeof(caption), "tgs3 v1 pack=%lld len=%zu id=%s", (long long)pk->blk.id, pk->len, id);
    gw_post_document(gw, bot, chat, pk->buf, pk->buf_len, fname, caption, on_pack_sent, pk);
}

/* Before its first post a pack's row is marked as being posted: a crash
 * after that may leave a copy in Telegram, which the next start's stray
 * probe looks for (and resumes the pack only after it); a pack never posted
 * is resumed at once. */
struct posting_job {
    struct pack *pk;
    size_t bot, chat;
    enum store_status st;
};

static void posting_run(struct store *st, void *arg)
{
    struct posting_job *j = arg;
    j->st = store_pack_posting(st, j->pk->blk.id);
}

static void posting_done(void *arg)
{
    struct posting_job *j = arg;
    struct pack *pk = j->pk;
    size_t bot = j->bot, chat = j->chat;
    enum store_status st = j->st;
    free(j);
    if (pk->pk->stopping)
        return; /* not posted: the next start resumes it */
    if (st != STORE_OK)
        log_warn("pack %lld: cannot mark it as being posted: %s (a crash now could leave a copy the next start "
                 "does not look for)",
                 (long long)pk->blk.id, store_status_name(st));
    pk->marked = 1;
    send_pack(pk, bot, chat);
}

static void on_pair(struct gw_post_slot *s, size_t bot, size_t chat)
{
    struct pack *pk = (struct pack *)(void *)((char *)s - offsetof(struct pack, post));
    if (pk->marked) {
        send_pack(pk, bot, chat);
        return;
    }
    struct posting_job *j = xcalloc(1, sizeof(*j));
    j->pk = pk;
    j->bot = bot;
    j->chat = chat;
    gw_store_call(pk->pk->gw, posting_run, posting_done, j);
}

static void on_expired(struct gw_post_slot *s)
{
    struct pack *pk = (struct pack *)(void *)((char *)s - offsetof(struct pack, post));
    log_warn("pack %lld: no (bot, chat) pair free in time; retrying", (long long)pk->blk.id);
    retry_later(pk);
}

/* ---- with redundancy: the pack as a stripe, journaled as a put's block is. With K shards
 * landed the row learns its stripe in one transaction; with fewer, what landed is deleted
 * and the pack posted again later, under new shard identities. ---------------------- */

struct stripe_job {
    struct pack *pk;
    struct store_stripe sp;
    enum store_status st;
};

static void stripe_journal_run(struct store *st, void *arg)
{
    struct stripe_job *j = arg;
    struct gw_stripe_send *ss = j->pk->ss;
    j->st = store_pack_posting(st, j->pk->blk.id);
    for (int i = 0; j->st == STORE_OK && i < ss->k + ss->m; i++)
        j->st = store_inflight_begin(st, ss->keys[i], ss->name, 0, 0, now_ms());
}

static void on_stripe_sent(struct gw_stripe_send *ss);

static void stripe_journal_done(void *arg)
{
    struct stripe_job *j = arg;
    struct pack *pk = j->pk;
    enum store_status st = j->st;
    free(j);
    if (st != STORE_OK && !pk->pk->stopping) {
        log_error("pack %lld: cannot journal its shards: %s", (long long)pk->blk.id, store_status_name(st));
        retry_later(pk);
    }
    if (st != STORE_OK || pk->pk->stopping)
        return; /* stopping: the start-up sweep ends the rows; the next start resumes it */
    pk->marked = 1;
    pk->ss->done = on_stripe_sent;
    pk->ss->ud = pk;
    gw_stripe_send_start(pk->ss);
}

/* Store thread: the stripe recorded (or, when fewer than K landed, what landed queued for deletion). */
static void stripe_end_run(struct store *st, void *arg)
{
    struct stripe_job *j = arg;
    struct pack *pk = j->pk;
    struct gw_stripe_send *ss = pk->ss;
    struct store_block *b = &pk->blk;
    unsigned char have[STORE_MAX_SHARDS] = {0};
    j->st = STORE_OK;
    if (gw_stripe_stored(ss) && store_tx_begin(st) == STORE_OK) {
        j->st = store_block_set_posted(st, b); /* and drops the pack's own hold */
        if (j->st == STORE_OK)
            j->st = store_stripe_insert(st, b->id, &j->sp);
        for (int i = 0; i < j->sp.n; i++)
            have[j->sp.sh[i].idx] = 1;
        for (int i = 0; j->st == STORE_OK && i < ss->k + ss->m; i++) {
            j->st = store_inflight_end(st, ss->keys[i], 1, now_ms());
            if (j->st == STORE_OK && !have[i])
                j->st = store_repair_add(st, b->id, i, "stored degraded", now_ms());
        }
        if (j->st == STORE_OK && (j->st = store_tx_commit(st)) == STORE_OK)
            return;
        store_tx_rollback(st);
    }
    /* Not stored (or gone meanwhile): every shard that landed is queued for deletion. */
    for (int i = 0; i < ss->k + ss->m; i++)
        if (store_inflight_end(st, ss->keys[i], 0, now_ms()) != STORE_OK)
            log_error("pack %lld: cannot queue a shard for deletion (the start-up sweep retries)", (long long)b->id);
    if (j->st == STORE_OK)
        j->st = STORE_CONFLICT; /* fewer than K shards */
}

static void stripe_end_done(void *arg)
{
    struct stripe_job *j = arg;
    struct pack *pk = j->pk;
    enum store_status st = j->st;
    free(j);
    gw_stripe_send_release(pk->ss);
    if (st != STORE_OK) {
        log_warn("pack %lld: not stored (%d of %d shards, %s); retrying", (long long)pk->blk.id, pk->ss->n_posted,
                 pk->ss->k + pk->ss->m, store_status_name(st));
        retry_later(pk);
        return;
    }
    struct posted_job *pj = xcalloc(1, sizeof(*pj)); /* recorded: on as after a single post */
    pj->pk = pk;
    posted_done(pj);
}

static void on_stripe_sent(struct gw_stripe_send *ss)
{
    struct stripe_job *j = xcalloc(1, sizeof(*j));
    j->pk = ss->ud;
    if (gw_stripe_stored(ss))
        gw_stripe_result(ss, &j->pk->blk, &j->sp);
    gw_store_call(j->pk->pk->gw, stripe_end_run, stripe_end_done, j);
}

static void post_pack(struct pack *pk)
{
    if (pk->pk->stopping)
        return; /* a restart resumes it */
    if (pk->ss != NULL) {
        struct stripe_job *j = xcalloc(1, sizeof(*j));
        j->pk = pk;
        gw_store_call(pk->pk->gw, stripe_journal_run, stripe_journal_done, j);
        return;
    }
    memset(&pk->post, 0, sizeof(pk->post));
    pk->post.go = on_pair;
    pk->post.expired = on_expired;
    gw_sched_enqueue(pk->pk->gw, &pk->post);
}

/* The pack is finished with (or the gateway stops): forget it, remove its spool file once posted. */
static void pack_done(struct pack *pk)
{
    struct gw_packer *p = pk->pk;
    struct pack **pp = &p->packs;
    while (*pp && *pp != pk)
        pp = &(*pp)->next;
    if (*pp)
        *pp = pk->next;
    if (pk->blk.chat_id != 0) {
        uv_fs_t *req = xmalloc(sizeof(*req));
        if (uv_fs_unlink(p->gw->loop, req, pk->path, on_spool_unlinked) != 0)
            free(req);
    }
    pack_discard(pk);
}

/* ---- start, resume, stop ------------------------------------------------------------ */

static struct pack *pack_new(struct gw_packer *p)
{
    struct pack *pk = xcalloc(1, sizeof(*pk));
    pk->pk = p;
    uv_timer_init(p->gw->loop, &pk->timer);
    pk->timer.data = pk;
    return pk;
}

int gw_pack_start(struct gw *gw)
{
    /* Even with --no-packing: packs left by an earlier run are still posted. */
    struct gw_packer *p = xcalloc(1, sizeof(*p));
    char path[4352];
    p->gw = gw;
    snprintf(path, sizeof(path), "%s/spool", gw->cfg.data_dir);
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        log_error("cannot create the spool directory %s: %s", path, strerror(errno));
        free(p);
        return -1;
    }
    p->dir = xstrdup(path);
    uv_timer_init(gw->loop, &p->delay);
    p->delay.data = p;
    uv_timer_init(gw->loop, &p->flush_timer);
    p->flush_timer.data = p;
    gw->packer = p;

    /* Resume: spool files of packs not posted before the last stop (start-up,
     * before the loop serves anything; the store thread answers directly). */
    DIR *d = opendir(p->dir);
    struct dirent *de;
    struct store *st = gw_storeq_store(gw->storeq);
    size_t resumed = 0;
    while (d != NULL && (de = readdir(d)) != NULL) {
        long long id;
        char tail[8];
        if (sscanf(de->d_name, "pack-%lld.%7s", &id, tail) != 2 || strcmp(tail, "dat") != 0)
            continue;
        char fpath[4096];
        struct stat sb;
        snprintf(fpath, sizeof(fpath), "%s/%s", p->dir, de->d_name);
        struct store_block b;
        memset(&b, 0, sizeof(b));
        if (store_block_get(st, id, &b) != STORE_OK || b.chat_id != 0 || stat(fpath, &sb) != 0 || sb.st_size == 0) {
            unlink(fpath); /* posted already, or nothing in it is referenced */
            continue;
        }
        struct pack *pk = pack_new(p);
        pk->blk = b;
        pk->len = (size_t)sb.st_size;
        pk->closed = 1;
        pk->marked = strcmp(b.file_id, STORE_PACK_POSTING) == 0;
        pk->resumed = pk->marked; /* a post may have landed: held for the stray probe */
        snprintf(pk->path, sizeof(pk->path), "%s", fpath);
        pk->next = p->packs;
        p->packs = pk;
        if (gw->strays == NULL || !pk->resumed)
            pack_close(pk);
        resumed++;
    }
    if (d != NULL)
        closedir(d);
    if (resumed > 0)
        log_info("pack: resuming %zu unposted pack(s) from %s%s", resumed, p->dir,
                 gw->strays != NULL ? " once the search for strays of the last run is done" : "");
    return 0;
}

/* ---- flushing (snapshots) -------------------------------------------------------------- */

/* Packs of the flush (row id up to flush_upto) whose post is not recorded yet. */
static size_t flush_pending(const struct gw_packer *p)
{
    size_t n = 0;
    if (p->open != NULL && p->open->len > 0 && p->open->blk.id <= p->flush_upto)
        n++;
    for (const struct pack *pk = p->packs; pk != NULL; pk = pk->next)
        if (pk->blk.id <= p->flush_upto && !pk->recorded && pk->len > 0)
            n++;
    return n;
}

static void flush_end(struct gw_packer *p, int timed_out)
{
    gw_pack_flush_cb cb = p->flush_cb;
    void *ud = p->flush_ud;
    if (cb == NULL)
        return;
    size_t left = timed_out || p->stopping ? flush_pending(p) : 0;
    p->flush_cb = NULL;
    p->flush_ud = NULL;
    uv_timer_stop(&p->flush_timer);
    cb(ud, left);
}

static void flush_check(struct gw_packer *p)
{
    if (p->flush_cb != NULL && flush_pending(p) == 0)
        flush_end(p, 0);
}

static void on_flush_timeout(uv_timer_t *t)
{
    flush_end(t->data, 1);
}

void gw_pack_flush(struct gw *gw, int64_t timeout_ms, gw_pack_flush_cb cb, void *ud)
{
    struct gw_packer *p = gw->packer;
    if (p == NULL) {
        cb(ud, 0);
        return;
    }
    ASSERT(p->flush_cb == NULL);
    if (p->stopping) {
        p->flush_upto = INT64_MAX;
        cb(ud, flush_pending(p));
        return;
    }
    int64_t upto = 0;
    if (p->open != NULL)
        upto = p->open->blk.id;
    for (struct pack *pk = p->packs; pk != NULL; pk = pk->next)
        if (pk->blk.id > upto)
            upto = pk->blk.id;
    p->flush_cb = cb;
    p->flush_ud = ud;
    p->flush_upto = upto;
    if (p->open != NULL && p->open->len > 0)
        close_open(p); /* posted now, not --pack-delay later */
    if (flush_pending(p) == 0) {
        flush_end(p, 0);
        return;
    }
    uv_timer_start(&p->flush_timer, on_flush_timeout, (uint64_t)(timeout_ms > 0 ? timeout_ms : 1), 0);
}

void gw_pack_release_resumed(struct gw *gw)
{
    struct gw_packer *p = gw->packer;
    if (p == NULL || p->stopping)
        return;
    for (struct pack *pk = p->packs; pk != NULL; pk = pk->next)
        if (pk->resumed && !pk->sealing && pk->buf == NULL && !pk->timer_on && !pk->post.queued &&
            pk->blk.chat_id == 0)
            pack_close(pk);
}

void gw_pack_stop(struct gw *gw)
{
    struct gw_packer *p = gw->packer;
    if (p == NULL)
        return;
    p->stopping = 1;
    uv_timer_stop(&p->delay);
    /* Unposted packs stay in the spool and a restart posts them; jobs still
     * running finish against the structures, freed by gw_pack_free. */
    if (p->open != NULL) {
        p->open->closed = 1;
        p->open->next = p->packs;
        p->packs = p->open;
        p->open = NULL;
    }
    for (struct pack *pk = p->packs; pk != NULL; pk = pk->next) {
        if (pk->post.queued)
            gw_sched_cancel(gw, &pk->post);
        uv_timer_stop(&pk->timer);
        pk->timer_on = 0;
    }
    uv_close((uv_handle_t *)&p->delay, NULL);
    flush_end(p, 0);
    uv_close((uv_handle_t *)&p->flush_timer, NULL);
}

void gw_pack_free(struct gw *gw)
{
    struct gw_packer *p = gw->packer;
    if (p == NULL)
        return;
    while (p->packs != NULL) {
        struct pack *pk = p->packs;
        p->packs = pk->next;
        pack_release(pk);
        free(pk);
    }
    free(p->dir);
    free(p);
    gw->packer = NULL;
}
