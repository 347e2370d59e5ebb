/* put_commit.c — a put's blocks and the index: into an object's extents, or queued for deletion.
 *
 * Called by the operations, on the store thread, inside the transaction that
 * writes the object or the part (gw_put_commit_blocks; gw_put_orphan_blocks
 * when that transaction fails), and on the loop once it committed
 * (gw_put_mark_committed, which releases the dedup holds). put.c's clean-up
 * queues what an abandoned put posted through gw_put_orphan_blocks too.
 * Reads only the put's finished state: the blocks, their stripes, their holds.
 */
#include <string.h>

#include "gateway/engine/put_int.h"
#include "gateway/engine/stripe.h"
#include "gateway/gw.h"

/* Store thread: block_id's stripe into the index, its shards' journal rows ended. */
static enum store_status commit_stripe(struct store *st, const struct put_blk *c, int64_t block_id)
{
    struct store_stripe *sp = xmalloc(sizeof(*sp));
    struct store_block unused;
    enum store_status s;
    unsigned char have[STORE_MAX_SHARDS] = {0};
    gw_stripe_result(c->ss, &unused, sp);
    s = store_stripe_insert(st, block_id, sp);
    /* Stored degraded: the shards that found no chat are rebuilt by repair. */
    for (int k = 0; k < sp->n; k++)
        have[sp->sh[k].idx] = 1;
    for (int k = 0; s == STORE_OK && k < sp->k + sp->m; k++)
        if (!have[k])
            s = store_repair_add(st, block_id, k, "stored degraded", now_ms());
    for (int k = 0; s == STORE_OK && k < c->ss->k + c->ss->m; k++)
        s = store_inflight_end(st, c->ss->keys[k], 1, now_ms());
    free(sp);
    return s;
}

enum store_status gw_put_commit_blocks(struct gw_put *p, struct store *st, struct store_extent **ext, size_t *n)
{
    *ext = NULL;
    *n = 0;
    if (p->packed) {
        struct store_extent *e = xcalloc(1, sizeof(*e));
        e->block_id = p->pack_block;
        e->offset = p->pack_off;
        e->length = (int64_t)p->len;
        *ext = e;
        *n = 1;
        return STORE_OK;
    }
    if (p->n_blocks == 0)
        return STORE_OK;
    struct store_extent *e = xcalloc(p->n_blocks, sizeof(*e));
    for (size_t i = 0; i < p->n_blocks; i++) {
        enum store_status s = STORE_OK;
        if (!p->bl[i].dedup) {
            s = store_block_insert(st, &p->blocks[i]);
            /* The block belongs to the index now: its journal rows go in the same transaction. */
            if (s == STORE_OK && p->bl[i].ss != NULL)
                s = commit_stripe(st, &p->bl[i], p->blocks[i].id);
            else if (s == STORE_OK)
                s = store_inflight_end(st, p->blocks[i].uuid, 1, now_ms());
        }
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
    int64_t now = now_ms();
    for (size_t i = 0; p->bl && i < p->n_blocks && i < p->next; i++) {
        struct store_block *b = &p->blocks[i];
        enum store_status s = STORE_OK;
        if (!p->bl[i].dedup && b->message_id != 0)
            s = store_gc_enqueue_posted(st, b->chat_id, b->message_id, b->bot_id, b->created_ms, now);
        if (s == STORE_OK)
            s = store_inflight_end(st, b->uuid, 0, now); /* releases a dedup hold */
        /* A stripe's shards: each journal row queues its posted message, if any. */
        for (int k = 0; s == STORE_OK && p->bl[i].ss != NULL && !p->bl[i].dedup && k < p->bl[i].ss->k + p->bl[i].ss->m;
             k++)
            s = store_inflight_end(st, p->bl[i].ss->keys[k], 0, now);
        if (s != STORE_OK)
            log_error("put %s: cannot queue stray block %lld/%lld for deletion: %s (the start-up sweep retries)",
                      p->tag, (long long)b->chat_id, (long long)b->message_id, store_status_name(s));
        b->message_id = 0;
        p->bl[i].dedup = 0;
    }
}

struct release_job {
    size_t n;
    unsigned char (*uuids)[16];
};

static void release_run(struct store *st, void *arg)
{
    struct release_job *j = arg;
    for (size_t i = 0; i < j->n; i++) {
        enum store_status s = store_inflight_end(st, j->uuids[i], 1, now_ms());
        if (s != STORE_OK)
            log_error("journal: cannot release a dedup hold: %s (the start-up sweep retries)",
                      store_status_name(s));
    }
}

static void release_done(void *arg)
{
    struct release_job *j = arg;
    free(j->uuids);
    free(j);
}

/* Marks the put's blocks as owned by the index (the caller's transaction
 * committed) and releases the dedup holds: the object's extents hold those
 * blocks now. Until the release runs the counts are one too high, never too
 * low; a crash in between is settled by the start-up sweep. */
void gw_put_mark_committed(struct gw_put *p)
{
    p->committed = 1;
    if (p->reused == 0)
        return;
    struct release_job *j = xcalloc(1, sizeof(*j));
    j->uuids = xcalloc(p->reused, sizeof(*j->uuids));
    for (size_t i = 0; i < p->n_blocks && j->n < p->reused; i++)
        if (p->bl[i].dedup) {
            memcpy(j->uuids[j->n++], p->blocks[i].uuid, 16);
            p->bl[i].dedup = 0;
        }
    gw_store_call(p->gw, release_run, release_done, j);
}
