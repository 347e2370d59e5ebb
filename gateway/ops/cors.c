/* cors.c — PutBucketCors, GetBucketCors, DeleteBucketCors; CORS preflights and the CORS headers of
 * actual requests.
 *
 * A bucket's rules live in the index (store/cors.c) as the XML GetBucketCors
 * answers. A browser's preflight (OPTIONS, no credentials) is answered from
 * them without authentication (s3_cors_preflight), and any other request
 * that carries an Origin gets the matching rule's Access-Control-* headers
 * on its answer, errors included, as S3 does: they are added to the
 * response before authentication and the operation run (gw_cors_then).
 *
 * DESIGN: the rules are read on the store thread and parsed there; the loop
 * keeps the last CORS_CACHE_SLOTS buckets' parsed rules (or their absence)
 * in a small cache, least recently used out, so a page's requests do not
 * each cost a store round trip. Every change of a bucket's rules in this
 * process (Put/DeleteBucketCors, DeleteBucket, CreateBucket) drops its slot
 * and bumps a generation as it is submitted to the store thread, which runs
 * jobs in submission order: a read submitted before the change does not
 * fill the cache, one submitted after it reads the change. Memory: at most CORS_CACHE_SLOTS parsed configurations of at most
 * S3_CORS_MAX_BODY bytes each. Loop thread, except the *_run store jobs.
 */
#include <stdlib.h>
#include <string.h>

#include "gateway/gw.h"
#include "gateway/ops/ops.h"

#define CORS_CACHE_SLOTS 64

struct cors_slot {
    char bucket[S3_MAX_BUCKET_LEN + 1]; /* "" when free */
    int exists;                         /* the bucket exists */
    struct s3_cors *cfg;                /* its rules; NULL: none */
    uint64_t used;                      /* cache tick of the last use */
};

struct gw_cors_cache {
    struct cors_slot slots[CORS_CACHE_SLOTS];
    uint64_t tick;
    uint64_t gen; /* bumped by every change of any bucket's rules */
};

static struct gw_cors_cache *cache_of(struct gw *gw)
{
    if (gw->cors == NULL)
        gw->cors = xcalloc(1, sizeof(*gw->cors));
    return gw->cors;
}

static void slot_clear(struct cors_slot *s)
{
    if (s->cfg != NULL) {
        s3_cors_release(s->cfg);
        free(s->cfg);
    }
    memset(s, 0, sizeof(*s));
}

static struct cors_slot *cache_find(struct gw_cors_cache *c, const char *bucket)
{
    for (size_t i = 0; i < CORS_CACHE_SLOTS; i++)
        if (c->slots[i].bucket[0] != '\0' && strcmp(c->slots[i].bucket, bucket) == 0) {
            c->slots[i].used = ++c->tick;
            return &c->slots[i];
        }
    return NULL;
}

/* Takes cfg (heap, or NULL). */
static struct cors_slot *cache_put(struct gw_cors_cache *c, const char *bucket, int exists, struct s3_cors *cfg)
{
    /* The bucket's own slot (two reads of it may finish one after the other), else a free one, else the LRU. */
    struct cors_slot *victim = NULL, *spare = &c->slots[0];
    for (size_t i = 0; i < CORS_CACHE_SLOTS && victim == NULL; i++) {
        struct cors_slot *s = &c->slots[i];
        if (strcmp(s->bucket, bucket) == 0)
            victim = s;
        else if (spare->bucket[0] != '\0' && (s->bucket[0] == '\0' || s->used < spare->used))
            spare = s;
    }
    if (victim == NULL)
        victim = spare;
    slot_clear(victim);
    memcpy(victim->bucket, bucket, strlen(bucket) + 1);
    victim->exists = exists;
    victim->cfg = cfg;
    victim->used = ++c->tick;
    return victim;
}

void gw_cors_forget(struct gw *gw, const char *bucket)
{
    struct gw_cors_cache *c = cache_of(gw);
    c->gen++;
    for (size_t i = 0; i < CORS_CACHE_SLOTS; i++)
        if (strcmp(c->slots[i].bucket, bucket) == 0)
            slot_clear(&c->slots[i]);
}

