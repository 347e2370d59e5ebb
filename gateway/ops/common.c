/* common.c — what the operation handlers share: body checks, bucket and
 * object probes, conditional writes, header snapshots, small XML bodies, ACLs.
 *
 * Handlers (bucket.c, object.c, multipart.c, copy.c, tagging.c) call these
 * and never each other; each talks to the store thread through
 * gw_req_store_call (http/req.c). Loop thread, except where a comment says
 * store thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw.h"
#include "gateway/ops/ops.h"

/* ---- bodies -------------------------------------------------------------------- */

enum s3_err gw_body_check_init(struct gw_req *r, struct gw_body_check *chk)
{
    memset(chk, 0, sizeof(*chk));
    switch (r->auth.payload) {
    case S3_PAYLOAD_HEX_SHA256: chk->verify_sha256 = 1; break;
    case S3_PAYLOAD_UNSIGNED: break;
    case S3_PAYLOAD_STREAMING_SIGNED:
    case S3_PAYLOAD_STREAMING_SIGNED_TRAILER:
    case S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER: chk->chunked = 1; break;
    }
    size_t len;
    const char *md5 = gw_req_header(r, "content-md5", &len);
    if (md5 != NULL) {
        size_t n = 0;
        if (s3_base64_decode(md5, len, chk->md5, sizeof(chk->md5), &n) != 0 || n != 16)
            return S3E_INVALID_DIGEST;
        chk->has_md5 = 1;
    }
    static const char *const algs[] = {"crc32", "crc32c", "crc64nvme", "sha1", "sha256"};
    for (size_t i = 0; i < ARRAY_SIZE(algs); i++) {
        char name[32];
        snprintf(name, sizeof(name), "x-amz-checksum-%s", algs[i]);
        const char *v = gw_req_header(r, name, &len);
        if (v == NULL)
            continue;
        if (chk->ck_alg[0] != '\0' || len == 0 || len >= sizeof(chk->ck_value))
            return S3E_INVALID_REQUEST; /* more than one checksum, or a malformed one */
        snprintf(chk->ck_alg, sizeof(chk->ck_alg), "%s", algs[i]);
        memcpy(chk->ck_value, v, len);
        chk->ck_value[len] = '\0';
    }
    h2o_req_t *req = r->req;
    uint64_t body = r->body ? gw_body_len(r->body) : req->entity.base ? req->entity.len : 0;
    if (body > (uint64_t)r->gw->cfg.max_body + (chk->chunked ? (size_t)r->gw->cfg.max_body / 64 + 4096 : 0))
        return S3E_ENTITY_TOO_LARGE;
    return S3E_OK;
}

/* The engine's callback for a request body: the request is released, and a
 * client still there gets the failure or its handler's next step. */
struct body_put {
    struct gw_req *r;
    void (*stored)(struct gw_req *r, struct gw_put *p);
};

static void on_body_put(struct gw_put *p, enum s3_err err, void *ud)
{
    struct body_put *bp = ud;
    struct gw_req *r = bp->r;
    void (*stored)(struct gw_req *, struct gw_put *) = bp->stored;
    free(bp);
    if (!gw_req_release(r))
        return;
    if (err != S3E_OK)
        gw_respond_error(r, err, NULL);
    else
        stored(r, p);
}

/* An x-amz-checksum-<alg> header must be the base64 of a digest of that
 * algorithm's length; S3 answers anything else before reading the body:
 * 400 InvalidRequest "Value for x-amz-checksum-crc32 header is invalid."
 * Returns 0 after answering that, 1 when every such header is well formed. */
static int checksum_headers_ok(struct gw_req *r)
{
    static const char *const algs[] = {"crc32", "crc32c", "crc64nvme", "sha1", "sha256"};
    for (size_t i = 0; i < ARRAY_SIZE(algs); i++) {
        char name[32], msg[96];
        size_t len;
        snprintf(name, sizeof(name), "x-amz-checksum-%s", algs[i]);
        const char *v = gw_req_header(r, name, &len);
        /* Checked against an empty body, only the value's form matters. */
        if (v == NULL || s3_checksum_check(algs[i], strlen(algs[i]), v, len, "", 0) != S3E_INVALID_DIGEST)
            continue;
        snprintf(msg, sizeof(msg), "Value for %s header is invalid.", name);
        gw_respond_error(r, S3E_INVALID_REQUEST, msg);
        return 0;
    }
    return 1;
}

