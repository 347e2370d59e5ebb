/* access.c — bucket ownership when several users are configured.
 *
 * Each bucket belongs to the access key that created it (store buckets.owner).
 * With more than one --user, every request naming a bucket first reads that
 * bucket on the store thread: a bucket owned by someone else answers 403
 * AccessDenied; a missing bucket goes on to the handler, which answers
 * NoSuchBucket (or creates it). With a single user nothing is checked: every
 * bucket is that user's. CopyObject and UploadPartCopy check their source
 * bucket themselves (ops/copy.c).
 */
#include <stdlib.h>
#include <string.h>

#include "gateway/gw.h"

struct access_check {
    struct gw_req *r;
    char bucket[STORE_MAX_BUCKET + 1];
    struct store_bucket b;
    enum store_status st;
    void (*next)(struct gw_req *r);
};

static void access_run(struct store *st, void *arg)
{
    struct access_check *ac = arg;
    ac->st = store_bucket_get(st, ac->bucket, &ac->b);
}

static void access_done(void *arg)
{
    struct access_check *ac = arg;
    struct gw_req *r = ac->r;
    int denied = ac->st == STORE_OK && strcmp(ac->b.owner, gw_req_user(r)) != 0;
    if (ac->st == STORE_OK)
        store_bucket_id_of(&ac->b, &r->bucket_id);
    void (*next)(struct gw_req *) = ac->next;
    free(ac);
    if (!gw_req_release(r))
        return;
    if (denied)
        gw_respond_error(r, S3E_ACCESS_DENIED, NULL);
    else
        next(r);
}

int gw_access_needed(const struct gw_req *r)
{
    return r->gw->cfg.n_users > 1 && r->route.bucket[0] != '\0' && r->route.op != S3_OP_CREATE_BUCKET;
}

int gw_access_visible(const struct gw_req *r, const struct store_bucket *b)
{
    return r->gw->cfg.n_users <= 1 || strcmp(b->owner, r->has_auth ? r->auth.access_key : "") == 0;
}

void gw_access_check(struct gw_req *r, void (*next)(struct gw_req *r))
{
    struct access_check *ac = xcalloc(1, sizeof(*ac));
    ac->r = r;
    memcpy(ac->bucket, r->route.bucket, sizeof(ac->bucket));
    ac->next = next;
    gw_req_hold(r);
    gw_store_call(r->gw, access_run, access_done, ac);
}
