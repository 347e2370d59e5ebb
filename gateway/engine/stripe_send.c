/* stripe_send.c — posting a sealed block as K data + M parity shards, each into a different chat.
 *
 * DESIGN
 * The caller seals a block into the bodies of a struct gw_stripe_send
 * (gw_stripe_encode, on libuv's pool: zero padding, Reed–Solomon parity
 * from ISA-L, each shard's header and tag) and starts it. Every shard waits
 * in the scheduler (sched.c) for a (bot, chat) pair whose chat holds no
 * other shard of the stripe (the stripe's avoid bytes: a chat is marked
 * while a shard is in flight there or has landed there), and is posted from
 * three pieces of memory: header, body, tag. A shard refused because its
 * chat is gone (deleted, banned, the bot kicked or without rights) closes
 * that chat to new posts (the health check reopens it) and is placed again
 * elsewhere (chats.c); passing trouble is retried as for any post. When every shard
 * has an answer the stripe is done: with at least K shards posted it is
 * stored (degraded when fewer than K + M, to be made whole by repair), else
 * it failed and whatever it posted is the caller's to queue for deletion.
 *
 * Each shard's caption names its own journal identity (keys[i]), so a post
 * whose answer was lost is found by the stray probe like a block's.
 *
 * Threads: gw_stripe_encode on the pool (touches only the stripe); the
 * rest on the loop.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/blocks/shard.h"
#include "gateway/engine/stripe.h"
#include "gateway/gw.h"

#define SHARD_PLACEMENTS 8 /* chats one shard tries before it is given up */

int gw_stripe_wanted(const struct gw *gw)
{
    return gw->red_k >= 1 && (gw->red_k > 1 || gw->red_m > 0);
}

size_t gw_stripe_capacity(const struct gw *gw, size_t sealed_len)
{
    if (!gw_stripe_wanted(gw))
        return sealed_len;
    return blk_shard_len(sealed_len, gw->red_k) * (size_t)(gw->red_k + gw->red_m);
}


enum blk_status gw_stripe_encode(struct gw_stripe_send *ss, const struct blk_keyring *kr, const unsigned char *id,
                                 unsigned char *buf, size_t sealed_len)
{
    int n = ss->k + ss->m;
    size_t s = blk_shard_len(sealed_len, ss->k);
    unsigned char *data[STORE_MAX_SHARDS], *parity[STORE_MAX_SHARDS];
    enum blk_status st;

    ss->bodies = buf;
    ss->shard_len = s;
    ss->sealed_len = sealed_len;
    memset(buf + sealed_len, 0, s * (size_t)ss->k - sealed_len);
    for (int i = 0; i < ss->k; i++)
        data[i] = buf + (size_t)i * s;
    for (int j = 0; j < ss->m; j++)
        parity[j] = buf + (size_t)(ss->k + j) * s;
    if (ss->m > 0)
        blk_ec_encode(ss->ec, s, data, parity);
    st = blk_random(ss->keys, sizeof(ss->keys[0]) * (size_t)n);
    for (int i = 0; i < n && st == BLK_OK; i++)
        st = blk_shard_seal(kr, id, i, ss->k, ss->m, sealed_len, buf + (size_t)i * s, s, ss->hdr[i], ss->tag[i]);
    return st;
}

static void shard_finish(struct gw_stripe_send *ss)
{
    if (--ss->outstanding > 0)
        return;
    ss->done(ss);
}

static void on_shard_sent(void *ud, const struct tg_result *res, const struct tg_document *doc);

static void on_shard_pair(struct gw_post_slot *s, size_t bot, size_t chat)
{
    struct gw_stripe_shard *sh = (struct gw_stripe_shard *)(void *)((char *)s - offsetof(struct gw_stripe_shard, post));
    struct gw_stripe_send *ss = sh->ss;
    struct gw *gw = ss->gw;
    size_t s_len = ss->shard_len;
    int i = sh->idx;
    char fname[128], caption[256], key_hex[33];

    if (ss->abandon) {
        shard_finish(ss);
        return;
    }
    ss->avoid[chat] = 1;
    sh->chat = chat;
    sh->bot_id = gw->bots[bot].id;
    hex_encode(ss->keys[i], sizeof(ss->keys[i]), key_hex);
    snprintf(fname, sizeof(fname), "tgs3-%s-%d.bin", ss->name, i);
    snprintf(caption, sizeof(caption), "tgs3 v1 %s shard=%d/%d+%d len=%zu id=%s", ss->name, i, ss->k, ss->m,
             s_len, key_hex);
    struct tg_iov iov[3] = {
        {ss->hdr[i], BLK_SHARD_HEADER_LEN},
        {ss->bodies + (size_t)i * s_len, s_len},
        {ss->tag[i], BLK_SHARD_TAG_LEN},
    };
    gw_post_document_iov(gw, bot, chat, iov, 3, fname, caption, on_shard_sent, sh);
}

static void on_shard_expired(struct gw_post_slot *s)
{
    struct gw_stripe_shard *sh = (struct gw_stripe_shard *)(void *)((char *)s - offsetof(struct gw_stripe_shard, post));
    struct gw_stripe_send *ss = sh->ss;
    if (ss->err == S3E_OK)
        ss->err = S3E_SLOW_DOWN;
    shard_finish(ss);
}

