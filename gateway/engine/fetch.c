/* fetch.c — the read half of the block pipeline: Telegram documents into verified blocks for GETs.
 *
 * DESIGN
 * GET: a fetch holds one slot of the read budget (--max-fetch-blocks block
 * buffers in memory, fetching or fetched) from start until gw_fetch_free.
 * Every fetched block is authenticated on the pool (blk_open, in place; or
 * its keyed hash for unsealed blocks) before gw_fetch_data exposes a byte;
 * a block that fails is logged with its identity and never served.
 * Readers wait in their own FIFO; read-ahead asks opportunistically and
 * never waits, so it cannot starve a request's first block.
 *
 * Memory: at most max_fetch_blocks × block_size of fetched blocks, in
 * bigbufs (common.h), recycled: at most --max-upload-blocks of them idle
 * (the upload slots' buffers, prepared at start); whenever no read slot is
 * held, idle ones of other sizes (shards, short blocks) are freed, and the
 * upload slots' stay faulted in for the next request.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/blocks/blk.h"
#include "gateway/engine/cache.h"
#include "gateway/gw.h"

/* ---- GET -------------------------------------------------------------------- */

struct gw_fetch {
    struct gw *gw;
    struct store_block blk;
    gw_fetch_cb cb;
    void *ud;
    struct gw_cache_read *call; /* cache, else through any bot (cache.c, reader.c) */
    struct gw_opened *kept;     /* a verified block shared from memory (cache.c), or NULL */
    int leader;                 /* others of the same block park behind it (gw->fetch_leaders) */
    int parked;                 /* waits for a leader's block (gw->fetch_parked) */
    struct gw_fetch *lnext;     /* in one of those two lists */
    unsigned char *data; /* bigbuf: the document as fetched; plaintext at data + off once verified */
    const unsigned char *lent;  /* or the document lent by the cache while it writes it (read-only) */
    struct gw_cache_loan *loan; /* ... given back once opened into data */
    size_t len;          /* bytes of plaintext once verified */
    size_t off;
    int verified;
    uv_work_t work;
    int opening;         /* verification running on the pool */
    int refetched;       /* read again after its cached copy failed verification */
    int freeing;         /* gw_fetch_free called while opening */
    enum blk_status open_st;
    int holding;
    int waiting;
    struct gw_fetch *wait_next;
    unsigned flags;      /* GW_FETCH_* */
    uint64_t range_off, range_len; /* bytes of the plaintext wanted (len 0: all), for spool reads */
    uint64_t base;       /* the block's byte at data + off: range_off when the spool served the range */
};

static void fetch_release(struct gw_fetch *f);
static void fetch_dispatch(struct gw_fetch *f);

/* A ranged read of a block still in the spool: the cache serves just that
 * range, our own plaintext (neither sealed nor hashed yet). */
static int spool_range(const struct gw_fetch *f)
{
    return f->blk.chat_id == 0 && f->range_len > 0;
}
static void on_fetched(void *ud, const struct tg_result *res, unsigned char *data, size_t len);
static void on_lent(void *ud, const unsigned char *data, size_t len, struct gw_cache_loan *loan);

/* The block's document through the cache; a block still in the spool (an
 * unposted pack) is read from its file there, bytes [off, off + len) of it. */
static struct gw_cache_read *cache_fetch(struct gw_fetch *f, uint64_t off, uint64_t len)
{
    char spool[4096];
    int in_spool = f->blk.chat_id == 0 && gw_pack_path(f->gw, f->blk.id, spool, sizeof(spool)) == 0;
    return gw_cache_fetch(f->gw, &f->blk, !(f->flags & GW_FETCH_NO_CACHE), in_spool ? spool : NULL, off, len,
                          on_fetched, on_lent, f);
}

/* ---- one fetch per block: concurrent readers park behind the first ---------- */

static int same_blk(const struct store_block *a, const struct store_block *b)
{
    return a->id == b->id && a->chat_id == b->chat_id && a->message_id == b->message_id &&
           memcmp(a->uuid, b->uuid, sizeof(a->uuid)) == 0;
}

static void list_remove(struct gw_fetch **head, struct gw_fetch *f)
{
    while (*head && *head != f)
        head = &(*head)->lnext;
    if (*head)
        *head = f->lnext;
    f->lnext = NULL;
}

