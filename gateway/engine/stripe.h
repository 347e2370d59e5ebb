/* stripe.h — a block as K data + M parity shards in different chats: posting a stripe
 * (stripe_send.c), reading a block from any K good shards (stripe_read.c), the
 * Reed–Solomon tables of each layout, posting shards again from a block's document
 * (rebuild.c: repair.c's missing shards, upgrade.c's whole stripe of a block stored as
 * one document). Part of the engine; gw.h is the rest of the gateway.
 */
#ifndef TGS3_GW_STRIPE_H
#define TGS3_GW_STRIPE_H

#include "gateway/blocks/shard.h"
#include "gateway/gw.h"

struct gw_stripe_send;
struct gw_stripe_shard { /* one shard's way to a pair (private to stripe_send.c) */
    struct gw_stripe_send *ss;
    int idx;
    size_t chat;     /* the chat of its last placement (index) */
    int64_t bot_id;
    struct gw_post_slot post;
};
/* Posting one stripe. The caller sets gw, k, m, ec, name, done and ud (and
 * skip, held_chats for a repair), encodes the sealed block into it
 * (gw_stripe_encode, on the pool), journals a row per shard under keys[i]
 * and starts it (loop). Each shard Telegram confirms is journaled
 * (store_inflight_posted) before anything else happens to it; done runs
 * once every shard has an answer: gw_stripe_stored then says whether at
 * least K shards landed. */
struct gw_stripe_send {
    struct gw *gw;
    int k, m;
    struct blk_ec *ec; /* gw_ec_for(k, m) */
    char name[96];   /* "put=TAG blk=I/N": captions, file names and logs */
    unsigned char skip[STORE_MAX_SHARDS]; /* 1: not posted (a repair posts only the missing shards) */
    int64_t held_chats[STORE_MAX_SHARDS]; /* chats already holding a shard of the stripe */
    int n_held;
    void (*done)(struct gw_stripe_send *ss);
    void *ud;
    /* set by gw_stripe_encode */
    unsigned char *bodies; /* the caller's buffer: K + M bodies of shard_len bytes */
    size_t shard_len, sealed_len;
    unsigned char hdr[STORE_MAX_SHARDS][BLK_SHARD_HEADER_LEN];
    unsigned char tag[STORE_MAX_SHARDS][BLK_SHARD_TAG_LEN];
    unsigned char keys[STORE_MAX_SHARDS][16]; /* each shard's journal identity, named in its caption */
    /* results */
    struct store_shard sh[STORE_MAX_SHARDS]; /* shards posted, in answer order */
    int n_posted;
    int broken;      /* Telegram recorded a shard with another size */
    enum s3_err err; /* why a shard was not stored */
    /* private */
    struct gw_stripe_shard slots[STORE_MAX_SHARDS];
    unsigned char *avoid; /* per chat: a shard of this stripe is there or on its way */
    int outstanding, abandon;
};
/* The Reed–Solomon tables for k + m, made on first use and kept (at most 8
 * layouts; NULL beyond, or for an invalid one). Loop thread; the tables
 * themselves are immutable and used on the pool. */
struct blk_ec *gw_ec_for(struct gw *gw, int k, int m);
/* Frees every table gw_ec_for made (at shutdown). */
void gw_ec_free_all(struct gw *gw);
/* Reads blk's sealed document: one document through reader.c, or, for a
 * block stored as a stripe, any K good shards, rebuilt. cb as for
 * tg_fetch_file, exactly once unless cancelled. */
struct gw_block_read;
struct gw_block_read *gw_block_read_start(struct gw *gw, const struct store_block *blk, tg_fetch_cb cb, void *ud);
/* The same for a stripe the caller knows (not in the index: a chain document of safety/chain.h). */
struct gw_block_read *gw_block_read_stripe(struct gw *gw, const struct store_block *blk, const struct store_stripe *sp,
                                           tg_fetch_cb cb, void *ud);
void gw_block_read_cancel(struct gw_block_read *br);
/* A shard as a document reader.c can fetch (through its uploader, else another bot). */
void gw_shard_doc(const struct store_shard *sh, struct store_block *out);
/* Bytes a block buffer needs for a sealed document of sealed_len bytes under the configured layout. */
size_t gw_stripe_capacity(const struct gw *gw, size_t sealed_len);
/* 1 when blocks are written as stripes (--redundancy other than none). */
int gw_stripe_wanted(const struct gw *gw);
/* Pool thread: pads, computes parity and seals every shard of the sealed
 * document buf[0..sealed_len) (buf holds gw_stripe_capacity bytes). */
enum blk_status gw_stripe_encode(struct gw_stripe_send *ss, const struct blk_keyring *kr, const unsigned char *id,
                                 unsigned char *buf, size_t sealed_len) WARN_UNUSED;
void gw_stripe_send_start(struct gw_stripe_send *ss);
/* The owner is failing: shards still waiting for a pair are not posted. */
void gw_stripe_send_abandon(struct gw_stripe_send *ss);
/* Frees what the stripe allocated (not the struct, not the bodies). */
void gw_stripe_send_release(struct gw_stripe_send *ss);
int gw_stripe_stored(const struct gw_stripe_send *ss);
/* Fills blk's document fields from the stripe's lowest shard (its row in blocks) and
 * out with the stripe as the index records it (shards in idx order). */
