/* damage.c — where damage is recorded: shards a read or a scrub found missing or corrupt, and
 * every shard of a lost chat, go to the durable repair queue in the index.
 *
 * Below the readers and the chat health that report damage, and below the
 * runner that mends it (repair.c), which it wakes through gw->repair_wake
 * (NULL in the tools, whose queued rows wait for the gateway).
 *
 * Threads: the loop; the rows are written on the store thread.
 */
#include <stdio.h>
#include <stdlib.h>

#include "gateway/engine/stripe.h"
#include "gateway/gw.h"

struct queue_job {
    struct gw *gw;
    int64_t id; /* block id, or chat id */
    int idx;    /* shard index; -1: every shard in chat id */
    char reason[64];
    int64_t added;
    enum store_status st;
};

static void queue_run(struct store *st, void *arg)
{
    struct queue_job *q = arg;
    q->added = 1;
    if (q->idx >= 0)
        q->st = store_repair_add(st, q->id, q->idx, q->reason, now_ms());
    else
        q->st = store_repair_add_chat(st, q->id, q->reason, now_ms(), &q->added);
}

static void queue_done(void *arg)
{
    struct queue_job *q = arg;
    if (q->st != STORE_OK)
        log_error("repair: cannot queue %s %lld: %s", q->idx >= 0 ? "a shard of block" : "the shards of chat",
                  (long long)q->id, store_status_name(q->st));
    else if (q->idx < 0)
        log_warn("repair: %lld shard(s) of chat %lld queued for rebuilding (%s)", (long long)q->added,
                 (long long)q->id, q->reason);
    if (q->gw->repair_wake != NULL)
        q->gw->repair_wake(q->gw);
    free(q);
}

static void queue(struct gw *gw, int64_t id, int idx, const char *reason)
{
    if (gw->storeq == NULL)
        return;
    struct queue_job *q = xcalloc(1, sizeof(*q));
    q->gw = gw;
    q->id = id;
    q->idx = idx;
    snprintf(q->reason, sizeof(q->reason), "%s", reason);
    gw_store_call(gw, queue_run, queue_done, q);
}

void gw_repair_shard(struct gw *gw, int64_t block_id, int idx, const char *reason)
{
    queue(gw, block_id, idx, reason);
}

void gw_repair_chat(struct gw *gw, int64_t chat_id, const char *reason)
{
    queue(gw, chat_id, -1, reason);
}