/* The leader f is done (its block verified and shared, or failed, or it was
 * freed): parked fetches of its block get the shared block, or go on alone.
 * One at a time, since a callback may free other parked fetches. */
static void unlead(struct gw_fetch *f)
{
    struct gw *gw = f->gw;
    if (!f->leader)
        return;
    list_remove(&gw->fetch_leaders, f);
    f->leader = 0;
    for (;;) {
        struct gw_fetch *p = gw->fetch_parked;
        while (p && !same_blk(&p->blk, &f->blk))
            p = p->lnext;
        if (p == NULL)
            break;
        list_remove(&gw->fetch_parked, p);
        p->parked = 0;
        struct gw_opened *o = f->kept ? gw_opened_get(gw, &p->blk) : NULL;
        if (o != NULL) {
            p->kept = o;
            p->verified = 1;
            p->cb(p, S3E_OK, p->ud);
        } else {
            /* Nothing to share: p reads alone and the rest park behind it
             * (or behind another leader of the block). */
            fetch_dispatch(p);
            break;
        }
    }
}

/* gw_block_open of a document read-only: the plaintext into out (room for
 * len bytes) at out[0 .. *plain_len). */
static enum blk_status block_open_copy(const struct blk_keyring *keys, const struct store_block *b,
                                       const unsigned char *doc, size_t len, unsigned char *out, size_t *plain_len)
{
    size_t off = 0;
    if (b->key_id == 0) { /* unsealed: its bytes, checked against its keyed hash */
        memcpy(out, doc, len);
        return gw_block_open(keys, b, out, len, &off, plain_len);
    }
    if (keys == NULL)
        return BLK_ERR_KEY;
    return blk_open_copy(keys, BLK_KIND_DATA, b->uuid, b->key_id, (size_t)b->plain_size, doc, len, out, plain_len);
}

/* libuv pool: authenticate the block (and decrypt it, in place or from a lent
 * document) before any byte is served. */
static void open_work(uv_work_t *w)
{
    struct gw_fetch *f = w->data;
    const struct blk_keyring *keys = f->gw->keys;
    f->open_st = BLK_OK;
    f->off = 0;
    if (f->lent != NULL) { /* opened into a buffer of our own; the document stays as it is */
        f->data = bigbuf_new(f->len);
        f->open_st = block_open_copy(keys, &f->blk, f->lent, f->len, f->data, &f->len);
        return;
    }
    if (spool_range(f))
        return; /* nothing to authenticate */
    f->open_st = gw_block_open(keys, &f->blk, f->data, f->len, &f->off, &f->len);
}

enum blk_status gw_block_open(const struct blk_keyring *keys, const struct store_block *b, unsigned char *data,
                              size_t len, size_t *off, size_t *plain_len)
{
    static const unsigned char zero[32];
    *off = 0;
    *plain_len = len;
    if (b->key_id != 0) {
        if (keys == NULL)
            return BLK_ERR_KEY;
        *off = BLK_HEADER_LEN;
        return blk_open(keys, BLK_KIND_DATA, b->uuid, b->key_id, (size_t)b->plain_size, data, len, plain_len);
    }
    if (keys != NULL && memcmp(b->hash, zero, sizeof(zero)) != 0) {
        /* Unsealed (--no-encryption) blocks are checked against their keyed hash. */
        unsigned char h[BLK_HASH_LEN];
        enum blk_status st = blk_hash(keys, data, len, h);
        if (st == BLK_OK && CRYPTO_memcmp(h, b->hash, sizeof(h)) != 0)
            st = BLK_ERR_AUTH;
        return st;
    }
    return BLK_OK;
}