void gw_cors_cache_free(struct gw *gw)
{
    if (gw->cors == NULL)
        return;
    for (size_t i = 0; i < CORS_CACHE_SLOTS; i++)
        slot_clear(&gw->cors->slots[i]);
    free(gw->cors);
    gw->cors = NULL;
}

/* ---- a bucket's rules, from the cache or the store ---------------------------------- */

struct cors_load {
    void (*next)(struct gw_req *r, int exists, const struct s3_cors *cfg);
    uint64_t gen;          /* the cache's generation when the read started */
    enum store_status found;
    int exists;
    struct s3_cors *cfg;   /* parsed on the store thread; NULL: none */
};

static void load_free(void *arg)
{
    struct cors_load *l = arg;
    if (l->cfg != NULL) {
        s3_cors_release(l->cfg);
        free(l->cfg);
    }
    free(l);
}

static enum s3_err load_run(struct store *st, struct gw_req *r, void *arg)
{
    struct cors_load *l = arg;
    char *xml = NULL;
    char msg[8];
    l->found = store_bucket_get(st, r->route.bucket, NULL);
    l->exists = l->found == STORE_OK;
    if (l->found == STORE_NOT_FOUND)
        l->found = STORE_OK;
    if (!l->exists)
        return S3E_OK;
    enum store_status s = store_cors_get(st, r->route.bucket, &xml);
    if (s == STORE_OK) {
        l->cfg = xcalloc(1, sizeof(*l->cfg));
        /* Stored by PutBucketCors after the same parse: a document that no longer parses is no rules. */
        if (s3_cors_parse(xml, strlen(xml), l->cfg, msg, sizeof(msg)) != S3E_OK) {
            free(l->cfg);
            l->cfg = NULL;
        }
    } else if (s != STORE_NOT_FOUND) {
        l->found = s;
    }
    free(xml);
    return S3E_OK;
}

static void load_done(struct gw_req *r, void *arg)
{
    struct cors_load *l = arg;
    struct gw_cors_cache *c = cache_of(r->gw);
    if (l->found != STORE_OK) { /* the index could not be read: no rules, not remembered */
        l->next(r, l->exists, NULL);
        return;
    }
    if (l->gen == c->gen) {
        struct cors_slot *s = cache_put(c, r->route.bucket, l->exists, l->cfg);
        l->cfg = NULL; /* the cache's now */
        l->next(r, s->exists, s->cfg);
        return;
    }
    l->next(r, l->exists, l->cfg);
}

/* Runs next(r, exists, rules) on the loop, at once when the cache knows the bucket. */
static void with_rules(struct gw_req *r, void (*next)(struct gw_req *r, int exists, const struct s3_cors *cfg))
{
    struct gw_cors_cache *c = cache_of(r->gw);
    struct cors_slot *s = cache_find(c, r->route.bucket);
    if (s != NULL) {
        next(r, s->exists, s->cfg);
        return;
    }
    struct cors_load *l = xcalloc(1, sizeof(*l));
    l->next = next;
    l->gen = c->gen;
    gw_req_store_call(r, load_run, load_done, l, load_free);
}

static void add_answer(struct gw_req *r, const struct s3_cors_answer *a)
{
    for (size_t i = 0; i < a->n; i++)
        gw_add_header(r, a->names[i], a->buf.ptr + a->off[i], a->len[i]);
}

/* ---- preflight ------------------------------------------------------------------------ */

static void preflight_answer(struct gw_req *r, int exists, const struct s3_cors *cfg)
{
    struct s3_cors_answer a;
    char msg[512];
    enum s3_err e = s3_cors_preflight(cfg, exists, &r->s3, &a, msg, sizeof(msg));
    if (e == S3E_OK) {
        add_answer(r, &a);
        gw_respond_empty(r, 200);
    } else {
        gw_respond_error(r, e, msg);
    }
    s3_cors_answer_release(&a);
}

void gw_op_cors_preflight(struct gw_req *r)
{
    with_rules(r, preflight_answer);
}

/* ---- actual requests ------------------------------------------------------------------ */

