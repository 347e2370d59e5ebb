/* engine.c — the block pipeline between request bodies and Telegram documents.
 *
 * DESIGN
 * PUT/UploadPart: the body (h2o's buffer, in place) is first verified on
 * libuv's pool: aws-chunked decoded in place with every chunk signature
 * checked, MD5 (the ETag) and, for hex payload hashes, SHA-256 computed and
 * compared with Content-MD5 and x-amz-content-sha256. Only a body that passed
 * is split into blocks of --block-size and posted, each block a document
 * sent straight from the body buffer (no copy). Blocks of all requests share
 * one upload budget (--max-upload-blocks in flight); requests wanting slots
 * wait in a FIFO, served round-robin one block at a time, and at most
 * --max-waiting requests wait (beyond: 503 SlowDown). A put that fails or is
 * abandoned queues the documents it did post for deletion; one that succeeds
 * inserts its blocks in the caller's store transaction.
 *
 * GET: a fetch holds one slot of the read budget (--max-fetch-blocks block
 * buffers in memory, fetching or fetched) from start until gw_fetch_free.
 * Readers wait in their own FIFO; read-ahead asks opportunistically and
 * never waits, so it cannot starve a request's first block.
 *
 * Memory: at most max_upload_blocks × block_size of request bodies are being
 * read by curl (they are the h2o buffers, file-backed past 4 MiB) and at
 * most max_fetch_blocks × block_size of fetched blocks are held.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "gateway/gw.h"

/* ---- PUT -------------------------------------------------------------------- */

struct blk_ctx {
    struct gw_put *p;
    size_t i;
};

struct gw_put {
    struct gw *gw;
    char *data;
    size_t len;
    struct s3_auth auth; /* copy: the chunk-signature key lives here until verified */
    struct gw_body_check chk;
    char tag[40];
    gw_put_cb cb;
    void *ud;

    uv_work_t work;
    int verifying;
    enum s3_err verify_err;
    char md5_hex[33];

    size_t n_blocks;
    struct store_block *blocks;
    struct tg_call **calls;
    struct blk_ctx *ctxs;
    size_t next;     /* next block to start */
    size_t inflight; /* blocks being posted */
    size_t done;     /* blocks posted */
    int failed;
    enum s3_err err;
    int finished;    /* callback delivered */
    int committed;   /* blocks belong to the index now */
    int freeing;     /* gw_put_free called while verifying */
    int waiting;     /* in the upload FIFO */
    struct gw_put *wait_next;
};

static void up_pump(struct gw *gw);

static int digest(const EVP_MD *md, const char *data, size_t len, unsigned char *out)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    unsigned int n = 0;
    int ok = ctx && EVP_DigestInit_ex(ctx, md, NULL) && EVP_DigestUpdate(ctx, data, len) &&
             EVP_DigestFinal_ex(ctx, out, &n);
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -1;
}

/* libuv pool thread: touches only p's own fields and the body. */
static void verify_work(uv_work_t *w)
{
    struct gw_put *p = w->data;
    p->verify_err = S3E_OK;
    if (p->chk.chunked) {
        size_t out = 0;
        enum s3_err e = s3_chunked_decode(&p->auth, p->data, p->len, &out, NULL);
        if (e != S3E_OK) {
            p->verify_err = e;
            return;
        }
        p->len = out;
    }
    unsigned char md5[16], sha[32];
    if (digest(EVP_md5(), p->data, p->len, md5) != 0) {
        p->verify_err = S3E_INTERNAL_ERROR;
        return;
    }
    hex_encode(md5, 16, p->md5_hex);
    if (p->chk.has_md5 && memcmp(md5, p->chk.md5, 16) != 0) {
        p->verify_err = S3E_BAD_DIGEST;
        return;
    }
    if (p->chk.verify_sha256) {
        if (digest(EVP_sha256(), p->data, p->len, sha) != 0) {
            p->verify_err = S3E_INTERNAL_ERROR;
            return;
        }
        if (memcmp(sha, p->auth.payload_sha256, 32) != 0)
            p->verify_err = S3E_X_AMZ_CONTENT_SHA256_MISMATCH;
    }
}

static void finish(struct gw_put *p)
{
    if (p->finished || p->inflight > 0)
        return;
    if (!p->failed && p->done < p->n_blocks)
        return;
    p->finished = 1;
    p->cb(p, p->failed ? p->err : S3E_OK, p->ud);
}