static void after_open(uv_work_t *w, int status)
{
    struct gw_fetch *f = w->data;
    f->opening = 0;
    if (f->loan != NULL) {
        gw_cache_return(f->loan);
        f->loan = NULL;
        f->lent = NULL;
    }
    if (f->freeing) {
        fetch_release(f);
        return;
    }
    if (status != 0 || f->open_st != BLK_OK) {
        char id[33];
        hex_encode(f->blk.uuid, sizeof(f->blk.uuid), id);
        if (status == 0 && !f->refetched && gw_cache_drop(f->gw, &f->blk)) {
            /* The copy in the block cache may be what is damaged (a disk
             * error): it is gone now, and Telegram's copy is read, once. */
            log_warn("block %lld/%lld (id %s): the cached copy failed verification (%s); removed, reading it "
                     "from Telegram",
                     (long long)f->blk.chat_id, (long long)f->blk.message_id, id, blk_status_name(f->open_st));
            bigbuf_free(f->data);
            f->data = NULL;
            f->len = 0;
            f->refetched = 1;
            f->call = cache_fetch(f, 0, 0);
            return;
        }
        log_error("block %lld/%lld (id %s, key %d, %lld bytes) failed verification: %s; not served",
                  (long long)f->blk.chat_id, (long long)f->blk.message_id, id, f->blk.key_id,
                  (long long)f->blk.plain_size, status != 0 ? "cancelled" : blk_status_name(f->open_st));
        bigbuf_free(f->data);
        f->data = NULL;
        f->len = 0;
        unlead(f);
        f->cb(f, S3E_INTERNAL_ERROR, f->ud);
        return;
    }
    f->verified = 1;
    if (f->leader) { /* share it with the readers parked behind it */
        struct gw_opened *o = gw_opened_adopt(f->gw, &f->blk, f->data, f->off, f->len);
        if (o != NULL) {
            f->kept = o;
            f->data = NULL;
        }
        unlead(f);
    }
    f->cb(f, S3E_OK, f->ud);
}

static void start_open(struct gw_fetch *f)
{
    f->opening = 1;
    f->work.data = f;
    uv_queue_work(f->gw->loop, &f->work, open_work, after_open);
}

static void on_fetched(void *ud, const struct tg_result *res, unsigned char *data, size_t len)
{
    struct gw_fetch *f = ud;
    f->call = NULL;
    enum s3_err e = S3E_OK;
    if (res->status != TG_OK) {
        log_warn("fetch block %lld/%lld: %s (%s, http %d)", (long long)f->blk.chat_id, (long long)f->blk.message_id,
                 tg_status_name(res->status), res->description, res->http_status);
        e = gw_tg_err(res);
        if (e == S3E_ENTITY_TOO_LARGE)
            e = S3E_INTERNAL_ERROR;
        bigbuf_free(data);
    } else if (f->blk.chat_id != 0 && (int64_t)len != f->blk.stored_size) { /* chat 0: a pack in the spool */
        log_error("block %lld/%lld: got %zu bytes, index says %lld; not served", (long long)f->blk.chat_id,
                  (long long)f->blk.message_id, len, (long long)f->blk.stored_size);
        e = S3E_INTERNAL_ERROR;
        bigbuf_free(data);
    } else {
        f->data = data;
        f->len = len;
        if (spool_range(f))
            f->base = f->range_off;
        start_open(f);
        return;
    }
    unlead(f);
    f->cb(f, e, f->ud);
}

/* A fetched document the cache is writing, lent to us read-only. */
static void on_lent(void *ud, const unsigned char *data, size_t len, struct gw_cache_loan *loan)
{
    struct gw_fetch *f = ud;
    f->call = NULL;
    f->lent = data;
    f->loan = loan;
    f->len = len;
    start_open(f);
}

static void fetch_begin(struct gw_fetch *f)
{
    struct gw *gw = f->gw;
    f->holding = 1;
    gw->fetch_held++;
    f->call = cache_fetch(f, f->range_off, f->range_len);
}

static void fetch_pump(struct gw *gw)
{
    while (gw->fetch_held < gw->cfg.max_fetch_blocks && gw->fetch_wait_head != NULL) {
        struct gw_fetch *f = gw->fetch_wait_head;
        gw->fetch_wait_head = f->wait_next;
        if (gw->fetch_wait_head == NULL)
            gw->fetch_wait_tail = NULL;
        f->waiting = 0;
        gw->fetch_waiting--;
        fetch_begin(f);
    }
}

struct gw_fetch *gw_fetch_start(struct gw *gw, const struct store_block *blk, unsigned flags, gw_fetch_cb cb,
                                void *ud)
{
    return gw_fetch_start_range(gw, blk, flags, 0, 0, cb, ud);
}

