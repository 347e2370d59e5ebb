/* upgrade.c — a block stored as one document posted again as a stripe of the configured layout.
 *
 * DESIGN
 * Blocks written before redundancy existed, or under --redundancy none, are
 * one document each. When new blocks are stripes, the scrub (scrub.c) hands
 * each such block here as its pass reaches it: an upgrade is a repair of
 * a stripe that has lost all of its K + M shards, whose source is the old
 * document. The shared path (rebuild.c) reads the document, authenticates
 * it whole as a read would, encodes every shard, journals them and posts
 * them into K + M distinct chats through the scheduler. Only a whole stripe
 * is swapped in: in one transaction (store_stripe_upgrade) the block row
 * names the new shards, their journal rows end and the old message goes to
 * the delete queue (after the grace period, so reads under way finish).
 * The block keeps its id, identity, sealing, hash and references, so
 * extents, dedup, packs and the block cache (keyed by identity: the
 * document the stripe rebuilds is the same bytes) go on as before. A stripe
 * that is not whole, or a block that changed meanwhile, ends every journal
 * row: the posted shards go to the delete queue and the block stays one
 * document for the next pass.
 *
 * Crash safety is the repair's: a kill before the swap leaves journal rows
 * (posted shards: deleted by the start-up sweep; unanswered posts: found by
 * the stray probe) and the old document still in the index; the scrub's
 * place in the index has not passed the block, so it is upgraded again.
 *
 * Priority: as a repair (gw_upgrade_may_start), one block at a time.
 *
 * Threads: the loop; verification and encoding on the pool (rebuild.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/engine/stripe.h"
#include "gateway/gw.h"

struct gw_upgrade {
    struct gw *gw;
    struct gw_rebuild rb;   /* rb.blk: the block as the scrub found it (its old document) */
    struct store_stripe sp; /* the stripe the index records */
    gw_upgrade_cb cb;
    void *ud;
    int whole;              /* every shard landed */
    int stopped;            /* gw_upgrade_stop: cb will not run */
    enum store_status st;
    char why[360];
};

int gw_upgrade_wanted(const struct gw *gw)
{
    return gw_stripe_wanted(gw) && gw->ec != NULL && gw->pool != NULL;
}

int gw_upgrade_may_start(const struct gw *gw)
{
    return gw->post_waiting == 0 && !gw_repair_busy(gw) && !gw->stopping;
}

static void up_free(struct gw_upgrade *up)
{
    gw_rebuild_release(&up->rb);
    free(up);
}

static void up_end(struct gw_upgrade *up, enum gw_upgrade_end end)
{
    if (!up->stopped)
        up->cb(up->ud, end, up->why);
    up_free(up);
}

/* ---- the swap ------------------------------------------------------------------- */

static void swap_run(struct store *st, void *arg)
{
    struct gw_upgrade *up = arg;
    const struct gw_rebuild *rb = &up->rb;
    int64_t now = now_ms();
    up->st = STORE_CONFLICT; /* not whole: nothing is swapped */
    if (up->whole)
        up->st = store_stripe_upgrade(st, rb->blk.id, rb->blk.chat_id, rb->blk.message_id, &up->sp, rb->ss.keys, now);
    /* Not swapped: every journal row ends, the posted shards' messages go. */
    if (up->st != STORE_OK && gw_rebuild_drop_rows(st, rb, NULL, now) != STORE_OK)
        log_error("upgrade: block %lld: cannot queue its new shards for deletion (the start-up sweep does)",
                  (long long)rb->blk.id);
}

static void swap_done(void *arg)
{
    struct gw_upgrade *up = arg;
    const struct gw_rebuild *rb = &up->rb;
    if (up->st == STORE_OK) {
        log_info("upgrade: block %lld (message %lld/%lld) is a stripe of %d+%d now; the old message is queued for "
                 "deletion",
                 (long long)rb->blk.id, (long long)rb->blk.chat_id, (long long)rb->blk.message_id, up->sp.k,
                 up->sp.m);
        up_end(up, GW_UPGRADE_DONE);
        return;
    }
    if (up->st == STORE_CONFLICT)
        snprintf(up->why, sizeof(up->why), "%d of its %d shards found a chat", rb->ss.n_posted,
                 rb->ss.k + rb->ss.m);
    else if (up->st == STORE_NOT_FOUND)
        snprintf(up->why, sizeof(up->why), "the block changed or went away meanwhile");
    else
        snprintf(up->why, sizeof(up->why), "cannot record its stripe: %s", store_status_name(up->st));
    log_warn("upgrade: block %lld stays one document for now: %s", (long long)rb->blk.id, up->why);
    up_end(up, GW_UPGRADE_LATER);
}

/* ---- the rebuild ---------------------------------------------------------------- */

static void on_rebuilt(struct gw_rebuild *rb)
{
    struct gw_upgrade *up = rb->ud;
    switch (rb->end) {
    case GW_REBUILD_STOPPED: /* journaled posts are swept at the next start */
        up_free(up);
        return;
    case GW_REBUILD_UNREAD:
        snprintf(up->why, sizeof(up->why), "cannot be read: %s", rb->why);
        up_end(up, GW_UPGRADE_BAD);
        return;
    case GW_REBUILD_BAD:
        snprintf(up->why, sizeof(up->why), "%s", rb->why);
        up_end(up, GW_UPGRADE_BAD);
        return;
    case GW_REBUILD_FAILED:
        snprintf(up->why, sizeof(up->why), "%s", rb->why);
        log_warn("upgrade: block %lld stays one document for now: %s", (long long)rb->blk.id, up->why);
        up_end(up, GW_UPGRADE_LATER);
        return;
    case GW_REBUILD_SENT:
        break;
    }
    struct store_block unused;
    up->whole = gw_stripe_stored(&rb->ss) && rb->ss.n_posted == rb->ss.k + rb->ss.m;
    if (up->whole)
        gw_stripe_result(&rb->ss, &unused, &up->sp);
    gw_store_call(up->gw, swap_run, swap_done, up);
}

struct gw_upgrade *gw_upgrade_start(struct gw *gw, const struct store_block *blk, gw_upgrade_cb cb, void *ud)
{
    ASSERT(gw_upgrade_wanted(gw) && blk->chat_id != 0);
    struct gw_upgrade *up = xcalloc(1, sizeof(*up));
    struct gw_rebuild *rb = &up->rb;
    up->gw = gw;
    up->cb = cb;
    up->ud = ud;
    rb->blk = *blk;
    rb->verify = 1; /* nothing else authenticated the one document it is read from */
    rb->journal = "upgrade";
    rb->ss.gw = gw;
    rb->ss.k = gw->red_k;
    rb->ss.m = gw->red_m;
    rb->ss.ec = gw->ec;
    snprintf(rb->ss.name, sizeof(rb->ss.name), "upgrade blk=%lld", (long long)blk->id);
    /* Every shard, in any chat: the old document's chat too, its message goes. */
    rb->n_want = gw->red_k + gw->red_m;
    for (int i = 0; i < rb->n_want; i++)
        rb->want[i] = i;
    rb->done = on_rebuilt;
    rb->ud = up;
    log_debug("upgrade: block %lld (message %lld/%lld): posting it as %d+%d", (long long)blk->id,
              (long long)blk->chat_id, (long long)blk->message_id, gw->red_k, gw->red_m);
    gw_rebuild_start(rb);
    return up;
}

void gw_upgrade_stop(struct gw_upgrade *up)
{
    up->stopped = 1;
    gw_rebuild_stop(&up->rb); /* a read under way ends now (on_rebuilt frees up) */
}