static void wait_remove(struct gw *gw, struct gw_put *p)
{
    if (!p->waiting)
        return;
    struct gw_put **pp = &gw->up_wait_head, *prev = NULL;
    while (*pp && *pp != p) {
        prev = *pp;
        pp = &(*pp)->wait_next;
    }
    if (*pp == p) {
        *pp = p->wait_next;
        if (gw->up_wait_tail == p)
            gw->up_wait_tail = prev;
    }
    p->wait_next = NULL;
    p->waiting = 0;
    gw->up_waiting--;
}

static void wait_append(struct gw *gw, struct gw_put *p)
{
    p->wait_next = NULL;
    if (gw->up_wait_tail)
        gw->up_wait_tail->wait_next = p;
    else
        gw->up_wait_head = p;
    gw->up_wait_tail = p;
    p->waiting = 1;
    gw->up_waiting++;
}

static enum s3_err tg_to_s3(const struct tg_result *res)
{
    switch (res->status) {
    case TG_OK: return S3E_OK;
    case TG_ERR_RATE_LIMITED: return S3E_SLOW_DOWN;
    case TG_ERR_TOO_BIG: return S3E_ENTITY_TOO_LARGE;
    case TG_ERR_TRANSPORT:
    case TG_ERR_HTTP: return S3E_SERVICE_UNAVAILABLE;
    default: return S3E_INTERNAL_ERROR;
    }
}

static void on_block_sent(void *ud, const struct tg_result *res, const struct tg_document *doc)
{
    struct blk_ctx *c = ud;
    struct gw_put *p = c->p;
    struct gw *gw = p->gw;
    p->calls[c->i] = NULL;
    p->inflight--;
    gw->up_inflight--;
    if (res->status == TG_OK && doc != NULL) {
        struct store_block *b = &p->blocks[c->i];
        b->chat_id = doc->chat_id;
        b->message_id = doc->message_id;
        snprintf(b->file_id, sizeof(b->file_id), "%s", doc->file_id);
        snprintf(b->file_unique_id, sizeof(b->file_unique_id), "%s", doc->file_unique_id);
        b->stored_size = doc->file_size;
        b->created_ms = now_ms();
        p->done++;
    } else if (!p->failed) {
        p->failed = 1;
        p->err = res->status == TG_OK ? S3E_INTERNAL_ERROR : tg_to_s3(res);
        log_warn("put %s: block %zu/%zu not stored: %s (%s, http %d, after %d attempts)", p->tag, c->i + 1,
                 p->n_blocks, tg_status_name(res->status), res->description, res->http_status, res->attempts);
        wait_remove(gw, p);
    }
    up_pump(gw);
    finish(p);
}

static void start_block(struct gw_put *p)
{
    struct gw *gw = p->gw;
    size_t i = p->next++;
    size_t bs = (size_t)gw->cfg.block_size;
    size_t off = i * bs, n = p->len - off < bs ? p->len - off : bs;
    size_t pairs = gw->n_bots * gw->cfg.n_chat_ids;
    size_t pair = gw->rr_next++ % pairs;
    struct gw_bot *bot = &gw->bots[pair % gw->n_bots];
    int64_t chat = gw->cfg.chat_ids[pair / gw->n_bots];
    struct store_block *b = &p->blocks[i];
    b->bot_id = bot->id;
    b->plain_size = (int64_t)n;
    char fname[96], caption[256];
    snprintf(fname, sizeof(fname), "tgs3-%s-%zu.bin", p->tag, i);
    /* A self-describing caption lets orphans of lost answers be recognised. */
    snprintf(caption, sizeof(caption), "tgs3 v1 put=%s blk=%zu/%zu off=%zu len=%zu", p->tag, i + 1, p->n_blocks,
             off, n);
    p->ctxs[i].p = p;
    p->ctxs[i].i = i;
    p->inflight++;
    gw->up_inflight++;
    p->calls[i] = tg_send_document(gw->tg, bot->token, chat, p->data + off, n, fname, caption, on_block_sent,
                                   &p->ctxs[i]);
}

static void up_pump(struct gw *gw)
{
    while (gw->up_inflight < gw->cfg.max_upload_blocks && gw->up_wait_head != NULL) {
        struct gw_put *p = gw->up_wait_head;
        wait_remove(gw, p);
        if (p->next < p->n_blocks)
            start_block(p);
        if (p->next < p->n_blocks && !p->failed)
            wait_append(gw, p); /* round-robin: one block per turn */
    }
}

static void free_now(struct gw_put *p)
{
    secure_zero(&p->auth, sizeof(p->auth));
    free(p->blocks);
    free(p->calls);
    free(p->ctxs);
    free(p);
}

