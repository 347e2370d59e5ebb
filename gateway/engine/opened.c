/* opened.c — verified blocks kept in memory, shared by reference.
 *
 * Many small reads from one pack, or a reader right behind another, would
 * each fetch and authenticate the same block. The fetch pipeline (fetch.c)
 * hands each block it verified to this set instead of freeing it: at most
 * GW_OPENED_MAX bytes of unreferenced ones, least recently used out first,
 * less what uploads hold (put.c trims it as an upload takes a buffer).
 * Loop thread only.
 */
#include <stdlib.h>
#include <string.h>

#include "gateway/engine/cache.h"
#include "gateway/gw.h"

struct gw_opened {
    int64_t id, chat_id, message_id; /* with uuid: the block's identity (ids can be reused) */
    unsigned char uuid[16];
    unsigned char *buf;
    size_t off, len;
    int refs;
    struct gw_opened *prev, *next; /* head: most recent */
};

struct gw_opened_set {
    struct gw *gw;
    struct gw_opened *head, *tail; /* head: most recent */
    size_t bytes;                  /* kept, referenced or not */
};

void gw_opened_init(struct gw *gw)
{
    gw->opened = xcalloc(1, sizeof(*gw->opened));
    gw->opened->gw = gw;
}

void gw_opened_free(struct gw *gw)
{
    struct gw_opened_set *c = gw->opened;
    if (c == NULL)
        return;
    for (struct gw_opened *o = c->head; o;) {
        struct gw_opened *nx = o->next;
        bigbuf_free(o->buf);
        free(o);
        o = nx;
    }
    free(c);
    gw->opened = NULL;
}

static int same_block(const struct gw_opened *o, const struct store_block *b)
{
    return o->id == b->id && o->chat_id == b->chat_id && o->message_id == b->message_id &&
           memcmp(o->uuid, b->uuid, sizeof(o->uuid)) == 0;
}

static void op_unlink(struct gw_opened_set *c, struct gw_opened *o)
{
    DLIST_REMOVE_T(c->head, c->tail, o, prev, next);
}

static void op_push(struct gw_opened_set *c, struct gw_opened *o)
{
    DLIST_PUSH_T(c->head, c->tail, o, prev, next);
}

/* Uploads come first: while blocks upload, the verified blocks kept are at
 * most GW_OPENED_MAX less the upload buffers held (none from 4 blocks of
 * 16 MiB up), so a PUT right after a read does not hold both. */
static size_t op_limit(const struct gw_opened_set *c)
{
    size_t up = (size_t)c->gw->up_inflight * (size_t)c->gw->cfg.block_size;
    return up >= GW_OPENED_MAX ? 0 : GW_OPENED_MAX - up;
}

static void op_evict(struct gw_opened_set *c)
{
    size_t limit = op_limit(c);
    struct gw_opened *o = c->tail;
    while (o != NULL && c->bytes > limit) {
        struct gw_opened *prev = o->prev;
        if (o->refs == 0) {
            op_unlink(c, o);
            c->bytes -= o->len;
            bigbuf_free(o->buf);
            free(o);
        }
        o = prev;
    }
}

size_t gw_opened_bytes(const struct gw *gw)
{
    return gw->opened != NULL ? gw->opened->bytes : 0;
}

void gw_opened_trim(struct gw *gw)
{
    if (gw->opened != NULL)
        op_evict(gw->opened);
}

struct gw_opened *gw_opened_get(struct gw *gw, const struct store_block *blk)
{
    struct gw_opened_set *c = gw->opened;
    if (c == NULL || blk->chat_id == 0)
        return NULL;
    for (struct gw_opened *o = c->head; o; o = o->next)
        if (same_block(o, blk)) {
            o->refs++;
            op_unlink(c, o);
            op_push(c, o);
            return o;
        }
    return NULL;
}

const unsigned char *gw_opened_data(const struct gw_opened *o, size_t *len)
{
    *len = o->len;
    return o->buf + o->off;
}

void gw_opened_unref(struct gw *gw, struct gw_opened *o)
{
    ASSERT(o->refs > 0);
    o->refs--;
    if (gw->opened != NULL)
        op_evict(gw->opened);
}

/* Takes buf (plaintext at buf + off, len bytes) as blk's with refs
 * references, or returns NULL leaving buf to the caller: nothing is kept,
 * a block in the spool grows, one this large would crowd out the rest, or it
 * is kept already (two reads raced). The caller evicts afterwards. */
static struct gw_opened *op_add(struct gw *gw, const struct store_block *blk, unsigned char *buf, size_t off,
                                size_t len, int refs)
{
    struct gw_opened_set *c = gw->opened;
    if (c == NULL || blk->chat_id == 0 || len > GW_OPENED_MAX / 2)
        return NULL;
    for (struct gw_opened *o = c->head; o; o = o->next)
        if (same_block(o, blk))
            return NULL;
    struct gw_opened *o = xcalloc(1, sizeof(*o));
    o->id = blk->id;
    o->chat_id = blk->chat_id;
    o->message_id = blk->message_id;
    memcpy(o->uuid, blk->uuid, sizeof(o->uuid));
    o->buf = buf;
    o->off = off;
    o->len = len;
    o->refs = refs;
    op_push(c, o);
    c->bytes += len;
    return o;
}

struct gw_opened *gw_opened_adopt(struct gw *gw, const struct store_block *blk, unsigned char *buf, size_t off,
                                  size_t len)
{
    struct gw_opened *o = op_add(gw, blk, buf, off, len, 1);
    if (o != NULL)
        op_evict(gw->opened);
    return o;
}

int gw_opened_keep(struct gw *gw, const struct store_block *blk, unsigned char *buf, size_t off, size_t len)
{
    if (op_add(gw, blk, buf, off, len, 0) == NULL)
        return 0;
    op_evict(gw->opened); /* may free it at once: no reference holds it */
    return 1;
}
