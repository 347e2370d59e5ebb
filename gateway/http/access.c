/* access.c — bucket ownership when several users are configured, and the
 * bucket lookup it shares with the handlers (gw_with_bucket).
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

/* ---- a request's bucket, read before it goes on ------------------------------------ */

struct bucket_step {
    gw_bucket_check_fn check;
    void (*next)(struct gw_req *r);
    enum store_status found;
    struct store_bucket b;
};

static enum s3_err bucket_step_run(struct store *st, struct gw_req *r, void *arg)
{
    struct bucket_step *bs = arg;
    bs->found = store_bucket_get(st, r->route.bucket, &bs->b);
    return bs->check(st, r, bs->found, &bs->b);
}

static void bucket_step_done(struct gw_req *r, void *arg)
{
    struct bucket_step *bs = arg;
    if (bs->found == STORE_OK && r->bucket_id.owner[0] == '\0')
        store_bucket_id_of(&bs->b, &r->bucket_id);
    bs->next(r);
}

void gw_with_bucket(struct gw_req *r, gw_bucket_check_fn check, void (*next)(struct gw_req *r))
{
    struct bucket_step *bs = xcalloc(1, sizeof(*bs));
    bs->check = check;
    bs->next = next;
    gw_req_store_call(r, bucket_step_run, bucket_step_done, bs, free);
}

/* ---- ownership -------------------------------------------------------------------- */

/* A bucket someone else owns is refused; a missing one (or one the index
 * cannot read now) is left to the handler. */
static enum s3_err owner_check(struct store *st, struct gw_req *r, enum store_status found,
                               const struct store_bucket *b)
{
    (void)st;
    return found == STORE_OK && strcmp(b->owner, gw_req_user(r)) != 0 ? S3E_ACCESS_DENIED : S3E_OK;
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
    gw_with_bucket(r, owner_check, next);
}