/* Queues shard sh for a pair; the chats of the stripe's other shards are avoided. */
static void shard_place(struct gw_stripe_shard *sh)
{
    sh->post.go = on_shard_pair;
    sh->post.expired = on_shard_expired;
    sh->post.avoid = sh->ss->avoid;
    gw_sched_enqueue(sh->ss->gw, &sh->post);
}

static void on_shard_sent(void *ud, const struct tg_result *res, const struct tg_document *doc)
{
    struct gw_stripe_shard *sh = ud;
    struct gw_stripe_send *ss = sh->ss;
    struct gw *gw = ss->gw;
    size_t want = ss->shard_len + BLK_SHARD_OVERHEAD;
    int i = sh->idx;

    if (res->status == TG_OK && doc != NULL) {
        gw_sched_done(gw, &sh->post, res, 1);
        struct store_shard *out = &ss->sh[ss->n_posted];
        out->idx = i;
        out->chat_id = doc->chat_id;
        out->message_id = doc->message_id;
        out->bot_id = sh->bot_id;
        snprintf(out->file_id, sizeof(out->file_id), "%s", doc->file_id);
        snprintf(out->file_unique_id, sizeof(out->file_unique_id), "%s", doc->file_unique_id);
        out->size = doc->file_size;
        out->created_ms = now_ms();
        if (doc->message_id <= 0 || (size_t)doc->file_size != want) {
            log_error("%s: shard %d: Telegram recorded %lld bytes as message %lld/%lld, %zu were sent", ss->name, i,
                      (long long)doc->file_size, (long long)doc->chat_id, (long long)doc->message_id, want);
            ss->broken = 1;
        }
        ss->n_posted++;
        gw_journal_posted(gw, ss->keys[i], out->chat_id, out->bot_id, out->message_id);
        shard_finish(ss);
        return;
    }
    int gone = tg_result_chat_refused(res);
    if (gone)
        gw_chat_refused(gw, sh->chat, res->description);
    if (!gone)
        ss->avoid[sh->chat] = 0;
    if (!ss->abandon && gw_sched_done(gw, &sh->post, res, gone))
        return; /* placed again by the scheduler */
    if (!ss->abandon && gone && sh->post.placements < SHARD_PLACEMENTS) {
        shard_place(sh);
        return;
    }
    if (ss->err == S3E_OK || ss->err == S3E_SLOW_DOWN)
        ss->err = res->status == TG_OK ? S3E_INTERNAL_ERROR : gw_tg_err(res);
    log_warn("%s: shard %d not stored: %s (%s, http %d)", ss->name, i, tg_status_name(res->status), res->description,
             res->http_status);
    shard_finish(ss);
}

void gw_stripe_send_start(struct gw_stripe_send *ss)
{
    int n = ss->k + ss->m;
    ss->avoid = xcalloc(ss->gw->cfg.n_chat_ids ? ss->gw->cfg.n_chat_ids : 1, 1);
    for (int i = 0; i < ss->n_held; i++) {
        int ci = gw_chat_index(ss->gw, ss->held_chats[i]);
        if (ci >= 0)
            ss->avoid[ci] = 1;
    }
    ss->outstanding = 1; /* held until every shard is placed: done runs after the loop at the earliest */
    ss->n_posted = 0;
    ss->err = S3E_OK;
    for (int i = 0; i < n; i++) {
        struct gw_stripe_shard *sh = &ss->slots[i];
        memset(sh, 0, sizeof(*sh));
        sh->ss = ss;
        sh->idx = i;
        if (ss->skip[i])
            continue;
        ss->outstanding++;
        shard_place(sh);
    }
    shard_finish(ss);
}

void gw_stripe_send_abandon(struct gw_stripe_send *ss)
{
    ss->abandon = 1;
}

void gw_stripe_send_release(struct gw_stripe_send *ss)
{
    if (ss == NULL)
        return;
    free(ss->avoid);
    ss->avoid = NULL;
}

int gw_stripe_stored(const struct gw_stripe_send *ss)
{
    return !ss->broken && ss->n_posted >= ss->k;
}

static int by_idx(const void *a, const void *b)
{
    const struct store_shard *x = a, *y = b;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

void gw_stripe_result(const struct gw_stripe_send *ss, struct store_block *blk, struct store_stripe *out)
{
    memset(out, 0, sizeof(*out));
    out->k = ss->k;
    out->m = ss->m;
    out->sealed_size = (int64_t)ss->sealed_len;
    out->n = ss->n_posted;
    memcpy(out->sh, ss->sh, sizeof(ss->sh[0]) * (size_t)ss->n_posted);
    qsort(out->sh, (size_t)out->n, sizeof(out->sh[0]), by_idx);
    if (out->n == 0)
        return;
    const struct store_shard *first = &out->sh[0];
    blk->chat_id = first->chat_id;
    blk->message_id = first->message_id;
    blk->bot_id = first->bot_id;
    snprintf(blk->file_id, sizeof(blk->file_id), "%s", first->file_id);
    snprintf(blk->file_unique_id, sizeof(blk->file_unique_id), "%s", first->file_unique_id);
    blk->stored_size = (int64_t)ss->sealed_len; /* the document the shards rebuild */
    blk->created_ms = first->created_ms;
}
