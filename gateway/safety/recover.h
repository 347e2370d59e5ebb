/* recover.h — the state of tgs3 recover, shared by recover.c (the snapshot,
 * the journal, what the recovered index records, the command) and
 * recover_walk.c (the chats' pins, the head, the walk of the chain's
 * documents). Only these two include it.
 *
 * Everything here runs on the tool's main thread, which drives the loop:
 * a function that reads from Telegram runs the loop until its reads are in.
 */
#ifndef TGS3_GW_RECOVER_H
#define TGS3_GW_RECOVER_H

#include <stddef.h>
#include <stdint.h>

#include "gateway/safety/chain.h"

#define DOC_READS 8                 /* chain documents read at once */
#define BLOCK_READS 4               /* snapshot blocks read (and held) at once */
#define HOLD_MAX (256u << 20)       /* bytes of document plaintext kept between the walk and the apply */
#define PIN_MAX (1LL << 30)         /* bytes: a pinned document larger than this is not fetched */
#define MAX_DOCS (1LL << 22)        /* documents of one chain (the table seq -> ref is dense) */

enum { D_UNKNOWN, D_KNOWN, D_READING, D_READ, D_BAD };

/* One document of the chain being recovered (seq 0: the manifest). */
struct doc {
    unsigned char *ref;   /* encoded chain_ref (malloc'd); NULL while none was learnt */
    size_t ref_len;
    unsigned char *plain; /* its plaintext while held (malloc'd) */
    size_t plain_len;
    int state;            /* D_* */
};

/* A chat's pinned chain document. */
struct pin {
    size_t ci;            /* index into cfg.chat_ids */
    int64_t chat_id, message_id;
    size_t bot;           /* index into gw->bots of the bot that saw it: the file_id is this bot's */
    unsigned char chain[CHAIN_ID_LEN];
    int64_t chain_at, seq;
    int64_t file_size;    /* bytes */
    char file_id[TG_MAX_FILE_ID];
};

/* One run of the tool: the chats' pins, the chain being tried, what came out of it. */
struct rc {
    struct gw *gw;
    const char *who;          /* the tool, naming its messages: "tgs3 recover", "tgs3 fsck" */
    struct chain_journal *jd; /* decoding scratch (CHAIN_MAX_REFS refs: too large for the stack) */
    /* 1. pins */
    struct pin *pins;
    size_t n_pins;
    int asking;               /* getChat calls outstanding */
    /* 2.-5. the chain being tried */
    unsigned char chain[CHAIN_ID_LEN];
    char chain_hex[2 * CHAIN_ID_LEN + 1];
    int64_t chain_at, head;
    struct doc *docs;         /* [0..head] */
    int64_t cursor;           /* no document above it is D_KNOWN */
    int reading;              /* walk reads outstanding */
    size_t held;              /* bytes of plaintext held in docs */
    int64_t n_read, n_bad;
    /* what came out */
    int64_t applied;          /* the last journal document applied */
    int64_t last_ms;          /* created_ms of the snapshot or of that document */
    uint32_t n_blocks;
    uint64_t index_size;
    struct chain_manifest mf; /* the chain's manifest, once read (have_mf) */
    int have_mf;
};

/* ---- recover_walk.c: the pins, the head, the walk ---- */

/* A message on stderr, after "WHO: ". */
void rc_warn(const struct rc *rc, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* ms (since the epoch) as UTC text into out (cap bytes), or "unknown" for none. */
void rc_ms_text(int64_t ms, char *out, size_t cap);

/* Asks every configured chat for its pin at once (each first by a bot of its
 * own, then by the others in turn) and runs the loop until all answered.
 * rc->pins (malloc'd, rc's) gets every pinned chain document, newest first;
 * a chat that no bot can read is reported and skipped. */
void rc_ask_chats(struct rc *rc);

/* Reads and opens p's document as the head of its chain: 0 with rc's chain,
 * head and docs set up (the head's plaintext held, the refs it names learnt),
 * or -1 (reported) with rc possibly half set up: rc_chain_reset clears it. */
int rc_head_open(struct rc *rc, const struct pin *p);

/* Reads every document of the chain that the ones read name, DOC_READS at
 * once and the highest first, until no read is outstanding; prints the
 * totals. Each document ends D_READ (its plaintext held while the total stays
 * under HOLD_MAX), D_BAD (reported), or with no ref (named by none read). */
void rc_walk(struct rc *rc);

/* Document seq's plaintext: held (*owned 0: rc keeps it), or read again,
 * running the loop (*owned 1: the caller frees it); NULL with err (cap bytes)
 * when it cannot be had. */
unsigned char *rc_doc_plain(struct rc *rc, int64_t seq, size_t *len, int *owned, char *err, size_t cap);

/* Frees document seq's held plaintext, if any; rc_doc_plain reads it again when asked. */
void rc_doc_drop(struct rc *rc, int64_t seq);

/* Frees the chain being tried (its documents' refs and plaintexts, its
 * manifest) and zeroes the counters of the walk and of what came out; rc's pins and jd stay, and so
 * do chain and chain_hex (for the messages that follow). Safe on a chain never
 * set up. */
void rc_chain_reset(struct rc *rc);

/* plain as journal document seq of rc's chain: 0 with it decoded into rc->jd
 * (whose changes point into plain), or -1 with err (cap bytes). */
int rc_journal_check(struct rc *rc, int64_t seq, const unsigned char *plain, size_t len, char *err, size_t cap);

/* plain as rc's chain's manifest: 0 with *mf decoded (the caller calls
 * chain_manifest_release), or -1 with err (cap bytes) and nothing to release. */
int rc_manifest_check(struct rc *rc, const unsigned char *plain, size_t len, struct chain_manifest *mf, char *err,
                      size_t cap);

#endif