static void after_verify(uv_work_t *w, int status)
{
    struct gw_put *p = w->data;
    struct gw *gw = p->gw;
    p->verifying = 0;
    secure_zero(p->auth.signing_key, sizeof(p->auth.signing_key));
    if (p->freeing) {
        free_now(p);
        return;
    }
    if (status != 0 || p->verify_err != S3E_OK) {
        p->failed = 1;
        p->err = status != 0 ? S3E_INTERNAL_ERROR : p->verify_err;
        finish(p);
        return;
    }
    size_t bs = (size_t)gw->cfg.block_size;
    p->n_blocks = (p->len + bs - 1) / bs;
    p->blocks = xcalloc(p->n_blocks ? p->n_blocks : 1, sizeof(*p->blocks));
    p->calls = xcalloc(p->n_blocks ? p->n_blocks : 1, sizeof(*p->calls));
    p->ctxs = xcalloc(p->n_blocks ? p->n_blocks : 1, sizeof(*p->ctxs));
    if (p->n_blocks == 0) {
        finish(p);
        return;
    }
    if (gw->up_waiting >= gw->cfg.max_waiting) {
        p->failed = 1;
        p->err = S3E_SLOW_DOWN;
        finish(p);
        return;
    }
    wait_append(gw, p);
    up_pump(gw);
}

struct gw_put *gw_put_start(struct gw *gw, const struct s3_auth *auth, const struct gw_body_check *chk,
                            char *data, size_t len, const char *tag, gw_put_cb cb, void *ud)
{
    struct gw_put *p = xcalloc(1, sizeof(*p));
    p->gw = gw;
    p->data = data;
    p->len = len;
    p->auth = *auth;
    p->chk = *chk;
    snprintf(p->tag, sizeof(p->tag), "%s", tag);
    p->cb = cb;
    p->ud = ud;
    p->work.data = p;
    p->verifying = 1;
    uv_queue_work(gw->loop, &p->work, verify_work, after_verify);
    return p;
}

const char *gw_put_md5_hex(const struct gw_put *p)
{
    return p->md5_hex;
}

size_t gw_put_size(const struct gw_put *p)
{
    return p->len;
}

size_t gw_put_blocks(const struct gw_put *p, struct store_block **blocks)
{
    *blocks = p->blocks;
    return p->n_blocks;
}

enum store_status gw_put_commit_blocks(struct gw_put *p, struct store *st, struct store_extent **ext, size_t *n)
{
    *ext = NULL;
    *n = 0;
    if (p->n_blocks == 0)
        return STORE_OK;
    struct store_extent *e = xcalloc(p->n_blocks, sizeof(*e));
    for (size_t i = 0; i < p->n_blocks; i++) {
        enum store_status s = store_block_insert(st, &p->blocks[i]);
        if (s != STORE_OK) {
            free(e);
            return s;
        }
        e[i].block_id = p->blocks[i].id;
        e[i].offset = 0;
        e[i].length = p->blocks[i].plain_size;
    }
    *ext = e;
    *n = p->n_blocks;
    return STORE_OK;
}

void gw_put_orphan_blocks(struct gw_put *p, struct store *st)
{
    for (size_t i = 0; p->blocks && i < p->n_blocks; i++) {
        struct store_block *b = &p->blocks[i];
        if (b->message_id == 0)
            continue;
        enum store_status s = store_gc_enqueue(st, b->chat_id, b->message_id, b->bot_id, now_ms());
        if (s != STORE_OK)
            log_error("put %s: cannot queue stray block %lld/%lld for deletion: %s", p->tag,
                      (long long)b->chat_id, (long long)b->message_id, store_status_name(s));
        b->message_id = 0;
    }
}

/* Marks the put's blocks as owned by the index (the caller's transaction committed). */
void gw_put_mark_committed(struct gw_put *p)
{
    p->committed = 1;
}

static void orphan_run(struct store *st, void *arg)
{
    gw_put_orphan_blocks(arg, st);
}

static void orphan_done(void *arg)
{
    free_now(arg);
}

void gw_put_free(struct gw_put *p)
{
    if (p == NULL)
        return;
    struct gw *gw = p->gw;
    wait_remove(gw, p);
    if (p->verifying) {
        p->freeing = 1; /* after_verify frees it */
        return;
    }
    for (size_t i = 0; p->calls && i < p->n_blocks; i++) {
        if (p->calls[i]) {
            tg_call_cancel(p->calls[i]);
            p->calls[i] = NULL;
            p->inflight--;
            gw->up_inflight--;
        }
    }
    up_pump(gw);
    int stray = 0;
    for (size_t i = 0; !p->committed && p->blocks && i < p->n_blocks; i++)
        stray |= p->blocks[i].message_id != 0;
    if (stray)
        gw_store_call(gw, orphan_run, orphan_done, p);
    else
        free_now(p);
}