void gw_stripe_result(const struct gw_stripe_send *ss, struct store_block *blk, struct store_stripe *out);

/* ---- posting shards again from the block's sealed document (rebuild.c) ---- */

/* How a rebuild ended. */
enum gw_rebuild_end {
    GW_REBUILD_SENT,    /* journaled and posted: ss says which shards landed; the caller swaps them in */
    GW_REBUILD_UNREAD,  /* the block could not be read (why) */
    GW_REBUILD_BAD,     /* the document read failed verification (why; only with verify) */
    GW_REBUILD_FAILED,  /* it could not be encoded or journaled (why) */
    GW_REBUILD_STOPPED, /* gw_rebuild_stop */
};
/* One block's shards posted again: its sealed document read (from any K
 * good shards, or its one document: gw_block_read_start), with verify set
 * authenticated whole as a read would (gw_block_open, on the pool), encoded
 * into the stripe ss describes (gw_stripe_encode, fresh shard identities), a
 * journal row written per wanted shard, and the wanted shards posted
 * (gw_stripe_send_start). done runs once, on the loop; the caller then
 * records what landed in one store job and ends the other journal rows
 * (gw_rebuild_drop_rows), or leaves them to the start-up sweep. The caller
 * sets blk, want, verify, journal, done, ud and, in ss, gw, k, m, ec, name
 * and the chats already holding a shard (held_chats, n_held); the rest is
 * rebuild.c's. Memory: the document, and with verify a copy of it, plus the
 * stripe's bodies, until gw_rebuild_release. Loop thread. */
struct gw_rebuild {
    struct store_block blk;     /* its id, uuid and sealing; stored_size: bytes of the sealed document */
    int want[STORE_MAX_SHARDS]; /* shard indexes to post, ascending */
    int n_want;
    int verify;
    const char *journal;        /* the journal rows' tag ("repair", "upgrade") */
    struct gw_stripe_send ss;
    void (*done)(struct gw_rebuild *rb);
    void *ud;
    /* results */
    enum gw_rebuild_end end;
    char why[320];              /* a sentence for the log */
    int journaled;              /* rows were written for want (gw_rebuild_drop_rows ends them) */
    /* private */
    struct gw_block_read *read;
    unsigned char *doc, *buf;   /* bigbufs: the document read (verify), the stripe's bodies */
    size_t sealed_len;
    int bad, stopping;
    enum blk_status st;
    enum store_status sst;
    uv_work_t work;
};
void gw_rebuild_start(struct gw_rebuild *rb);
/* No further stage starts and shards still waiting for a pair are not
 * posted; a read under way is cancelled and done runs now (STOPPED), else it
 * runs when the stage under way ends (STOPPED). Journal rows written stay
 * for the start-up sweep. */
void gw_rebuild_stop(struct gw_rebuild *rb);
/* Frees what the rebuild holds (not rb). */
void gw_rebuild_release(struct gw_rebuild *rb);
/* Store thread: ends the journal rows of the wanted shards not marked in
 * kept (by shard index; NULL: none kept), their posted messages queued for
 * deletion at now_ms. */
enum store_status gw_rebuild_drop_rows(struct store *st, const struct gw_rebuild *rb, const unsigned char *kept,
                                       int64_t now_ms) WARN_UNUSED;

/* ---- a block stored as one document posted again as a stripe (upgrade.c) ---- */

/* How an upgrade ended: the block is a whole stripe of the configured
 * layout; or its document cannot be read or fails verification (left as
 * it is); or it verified but stays one document this time (a shard found no
 * chat, the index changed or failed): the next pass tries again. */
enum gw_upgrade_end { GW_UPGRADE_DONE, GW_UPGRADE_BAD, GW_UPGRADE_LATER };
typedef void (*gw_upgrade_cb)(void *ud, enum gw_upgrade_end end, const char *why);
/* 1 when blocks stored as one document are to be upgraded: new blocks are
 * stripes and this process posts (it runs the scheduler, so it holds the
 * data dir: serve, or tgs3 scrub with the gateway stopped). */
int gw_upgrade_wanted(const struct gw *gw);
/* 1 when an upgrade may start now: it goes at the repair's priority, so
 * only while no client document waits for a pair and no repair runs. */
int gw_upgrade_may_start(const struct gw *gw);
/* Upgrades blk (a row of a block stored as one document, posted): reads
 * and verifies it, posts it as a stripe of gw->red_k + gw->red_m into
 * distinct chats, swaps the index to the stripe in one transaction
 * (store_stripe_upgrade) and queues the old message for deletion. cb runs
 * once, on the loop, unless stopped. One at a time (gw_upgrade_may_start). */
struct gw_upgrade;
struct gw_upgrade *gw_upgrade_start(struct gw *gw, const struct store_block *blk, gw_upgrade_cb cb, void *ud);
/* cb will not run; the upgrade frees itself once the stage under way ends
 * (journaled posts are swept at the next start, the block stays one document). */
void gw_upgrade_stop(struct gw_upgrade *up);

#endif
