/* chain.h — the index in Telegram: a chain of sealed documents, a snapshot's
 * manifest (seq 0) followed by journal documents (seq 1, 2, …).
 *
 * A chain starts with a snapshot: a consistent copy of the index (VACUUM
 * INTO) posted in blocks like any object (sealed, as stripes with the
 * configured redundancy), and a manifest naming those blocks, posted into
 * every live chat and pinned there. After it, every change to the index
 * (an SQLite session changeset, store/changes.c) is posted as a journal
 * document at most every --journal-interval: sealed, mirrored into 1 + M
 * chats (M of the configured layout) and each copy pinned. A journal
 * document names where earlier documents of its chain live (seq - 1,
 * seq - 2, seq - 4, …, and the manifest), so `tgs3 recover` needs only the
 * pinned documents: the newest pinned one of any chat, then back along
 * those references, then forward, applying documents in order until the
 * first one that is missing or fails verification.
 *
 * Formats (chaindoc.c; little-endian integers, every length bounded):
 *   ref      := seq i64 | uuid[16] | kind u8 | plain_len u64 | k u8 | m u8 |
 *               sealed_size u64 | n u8 | n × (idx u8 | chat i64 | message i64 |
 *               bot i64 | size i64 | file_id_len u16 | file_id)
 *   manifest := "TGS3MAN1" | chain[16] | chain_at i64 | created_ms i64 |
 *               index_size u64 | n_blocks u32 | n_blocks × ref (seq = -1 - i)
 *   journal  := "TGS3JRN1" | chain[16] | chain_at i64 | seq i64 | created_ms i64 |
 *               n_refs u8 | n_refs × ref | changeset_len u32 | changeset
 * Each is the plaintext of a sealed block (kind BLK_KIND_SNAPSHOT for the
 * manifest and the snapshot's blocks, BLK_KIND_JOURNAL for journal
 * documents) under the ref's uuid.
 */
#ifndef TGS3_GW_CHAIN_H
#define TGS3_GW_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#include "gateway/gw.h"

#define CHAIN_ID_LEN 16
#define CHAIN_MAX_REFS 40          /* references in one journal document */
#define CHAIN_MAX_BLOCKS 4096      /* blocks of one snapshot (64 GiB at 16 MiB blocks) */
#define CHAIN_MAX_CHANGESET (64u << 20) /* bytes of one journal document's changes */

/* Where one sealed document of a chain lives: a stripe of k + m shards. */
struct chain_ref {
    int64_t seq;               /* chain position: 0 manifest, > 0 journal, < 0 snapshot block */
    unsigned char uuid[16];    /* the sealing identity */
    int kind;                  /* BLK_KIND_SNAPSHOT or BLK_KIND_JOURNAL */
    int64_t plain_len;         /* bytes of plaintext */
    struct store_stripe sp;    /* k, m, sealed_size, the shards posted */
};

struct chain_manifest {
    unsigned char chain[CHAIN_ID_LEN];
    int64_t chain_at;          /* ms: when the chain began (orders chains) */
    int64_t created_ms;
    uint64_t index_size;       /* bytes of the snapshot */
    uint32_t n_blocks;
    struct chain_ref *blocks;  /* malloc'd */
};

struct chain_journal {
    unsigned char chain[CHAIN_ID_LEN];
    int64_t chain_at;
    int64_t seq;
    int64_t created_ms;
    int n_refs;
    struct chain_ref refs[CHAIN_MAX_REFS];
    const unsigned char *changes; /* into the decoded buffer */
    size_t changes_len;
};

/* ---- chaindoc.c: the formats (no I/O) ---- */
/* Encoders return a malloc'd buffer (*len bytes). */
unsigned char *chain_manifest_encode(const struct chain_manifest *mf, size_t *len);
unsigned char *chain_journal_encode(const struct chain_journal *j, size_t *len);
/* Decoders: 0, or -1 for anything malformed (truncated, out of bounds, bad magic, a NUL inside a
 * file_id, bytes left over). A value has one encoding: what decodes, encodes back to the same bytes. */
int chain_manifest_decode(const unsigned char *buf, size_t len, struct chain_manifest *out); /* free with _release */
void chain_manifest_release(struct chain_manifest *mf);
int chain_journal_decode(const unsigned char *buf, size_t len, struct chain_journal *out); /* points into buf */
/* The sequence numbers a journal document seq refers back to: seq-1, seq-2, seq-4, … and 0, ascending
 * distinct, at most CHAIN_MAX_REFS; returns how many. */
int chain_back_seqs(int64_t seq, int64_t *out);
/* A ref as bytes (for the index's chain_docs) and back: the same encoding as inside documents. */
unsigned char *chain_ref_encode(const struct chain_ref *r, size_t *len);
int chain_ref_decode(const unsigned char *buf, size_t len, struct chain_ref *out);
/* The sealing identity of a chain's document seq (manifest and journal):
 * derived, so the pinned head of a chain opens from its caption alone. */