/* ---- GET -------------------------------------------------------------------- */

struct gw_fetch {
    struct gw *gw;
    struct store_block blk;
    gw_fetch_cb cb;
    void *ud;
    struct tg_call *call;
    unsigned char *data;
    size_t len;
    int holding;
    int waiting;
    struct gw_fetch *wait_next;
};

static void on_fetched(void *ud, const struct tg_result *res, unsigned char *data, size_t len)
{
    struct gw_fetch *f = ud;
    f->call = NULL;
    enum s3_err e = S3E_OK;
    if (res->status != TG_OK) {
        log_warn("fetch block %lld/%lld: %s (%s, http %d)", (long long)f->blk.chat_id, (long long)f->blk.message_id,
                 tg_status_name(res->status), res->description, res->http_status);
        e = tg_to_s3(res);
        if (e == S3E_ENTITY_TOO_LARGE)
            e = S3E_INTERNAL_ERROR;
        free(data);
    } else if ((int64_t)len != f->blk.plain_size) {
        log_error("block %lld/%lld: got %zu bytes, index says %lld", (long long)f->blk.chat_id,
                  (long long)f->blk.message_id, len, (long long)f->blk.plain_size);
        e = S3E_INTERNAL_ERROR;
        free(data);
    } else {
        f->data = data;
        f->len = len;
    }
    f->cb(f, e, f->ud);
}

struct gw_bot *gw_bot_by_id(struct gw *gw, int64_t bot_id)
{
    for (size_t i = 0; i < gw->n_bots; i++)
        if (gw->bots[i].id == bot_id)
            return &gw->bots[i];
    return NULL;
}

static void fetch_begin(struct gw_fetch *f)
{
    struct gw *gw = f->gw;
    struct gw_bot *bot = gw_bot_by_id(gw, f->blk.bot_id);
    f->holding = 1;
    gw->fetch_held++;
    if (bot == NULL) {
        struct tg_result res = {.status = TG_ERR_UNAUTHORIZED};
        snprintf(res.description, sizeof(res.description), "bot %lld is not configured", (long long)f->blk.bot_id);
        on_fetched(f, &res, NULL, 0);
        return;
    }
    f->call = tg_fetch_file(gw->tg, bot->token, f->blk.file_id, f->blk.stored_size, (size_t)f->blk.stored_size,
                            on_fetched, f);
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

struct gw_fetch *gw_fetch_start(struct gw *gw, const struct store_block *blk, int opportunistic, gw_fetch_cb cb,
                                void *ud)
{
    int free_slot = gw->fetch_held < gw->cfg.max_fetch_blocks && gw->fetch_wait_head == NULL;
    if (!free_slot && (opportunistic || gw->fetch_waiting >= gw->cfg.max_waiting))
        return NULL;
    struct gw_fetch *f = xcalloc(1, sizeof(*f));
    f->gw = gw;
    f->blk = *blk;
    f->cb = cb;
    f->ud = ud;
    if (free_slot) {
        fetch_begin(f);
    } else {
        f->waiting = 1;
        gw->fetch_waiting++;
        if (gw->fetch_wait_tail)
            gw->fetch_wait_tail->wait_next = f;
        else
            gw->fetch_wait_head = f;
        gw->fetch_wait_tail = f;
    }
    return f;
}

const unsigned char *gw_fetch_data(const struct gw_fetch *f, size_t *len)
{
    *len = f->len;
    return f->data;
}

void gw_fetch_free(struct gw_fetch *f)
{
    if (f == NULL)
        return;
    struct gw *gw = f->gw;
    if (f->waiting) {
        struct gw_fetch **pp = &gw->fetch_wait_head, *prev = NULL;
        while (*pp && *pp != f) {
            prev = *pp;
            pp = &(*pp)->wait_next;
        }
        if (*pp == f) {
            *pp = f->wait_next;
            if (gw->fetch_wait_tail == f)
                gw->fetch_wait_tail = prev;
        }
        gw->fetch_waiting--;
    }
    if (f->call)
        tg_call_cancel(f->call);
    free(f->data);
    if (f->holding) {
        gw->fetch_held--;
        fetch_pump(gw);
    }
    free(f);
}