struct gw_fetch *gw_fetch_start_range(struct gw *gw, const struct store_block *blk, unsigned flags, uint64_t off,
                                      uint64_t len, gw_fetch_cb cb, void *ud)
{
    struct gw_opened *kept = gw_opened_get(gw, blk);
    if (kept != NULL) { /* verified a moment ago and still in memory: no slot, no callback needed */
        struct gw_fetch *f = xcalloc(1, sizeof(*f));
        f->gw = gw;
        f->blk = *blk;
        f->cb = cb;
        f->ud = ud;
        f->kept = kept;
        f->verified = 1;
        return f;
    }
    /* Another read of this block under way: the new one parks behind it (no slot). */
    struct gw_fetch *l = blk->chat_id != 0 ? gw->fetch_leaders : NULL;
    while (l && !same_blk(&l->blk, blk))
        l = l->lnext;
    int free_slot = gw->fetch_held < gw->cfg.max_fetch_blocks && gw->fetch_wait_head == NULL;
    if (l == NULL && !free_slot && ((flags & GW_FETCH_AHEAD) || gw->fetch_waiting >= gw->cfg.max_waiting))
        return NULL;
    struct gw_fetch *f = xcalloc(1, sizeof(*f));
    f->gw = gw;
    f->blk = *blk;
    f->cb = cb;
    f->ud = ud;
    f->flags = flags;
    f->range_off = off;
    f->range_len = len;
    fetch_dispatch(f);
    return f;
}

uint64_t gw_fetch_base(const struct gw_fetch *f)
{
    return f->kept != NULL ? 0 : f->base;
}

/* Parks f behind a leader of its block, or makes it the leader and starts
 * it (now, or when a read slot frees). */
static void fetch_dispatch(struct gw_fetch *f)
{
    struct gw *gw = f->gw;
    if (f->blk.chat_id != 0) {
        struct gw_fetch *l = gw->fetch_leaders;
        while (l && !same_blk(&l->blk, &f->blk))
            l = l->lnext;
        if (l != NULL) {
            f->parked = 1;
            f->lnext = gw->fetch_parked;
            gw->fetch_parked = f;
            return;
        }
        f->leader = 1;
        f->lnext = gw->fetch_leaders;
        gw->fetch_leaders = f;
    }
    if (gw->fetch_held < gw->cfg.max_fetch_blocks && gw->fetch_wait_head == NULL) {
        fetch_begin(f);
    } else {
        f->waiting = 1;
        gw->fetch_waiting++;
        SQUEUE_APPEND(gw->fetch_wait_head, gw->fetch_wait_tail, f, wait_next);
    }
}

const unsigned char *gw_fetch_data(const struct gw_fetch *f, size_t *len)
{
    if (f->kept != NULL)
        return gw_opened_data(f->kept, len);
    if (!f->verified || f->data == NULL) {
        *len = 0;
        return NULL;
    }
    *len = f->len;
    return f->data + f->off;
}

void gw_fetch_free(struct gw_fetch *f)
{
    if (f == NULL)
        return;
    struct gw *gw = f->gw;
    if (f->parked) {
        list_remove(&gw->fetch_parked, f);
        f->parked = 0;
    }
    unlead(f); /* the parked ones go on without it */
    if (f->waiting) {
        SQUEUE_REMOVE(struct gw_fetch, gw->fetch_wait_head, gw->fetch_wait_tail, f, wait_next);
        gw->fetch_waiting--;
    }
    if (f->call)
        gw_cache_cancel(f->call);
    f->call = NULL;
    if (f->opening) {
        f->freeing = 1; /* after_open releases it */
        return;
    }
    fetch_release(f);
}

static void fetch_release(struct gw_fetch *f)
{
    struct gw *gw = f->gw;
    if (f->kept != NULL)
        gw_opened_unref(gw, f->kept);
    else if (!f->verified || f->data == NULL || !gw_opened_keep(gw, &f->blk, f->data, f->off, f->len))
        bigbuf_free(f->data);
    if (f->holding) {
        gw->fetch_held--;
        fetch_pump(gw);
        if (gw->fetch_held == 0)
            bigbuf_trim(gw_put_buffer_size(gw)); /* no read under way: what only reads use goes back to the system */
    }
    free(f);
}

void gw_fetch_counters(const struct gw *gw, struct gw_budget_counters *out)
{
    out->held = gw->fetch_held;
    out->waiting = gw->fetch_waiting;
}