struct gw_put *gw_put_body_start(struct gw_req *r, int may_pack, void (*stored)(struct gw_req *r, struct gw_put *p))
{
    struct gw_body_check chk;
    if (!checksum_headers_ok(r))
        return NULL;
    enum s3_err e = gw_body_check_init(r, &chk);
    if (e != S3E_OK) {
        gw_respond_error(r, e, NULL);
        return NULL;
    }
    chk.may_pack = may_pack;
    struct body_put *bp = xmalloc(sizeof(*bp));
    bp->r = r;
    bp->stored = stored;
    gw_req_hold(r);
    h2o_req_t *req = r->req;
    struct gw_put *p;
    if (r->body != NULL)
        p = gw_put_start_body(r->gw, &r->auth, &chk, r->body, gw_body_len(r->body), r->id, on_body_put, bp, &e);
    else
        p = gw_put_start(r->gw, &r->auth, &chk, req->entity.base, req->entity.base ? req->entity.len : 0, r->id,
                         on_body_put, bp);
    if (p == NULL) {
        free(bp);
        if (gw_req_release(r))
            gw_respond_error(r, e, NULL);
    }
    return p;
}

void gw_add_etag(struct gw_req *r, const char *etag)
{
    char q[96];
    int n = snprintf(q, sizeof(q), "\"%s\"", etag);
    gw_add_header(r, "etag", q, (size_t)n);
}

/* The answer to a body that is now stored: its ETag, the checksum it was verified
 * against (if any) and 200. Shared by PutObject and UploadPart. */
void gw_respond_stored(struct gw_req *r, const char *etag, const struct gw_put *put)
{
    gw_add_etag(r, etag);
    const char *ckv, *ck = gw_put_checksum(put, &ckv);
    if (ck != NULL) {
        char name[48];
        snprintf(name, sizeof(name), "x-amz-checksum-%s", ck);
        gw_add_header(r, name, ckv, strlen(ckv));
    }
    gw_respond_empty(r, 200);
}

void gw_respond_xml_buf(struct gw_req *r, struct dbuf *out, int failed)
{
    if (failed)
        gw_respond_error(r, S3E_INTERNAL_ERROR, "response too large");
    else
        gw_respond_xml(r, 200, out->ptr ? out->ptr : "", out->len);
    dbuf_release(out);
}

void gw_answer_204(struct gw_req *r, void *op)
{
    (void)op;
    gw_respond_empty(r, 204);
}

/* Small request bodies (XML) are checked on the loop: they are at most S3_MAX_XML_BODY. */
enum s3_err gw_small_body(struct gw_req *r, const char **body, size_t *len)
{
    h2o_req_t *req = r->req;
    *body = req->entity.base ? req->entity.base : "";
    *len = req->entity.base ? req->entity.len : 0;
    if (*len > S3_MAX_XML_BODY)
        return S3E_MALFORMED_XML;
    if (r->auth.payload != S3_PAYLOAD_HEX_SHA256 && r->auth.payload != S3_PAYLOAD_UNSIGNED)
        return S3E_NOT_IMPLEMENTED;
    unsigned char d[32];
    unsigned int dl = 0;
    if (r->auth.payload == S3_PAYLOAD_HEX_SHA256) {
        if (!EVP_Digest(*body, *len, d, &dl, EVP_sha256(), NULL) || memcmp(d, r->auth.payload_sha256, 32) != 0)
            return S3E_X_AMZ_CONTENT_SHA256_MISMATCH;
    }
    size_t ml;
    const char *md5 = gw_req_header(r, "content-md5", &ml);
    if (md5 != NULL) {
        unsigned char want[16];
        size_t wn = 0;
        if (s3_base64_decode(md5, ml, want, sizeof(want), &wn) != 0 || wn != 16)
            return S3E_INVALID_DIGEST;
        if (!EVP_Digest(*body, *len, d, &dl, EVP_md5(), NULL) || memcmp(d, want, 16) != 0)
            return S3E_BAD_DIGEST;
    }
    return S3E_OK;
}