/* The request's own rules read, its CORS headers added, it goes on to r->cors_next. */
static void actual_go_on(struct gw_req *r, int exists, const struct s3_cors *cfg)
{
    void (*next)(struct gw_req *r) = r->cors_next;
    struct s3_cors_answer a;
    (void)exists;
    r->cors_next = NULL;
    if (s3_cors_actual(cfg, &r->s3, &a) > 0)
        add_answer(r, &a);
    s3_cors_answer_release(&a);
    next(r);
}

void gw_cors_then(struct gw_req *r, void (*next)(struct gw_req *r))
{
    size_t olen = 0;
    if (r->route.bucket[0] == '\0' || gw_req_header(r, "origin", &olen) == NULL || olen == 0) {
        next(r);
        return;
    }
    r->cors_next = next;
    with_rules(r, actual_go_on);
}

/* ---- Put/Get/DeleteBucketCors --------------------------------------------------------- */

struct cors_op {
    char *xml; /* Put: the configuration as stored; Get: as read */
};

static void cors_op_free(struct gw_req *r)
{
    struct cors_op *op = r->op;
    free(op->xml);
    free(op);
    r->op = NULL;
}

static struct cors_op *cors_op_new(struct gw_req *r)
{
    struct cors_op *op = xcalloc(1, sizeof(*op));
    r->op = op;
    r->op_free = cors_op_free;
    return op;
}

static enum s3_err put_run(struct store *st, struct gw_req *r, void *arg)
{
    struct cors_op *op = arg;
    return gw_store_err_or(store_cors_put(st, r->route.bucket, op->xml), S3E_NO_SUCH_BUCKET);
}

static void changed_done(struct gw_req *r, void *arg)
{
    (void)arg;
    gw_respond_empty(r, r->route.op == S3_OP_DELETE_BUCKET_CORS ? 204 : 200);
}

void gw_op_put_bucket_cors(struct gw_req *r)
{
    struct cors_op *op = cors_op_new(r);
    struct s3_cors cfg;
    struct dbuf out;
    char msg[512] = "";
    const char *body;
    size_t len;
    enum s3_err e = gw_small_body(r, &body, &len);
    if (e == S3E_OK)
        e = s3_cors_parse(body, len, &cfg, msg, sizeof(msg));
    if (e != S3E_OK) {
        gw_respond_error(r, e, msg[0] != '\0' && e == S3E_INVALID_REQUEST ? msg : NULL);
        return;
    }
    /* The rendered form is what GetBucketCors answers; it never outgrows the document it came from by much. */
    dbuf_init(&out, 4 * S3_CORS_MAX_BODY);
    int failed = s3_cors_render(&cfg, &out) != 0;
    s3_cors_release(&cfg);
    if (failed) {
        dbuf_release(&out);
        gw_respond_error(r, S3E_MALFORMED_XML, NULL);
        return;
    }
    op->xml = dbuf_take(&out, NULL);
    gw_cors_forget(r->gw, r->route.bucket);
    gw_req_store_call(r, put_run, changed_done, op, NULL);
}

static enum s3_err get_run(struct store *st, struct gw_req *r, void *arg)
{
    struct cors_op *op = arg;
    enum store_status s = store_cors_get(st, r->route.bucket, &op->xml);
    if (s == STORE_NOT_FOUND)
        return gw_bucket_missing(st, r->route.bucket) ? S3E_NO_SUCH_BUCKET : S3E_NO_SUCH_CORS_CONFIGURATION;
    return gw_store_err(s);
}

static void get_done(struct gw_req *r, void *arg)
{
    struct cors_op *op = arg;
    gw_respond_xml(r, 200, op->xml, strlen(op->xml));
}

void gw_op_get_bucket_cors(struct gw_req *r)
{
    gw_req_store_call(r, get_run, get_done, cors_op_new(r), NULL);
}

static enum s3_err delete_run(struct store *st, struct gw_req *r, void *arg)
{
    (void)arg;
    if (gw_bucket_missing(st, r->route.bucket))
        return S3E_NO_SUCH_BUCKET;
    return gw_store_err(store_cors_delete(st, r->route.bucket));
}

void gw_op_delete_bucket_cors(struct gw_req *r)
{
    gw_cors_forget(r->gw, r->route.bucket);
    gw_req_store_call(r, delete_run, changed_done, cors_op_new(r), NULL);
}