void chain_uuid(const unsigned char *chain, int64_t seq, unsigned char *uuid);
/* A chain document's name in its shards' captions ("chain=HEX at=MS seq=N");
 * chain_caption_parse reads it back out of a whole caption: 0, or -1. */
void chain_caption(char *out, size_t cap, const unsigned char *chain, int64_t chain_at, int64_t seq);
int chain_caption_parse(const char *caption, unsigned char *chain, int64_t *chain_at, int64_t *seq);

/* ---- chainio.c: posting and reading chain documents (loop thread) ---- */
/* Seals plain (kind, a fresh uuid) on the pool, posts it as a stripe of k + m
 * shards into distinct chats (journaled like a block's shards: a post whose
 * answer is lost is found by the stray probe), and, with pin, pins every
 * shard in its chat. cb gets ok (at least k shards landed and, with pin, at
 * least one was pinned) and the ref; the shards' journal rows are ended by
 * the caller's store job (chain_post_keys gives them) or, when not ok, here. */
struct chain_post;
typedef void (*chain_post_cb)(struct gw *gw, int ok, const struct chain_ref *ref, struct chain_post *p, void *ud);
struct chain_post *chain_post_start(struct gw *gw, int kind, int64_t seq, const unsigned char *chain, int64_t chain_at,
                                    unsigned char *plain, size_t len, int k, int m, int pin, chain_post_cb cb,
                                    void *ud);
/* The journal identities of p's shards (k + m of them) for store_inflight_end. */
const unsigned char (*chain_post_keys(const struct chain_post *p, int *n))[16];
void chain_post_free(struct chain_post *p); /* after cb, once the caller recorded it (or cb said not ok) */
/* A post that landed but will not be recorded: its shards go to the delete queue, then it is freed. */
void chain_post_discard(struct chain_post *p);
/* Reads ref's document back (any k good shards), opens it: cb gets the plaintext (malloc'd, the callee's) or NULL. */
typedef void (*chain_read_cb)(struct gw *gw, const struct chain_ref *ref, unsigned char *plain, size_t len,
                              const char *err, void *ud);
void chain_read_start(struct gw *gw, const struct chain_ref *ref, chain_read_cb cb, void *ud);

/* ---- snapshot.c: a new chain ---- */
typedef void (*gw_chain_begun_cb)(struct gw *gw, int ok, const struct store_chain *ch, uint64_t epoch, void *ud);
/* What the snapshot's copy job does beside the copy, for the journal (journal.c): cut
 * runs on the store thread right before VACUUM INTO (the changes so far close the old
 * chain), cut_done on the loop once the copy is made (with its size). NULL: nothing. */
struct gw_snapshot_hooks {
    void (*cut)(struct gw *gw, struct store *st, uint64_t epoch);
    void (*cut_done)(struct gw *gw, int64_t index_size);
};
/* Copies the index, posts it and its manifest, records the new chain; -1 if one runs already. */
int gw_snapshot_begin(struct gw *gw, uint64_t epoch, const struct gw_snapshot_hooks *hooks, gw_chain_begun_cb cb,
                      void *ud);

/* ---- recover.c: the index rebuilt from its chain ---- */
struct rc;
/* What a rebuild got. */
struct gw_recover_result {
    unsigned char chain[CHAIN_ID_LEN];
    char chain_hex[2 * CHAIN_ID_LEN + 1];
    int64_t head;              /* the chain's head: the newest of its documents pinned */
    int64_t applied;           /* journal documents 1..applied were applied onto the snapshot */
    int64_t last_ms;           /* created_ms of the snapshot or of the last document applied */
    int gap;                   /* stopped before the head: documents applied+1..head are missing or bad */
    uint32_t n_blocks;         /* of the snapshot */
    uint64_t index_size;       /* bytes of the snapshot */
    struct rc *rc;             /* the run (pins, documents, manifest): recover records them in the index */
};
/* Rebuilds the index from Telegram into path (created or replaced; its -wal and -shm removed first),
 * leaving it closed: every chat's pin (gw->cfg.chat_ids), the newest head that opens (of chain only,
 * unless NULL), its documents, the snapshot, the journal applied up to the first document missing,
 * unreadable or that does not apply. A chain that gives nothing makes way for an older pin of
 * another. Main thread of a tool (gw_tool_open'd, keys loaded); runs gw->loop until done; messages
 * on stdout and, after "who: ", stderr. 0 with *out filled, or -1 (reported; path removed). Either
 * way gw_recover_result_release(out) frees what the run holds. */
int gw_recover_rebuild(struct gw *gw, const char *who, const unsigned char *chain, const char *path,
                       struct gw_recover_result *out);
void gw_recover_result_release(struct gw_recover_result *r);

/* ---- fsck_chain.c: the index against what its chain would rebuild ---- */
/* tgs3 fsck's check of the chain (gw: arguments parsed, keys loaded, no tool open; left so). Prints
 * what it finds; returns the problems (differences between the index and the rebuild, a chain that
 * cannot be rebuilt), 0 when it matches, when it was skipped, or when the gateway did not stop
 * cleanly (the differences are then warnings). */
int64_t gw_fsck_chain(struct gw *gw);

#endif