/* ---- bucket and object probes (store thread) ------------------------------------------ */

int gw_bucket_missing(struct store *st, const char *bucket)
{
    struct store_bucket b;
    return store_bucket_get(st, bucket, &b) == STORE_NOT_FOUND;
}

enum s3_err gw_no_such_object(struct store *st, const char *bucket)
{
    return gw_bucket_missing(st, bucket) ? S3E_NO_SUCH_BUCKET : S3E_NO_SUCH_KEY;
}

/* ---- conditional writes, header snapshots, tagging headers ---------------------------- */

static const char *const write_cond_headers[2] = {"if-match", "if-none-match"};

struct s3_request *gw_write_conditions_snapshot(struct gw_req *r)
{
    if (gw_req_header(r, "if-match", NULL) == NULL && gw_req_header(r, "if-none-match", NULL) == NULL)
        return NULL;
    return gw_req_snapshot(r, write_cond_headers, ARRAY_SIZE(write_cond_headers));
}

enum s3_err gw_write_conditions(struct store *st, const struct s3_request *cond, const char *bucket,
                                const char *key)
{
    struct store_object *cur = NULL;
    if (cond == NULL)
        return S3E_OK;
    enum store_status s = store_object_head(st, bucket, key, &cur);
    if (s != STORE_OK && s != STORE_NOT_FOUND)
        return gw_store_err(s);
    enum s3_err e = s3_write_conditions_check(cond, s == STORE_OK, cur ? cur->etag : NULL);
    store_object_free(cur);
    return e;
}


struct s3_request *gw_req_snapshot(struct gw_req *r, const char *const *names, size_t n)
{
    size_t total = sizeof(struct s3_request) + n * sizeof(struct s3_header) + r->s3.method_len + 1;
    size_t lens[16];
    const char *vals[16];
    ASSERT(n <= ARRAY_SIZE(lens));
    for (size_t i = 0; i < n; i++) {
        vals[i] = gw_req_header(r, names[i], &lens[i]);
        if (vals[i] != NULL)
            total += lens[i] + 1;
    }
    char *mem = xcalloc(1, total);
    struct s3_request *req = (struct s3_request *)(void *)mem;
    struct s3_header *h = (struct s3_header *)(void *)(mem + sizeof(*req));
    char *p = (char *)(h + n);
    memcpy(p, r->s3.method, r->s3.method_len);
    req->method = p;
    req->method_len = r->s3.method_len;
    p += r->s3.method_len + 1;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (vals[i] == NULL)
            continue;
        memcpy(p, vals[i], lens[i]);
        h[k].name = names[i];
        h[k].name_len = strlen(names[i]);
        h[k].value = p;
        h[k].value_len = lens[i];
        p += lens[i] + 1;
        k++;
    }
    req->headers = h;
    req->n_headers = k;
    return req;
}

int gw_tagging_header_ok(struct gw_req *r)
{
    size_t l, n;
    struct s3_tag tags[S3_MAX_TAGS];
    const char *tg = gw_req_header(r, "x-amz-tagging", &l);
    enum s3_err e = tg == NULL ? S3E_OK : s3_tagging_parse_query(tg, l, tags, S3_MAX_TAGS, &n);
    if (e != S3E_OK)
        gw_respond_error(r, e, NULL);
    return e == S3E_OK;
}

/* ---- ACLs and owners in XML -------------------------------------------------- */

