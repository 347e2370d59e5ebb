/* put_int.h — the state of a put, shared by put.c (the pipeline on the loop)
 * and put_work.c (what runs on libuv's pool for it). Only these two include it. */
#ifndef TGS3_GW_PUT_INT_H
#define TGS3_GW_PUT_INT_H

#include <openssl/evp.h>

#include "gateway/blocks/blk.h"
#include "gateway/engine/stripe.h"
#include "gateway/gw.h"

/* What a check job of a buffered body verifies (CHECK_ALL: decode, then every check). */
enum { CHECK_ALL, CHECK_MD5, CHECK_SUM, CHECK_SHA256 };

/* One block of a put on its way through seal → journal → post. */
struct put_blk {
    struct gw_put *p;
    size_t i;
    uv_work_t work;
    unsigned char *buf;      /* job-owned document bytes (sealed, or a plain copy) */
    size_t buf_len;          /* bytes */
    enum blk_status seal_st; /* pool result */
    int slot;                /* holds an upload budget slot */
    int dedup;               /* reuses a live block through a journaled hold */
    int parked;              /* sealed, waiting for the body's verification */
    unsigned char *plain;    /* streamed: where the plaintext sits in buf (sealed in place) */
    size_t plain_len;
    enum store_status st;    /* journal result */
    struct store_block found;
    struct tg_call *call;
    struct gw_post_slot post; /* waiting for a (bot, chat) pair (sched.c) */
    struct gw_stripe_send *ss; /* a striped block's shards (stripe_send.c), or NULL: one document */
};

struct gw_put {
    struct gw *gw;
    char *data;
    size_t len;
    struct s3_auth auth; /* copy: the chunk-signature key lives here until verified */
    struct gw_body_check chk;
    char tag[40];
    gw_put_cb cb;
    void *ud;

    struct put_check {
        uv_work_t work;
        struct gw_put *p;
        int kind; /* CHECK_* */
        enum s3_err err;
    } checks[3];
    int verifying; /* check jobs outstanding */
    int verified;  /* every check passed */
    int early;     /* blocks started while the checks run */
    int gated;     /* a check can fail: sealed blocks wait for it before posting */
    enum s3_err verify_err;
    char md5_hex[33];

    size_t n_blocks;
    struct store_block *blocks;
    struct put_blk *bl;
    size_t next;     /* next block to start */
    size_t jobs;     /* seal jobs, journal jobs and posts outstanding */
    size_t done;     /* blocks posted or reused */
    size_t reused;   /* blocks found by dedup */
    size_t parked;   /* sealed blocks waiting for the checks */
    int failed;
    enum s3_err err;
    int finished;    /* callback delivered */
    int committed;   /* blocks belong to the index now */
    int freeing;     /* gw_put_free called: finish outstanding work, then clean up */
    int waiting;     /* in the upload FIFO */
    struct gw_put *wait_next;
    int packed;      /* went into a pack (pack.c): one extent, no blocks of its own */
    /* A streamed body (gw_put_start_body): blocks are read one at a time,
     * hashed in order by the lane (MD5, SHA-256), then sealed in place. */
    int streamed;
    struct gw_body *body;    /* NULL once gw_put_free let go of it */
    struct put_blk *reading; /* the block being read, or NULL */
    EVP_MD_CTX *md5_ctx, *sha_ctx;
    /* Two lanes hash the blocks in body order side by side, each on its own
     * pool thread: MD5 (the ETag), and SHA-256 with the x-amz-checksum (the
     * second runs only when one of them is asked for). A block is sealed once
     * every running lane is past it. */
    struct put_lane {
        struct gw_put *p;
        uv_work_t work;
        int which;        /* LANE_MD5, LANE_SHA */
        size_t next;      /* next block it hashes */
        int busy;         /* its job is on the pool (counted in verifying) */
        int last;         /* its block is the body's last (set on the loop before it runs) */
        enum s3_err err;  /* written by its job only */
    } lanes[2];
    size_t sealing;          /* blocks handed on to be sealed (every running lane through them) */
    /* A source other than a request body (gw_put_start_source): its length is
     * known once it reports its end; len and n_blocks are upper bounds until then. */
    struct s3_checksum_ctx *ck_ctx; /* streamed with an x-amz-checksum to verify, else NULL */
    const struct gw_put_source *src_ops;
    void *src;
    int64_t pack_block, pack_off;
};

/* libuv pool jobs (put_work.c), over job-owned state: */
void put_verify_work(uv_work_t *w); /* a buffered body: aws-chunked decode, Content-MD5, checksum, SHA-256 */
void put_seal_work(uv_work_t *w);   /* one block: keyed hash, identity, AES-256-GCM (or a plain copy) */
enum { LANE_MD5, LANE_SHA, PUT_LANES };
void put_lane_work(uv_work_t *w);   /* a streamed body: one lane's running hashes over its next block */

#endif