int gw_list_params(struct gw_req *r, int *url, size_t *max_keys)
{
    const char *enc = s3_route_param(&r->route, "encoding-type");
    const char *mk = s3_route_param(&r->route, "max-keys");
    if (enc && *enc && strcmp(enc, "url") != 0) {
        gw_respond_error(r, S3E_INVALID_ARGUMENT, "Invalid Encoding Method specified in Request");
        return 0;
    }
    *url = enc != NULL && !strcmp(enc, "url");
    *max_keys = STORE_MAX_LIST;
    if (mk != NULL) {
        char *end;
        long v = strtol(mk, &end, 10);
        if (*mk == '\0' || *end != '\0' || v < 0) {
            gw_respond_error(r, S3E_INVALID_ARGUMENT, "max-keys must be a non-negative integer");
            return 0;
        }
        *max_keys = v > STORE_MAX_LIST ? STORE_MAX_LIST : (size_t)v;
    }
    return 1;
}

void gw_xml_elem_enc(struct s3_xml *x, int url, const char *name, const char *v)
{
    if (!url) {
        s3_xml_elem(x, name, v);
        return;
    }
    struct dbuf enc;
    dbuf_init(&enc, 4 * S3_MAX_KEY_LEN + 16);
    s3_uri_encode(&enc, v, strlen(v), 0);
    s3_xml_elemn(x, name, enc.ptr ? enc.ptr : "", enc.len);
    dbuf_release(&enc);
}

void gw_owner_xml(struct s3_xml *x, const char *owner)
{
    s3_xml_open(x, "Owner");
    s3_xml_elem(x, "ID", owner);
    s3_xml_elem(x, "DisplayName", owner);
    s3_xml_close(x, "Owner");
}

void gw_acl_render(struct s3_xml *x, struct dbuf *out, const struct s3_acl *acl)
{
    s3_xml_begin(x, out, "AccessControlPolicy");
    gw_owner_xml(x, acl->owner);
    s3_xml_open(x, "AccessControlList");
    for (size_t i = 0; i < acl->n; i++) {
        const struct s3_grant *g = &acl->g[i];
        int user = g->type == S3_GRANTEE_USER;
        /* The writer has no attributes: the grantee's xsi:type goes in as fixed text. */
        if (dbuf_adds(out, user ? "<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
                                  "xsi:type=\"CanonicalUser\">"
                                : "<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" "
                                  "xsi:type=\"Group\">") != 0)
            x->failed = 1;
        if (user) {
            s3_xml_elem(x, "ID", g->id);
            s3_xml_elem(x, "DisplayName", g->id);
        } else {
            s3_xml_elem(x, "URI", g->type == S3_GRANTEE_ALL_USERS ? S3_ACL_URI_ALL_USERS : S3_ACL_URI_AUTH_USERS);
        }
        s3_xml_close(x, "Grantee");
        s3_xml_elem(x, "Permission", s3_perm_name(g->perm));
        s3_xml_close(x, "Grant");
    }
    s3_xml_close(x, "AccessControlList");
    if (s3_xml_end(x, "AccessControlPolicy") != 0)
        x->failed = 1;
}

enum store_status gw_put_commit_object(struct gw_put *put, struct store *st, struct store_object *obj,
                                       enum store_status st_so_far)
{
    enum store_status ret = st_so_far;
    if (ret == STORE_OK)
        ret = gw_put_commit_blocks(put, st, &obj->extents, &obj->n_extents);
    if (ret == STORE_OK)
        ret = store_object_put(st, obj);
    if (ret == STORE_OK)
        ret = store_tx_commit(st);
    if (ret != STORE_OK) {
        store_tx_rollback(st);
        gw_put_orphan_blocks(put, st);
    } else {
        gw_put_mark_committed(put);
    }
    return ret;
}

void gw_put_fill_object(struct gw_put *p, struct store_object *obj)
{
    obj->size = (int64_t)gw_put_size(p);
    snprintf(obj->etag, sizeof(obj->etag), "%s", gw_put_md5_hex(p));
    obj->mtime_ms = now_ms();
    const char *ckv, *ck = gw_put_checksum(p, &ckv);
    if (ck != NULL) {
        char *m = gw_meta_set_checksum(obj->meta_json, ck, ckv);
        free(obj->meta_json);
        obj->meta_json = m;
    }
}
