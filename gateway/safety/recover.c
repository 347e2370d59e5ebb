/* recover.c — tgs3 recover: the index rebuilt from its chain in Telegram (chain.h).
 *
 * DESIGN. It needs only the Bot API flags, the chats and the key file.
 *   1. Pins: getChat on every configured chat at once (each chat asked by a
 *      bot of its own first, then the others in turn); every pinned document
 *      whose caption names a chain document is a candidate head. A chat that
 *      no bot can read is reported and skipped. The newest candidate, the
 *      highest (chain_at, seq), is tried first.
 *   2. Head: the candidate's document is fetched by the bot that saw it (the
 *      file_id is that bot's); its shard header gives the stripe (index, k,
 *      m, sealed length) and must carry the identity chain_uuid(chain, seq);
 *      then it is read and opened as any chain document (chain_read_start)
 *      and checked against its caption. One that does not open gives way to
 *      the next candidate (a copy in another chat, or an older document).
 *   3. Walk: every document 0..head of the chain is read once, DOC_READS at
 *      a time, the highest known first. A journal document names earlier
 *      ones (seq-1, seq-2, seq-4, …, and 0), so the refs learnt from any
 *      read document fill a table seq -> ref; one unreadable in every copy
 *      leaves the others reachable through the rest. Plaintexts are kept up
 *      to HOLD_MAX bytes in all, the others read again when applied.
 *   4. Snapshot: the manifest's blocks, BLOCK_READS at a time, each written
 *      on libuv's pool at its offset into DATA_DIR/index.db.recover, which
 *      must come out index_size bytes. A chain whose manifest or snapshot
 *      cannot be read gives way to the newest candidate of another chain.
 *   5. Journal: documents 1, 2, … applied in order (store_changes_apply) up
 *      to the first one missing (no ref learnt), unreadable, or that does not
 *      apply; the rest is reported, not applied.
 *   6. Objects and parts whose bytes only the lost disk held (unposted packs)
 *      are dropped (store_drop_unposted); the chain's documents are recorded
 *      (store_chain_add: chain_docs, chain_msgs) so the gateway's next chain
 *      deletes them; the file becomes DATA_DIR/index.db. This tool's writes
 *      set the index's unjournaled mark, so the gateway started next begins
 *      a new chain.
 *
 * Threads: the loop drives Telegram and the reads; the snapshot's file
 * writes run on the pool; the recovered index is opened and written on the
 * main thread once no read is in flight (a tool: its loop has nothing else
 * to serve meanwhile). The tool's own store thread holds a scratch index
 * (reader.c's file_id lookups), never the recovered one.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gateway/blocks/shard.h"
#include "gateway/safety/chain.h"

#define DOC_READS 8                 /* chain documents read at once */
#define BLOCK_READS 4               /* snapshot blocks read (and held) at once */
#define HOLD_MAX (256u << 20)       /* bytes of document plaintext kept between the walk and the apply */
#define PIN_MAX (1LL << 30)         /* bytes: a pinned document larger than this is not fetched */
#define MAX_DOCS (1LL << 22)        /* documents of one chain (the table seq -> ref is dense) */

static const char USAGE[] =
    "usage: tgs3 recover --data-dir DIR --key-file FILE [--force] [serve options: --botapi-url, --bot-token "
    "(repeatable), --chat-id (repeatable), --mode …]\n\n"
    "Rebuilds DIR/index.db from the index's chain in Telegram: the newest chain document pinned in any of the "
    "chats (getChat), the snapshot its manifest names, then its journal documents in order up to the first "
    "one missing. Objects whose bytes never reached Telegram are dropped. Refuses to replace an existing "
    "index unless --force.\n"
    "Exit status: 0 recovered (a gap in the journal is reported), 1 nothing usable, 2 usage.";

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

struct rc {
    struct gw *gw;
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
};

static void ms_text(int64_t ms, char *out, size_t cap)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (ms <= 0 || gmtime_r(&t, &tm) == NULL || strftime(out, cap, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(out, cap, "unknown");
}

/* ---- 1. the pinned documents of every chat ------------------------------------------ */

struct ask {
    struct rc *rc;
    size_t ci;
    size_t bot;    /* asking now */
    size_t tries;  /* bots asked so far */
};

static void on_chat(void *ud, const struct tg_result *res, const struct tg_chat_info *chat)
{
    struct ask *a = ud;
    struct rc *rc = a->rc;
    struct gw *gw = rc->gw;
    int64_t chat_id = gw->cfg.chat_ids[a->ci];
    struct pin p;

    if (res->status != TG_OK) {
        if (++a->tries < gw->n_bots) {
            fprintf(stderr, "tgs3 recover: chat %lld: getChat by bot %lld failed: %s (%s); asking bot %lld\n",
                    (long long)chat_id, (long long)gw->bots[a->bot].id, tg_status_name(res->status),
                    res->description, (long long)gw->bots[(a->bot + 1) % gw->n_bots].id);
            a->bot = (a->bot + 1) % gw->n_bots;
            tg_get_chat(gw->tg, gw->bots[a->bot].token, chat_id, on_chat, a);
            return;
        }
        fprintf(stderr, "tgs3 recover: chat %lld: getChat failed: %s (%s); skipped\n", (long long)chat_id,
                tg_status_name(res->status), res->description);
        rc->asking--;
        return;
    }
    rc->asking--;
    memset(&p, 0, sizeof(p));
    if (!chat->has_pinned) {
        printf("chat %lld: no pinned document\n", (long long)chat_id);
        return;
    }
    if (chain_caption_parse(chat->pinned.caption, p.chain, &p.chain_at, &p.seq) != 0) {
        printf("chat %lld: the pinned document is no chain document (caption \"%.80s\")\n", (long long)chat_id,
               chat->pinned.caption);
        return;
    }
    p.ci = a->ci;
    p.chat_id = chat_id;
    p.message_id = chat->pinned.message_id;
    p.bot = a->bot;
    p.file_size = chat->pinned.file_size;
    snprintf(p.file_id, sizeof(p.file_id), "%s", chat->pinned.file_id);
    char hex[2 * CHAIN_ID_LEN + 1], when[64];
    hex_encode(p.chain, CHAIN_ID_LEN, hex);
    ms_text(p.chain_at, when, sizeof(when));
    printf("chat %lld: pinned document %lld of chain %s (begun %s), message %lld\n", (long long)chat_id,
           (long long)p.seq, hex, when, (long long)p.message_id);
    rc->pins = xrealloc(rc->pins, (rc->n_pins + 1) * sizeof(*rc->pins));
    rc->pins[rc->n_pins++] = p;
}

/* Newest first: the chain begun last, then its highest document, then the chats' order. */
static int pin_cmp(const void *x, const void *y)
{
    const struct pin *a = x, *b = y;
    if (a->chain_at != b->chain_at)
        return a->chain_at > b->chain_at ? -1 : 1;
    int c = memcmp(a->chain, b->chain, CHAIN_ID_LEN);
    if (c != 0)
        return c;
    if (a->seq != b->seq)
        return a->seq > b->seq ? -1 : 1;
    return a->ci < b->ci ? -1 : a->ci > b->ci;
}

static void ask_chats(struct rc *rc)
{
    struct gw *gw = rc->gw;
    struct ask *asks = xcalloc(gw->cfg.n_chat_ids, sizeof(*asks));
    for (size_t ci = 0; ci < gw->cfg.n_chat_ids; ci++) {
        struct ask *a = &asks[ci];
        a->rc = rc;
        a->ci = ci;
        a->bot = ci % gw->n_bots;
        rc->asking++;
        tg_get_chat(gw->tg, gw->bots[a->bot].token, gw->cfg.chat_ids[ci], on_chat, a);
    }
    while (rc->asking > 0)
        uv_run(gw->loop, UV_RUN_ONCE);
    free(asks);
    qsort(rc->pins, rc->n_pins, sizeof(*rc->pins), pin_cmp);
}

/* ---- reading one document to the end --------------------------------------------- */

struct one {
    int done;
    unsigned char *plain; /* malloc'd copy */
    size_t len;
    char err[400];
};

static void on_one(struct gw *gw, const struct chain_ref *ref, unsigned char *plain, size_t len, const char *err,
                   void *ud)
{
    struct one *o = ud;
    (void)gw;
    (void)ref;
    o->done = 1;
    if (plain == NULL) {
        snprintf(o->err, sizeof(o->err), "%s", err != NULL ? err : "cannot be read");
        return;
    }
    o->plain = xmalloc(len ? len : 1);
    memcpy(o->plain, plain, len);
    o->len = len;
}

/* Reads ref's document, running the loop until it is in: its plaintext (malloc'd), or NULL with err. */
static unsigned char *read_one(struct gw *gw, const struct chain_ref *ref, size_t *len, char *err, size_t cap)
{
    struct one o = {0};
    chain_read_start(gw, ref, on_one, &o);
    while (!o.done)
        uv_run(gw->loop, UV_RUN_ONCE);
    *len = o.len;
    if (o.plain == NULL)
        snprintf(err, cap, "%s", o.err);
    return o.plain;
}

/* ---- checking documents against the chain ------------------------------------------ */

/* plain as journal document seq of the chain: 0 with it decoded into rc->jd, or -1 with err. */
static int journal_check(struct rc *rc, int64_t seq, const unsigned char *plain, size_t len, char *err, size_t cap)
{
    if (chain_journal_decode(plain, len, rc->jd) != 0) {
        snprintf(err, cap, "is malformed");
        return -1;
    }
    if (memcmp(rc->jd->chain, rc->chain, CHAIN_ID_LEN) != 0 || rc->jd->chain_at != rc->chain_at ||
        rc->jd->seq != seq) {
        snprintf(err, cap, "is document %lld of another chain", (long long)rc->jd->seq);
        return -1;
    }
    return 0;
}

/* plain as the chain's manifest: 0 with *mf decoded (chain_manifest_release), or -1 with err. */
static int manifest_check(struct rc *rc, const unsigned char *plain, size_t len, struct chain_manifest *mf, char *err,
                          size_t cap)
{
    if (chain_manifest_decode(plain, len, mf) != 0) {
        snprintf(err, cap, "is malformed");
        return -1;
    }
    if (memcmp(mf->chain, rc->chain, CHAIN_ID_LEN) != 0 || mf->chain_at != rc->chain_at) {
        snprintf(err, cap, "is another chain's manifest");
        chain_manifest_release(mf);
        return -1;
    }
    return 0;
}

/* The refs a journal document gives: each seq's first ref is kept. */
static void learn(struct rc *rc, const struct chain_journal *j)
{
    unsigned char uuid[16];
    for (int i = 0; i < j->n_refs; i++) {
        const struct chain_ref *r = &j->refs[i];
        if (r->seq < 0 || r->seq >= j->seq || rc->docs[r->seq].ref != NULL) /* j->seq <= head */
            continue;
        chain_uuid(rc->chain, r->seq, uuid);
        if (memcmp(uuid, r->uuid, sizeof(uuid)) != 0 || r->kind != (r->seq ? BLK_KIND_JOURNAL : BLK_KIND_SNAPSHOT)) {
            fprintf(stderr, "tgs3 recover: document %lld names document %lld with another identity; ignored\n",
                    (long long)j->seq, (long long)r->seq);
            continue;
        }
        struct doc *d = &rc->docs[r->seq];
        d->ref = chain_ref_encode(r, &d->ref_len);
        d->state = D_KNOWN;
        if (r->seq > rc->cursor)
            rc->cursor = r->seq;
    }
}

/* ---- 2. the head -------------------------------------------------------------- */

struct pin_fetch {
    int done;
    unsigned char *data; /* bigbuf */
    size_t len;
    char err[400];
};

static void on_pin_fetched(void *ud, const struct tg_result *res, unsigned char *data, size_t len)
{
    struct pin_fetch *f = ud;
    f->done = 1;
    if (res->status != TG_OK || data == NULL) {
        bigbuf_free(data);
        snprintf(f->err, sizeof(f->err), "%s (%s)", tg_status_name(res->status), res->description);
        return;
    }
    f->data = data;
    f->len = len;
}

/* Reads and opens p's document as the head of its chain: 0 with rc's chain, head, docs set up, or -1 (reported). */
static int head_open(struct rc *rc, const struct pin *p)
{
    struct gw *gw = rc->gw;
    struct pin_fetch f = {0};
    struct chain_ref ref;
    unsigned char uuid[16], id[BLK_ID_LEN];
    int idx = 0, k = 0, m = 0;
    uint64_t sealed = 0;
    char err[400];
    size_t len = 0;

    if (p->seq >= MAX_DOCS) {
        fprintf(stderr, "tgs3 recover: chat %lld: the pinned document %lld is further along its chain than this "
                        "tool follows (%lld documents); skipped\n",
                (long long)p->chat_id, (long long)p->seq, (long long)MAX_DOCS);
        return -1;
    }
    if (p->file_size > PIN_MAX) {
        fprintf(stderr, "tgs3 recover: chat %lld: the pinned document is %lld bytes, more than a chain document "
                        "can be; skipped\n", (long long)p->chat_id, (long long)p->file_size);
        return -1;
    }
    tg_fetch_file(gw->tg, gw->bots[p->bot].token, p->file_id, p->file_size > 0 ? p->file_size : -1, (size_t)PIN_MAX,
                  on_pin_fetched, &f);
    while (!f.done)
        uv_run(gw->loop, UV_RUN_ONCE);
    if (f.data == NULL) {
        fprintf(stderr, "tgs3 recover: chat %lld: cannot download the pinned document: %s\n", (long long)p->chat_id,
                f.err);
        return -1;
    }
    enum blk_status bs = blk_shard_peek(f.data, f.len, &idx, &k, &m, id, &sealed);
    bigbuf_free(f.data);
    chain_uuid(p->chain, p->seq, uuid);
    if (bs != BLK_OK || sealed < BLK_OVERHEAD || sealed > (uint64_t)PIN_MAX * STORE_MAX_SHARDS) {
        fprintf(stderr, "tgs3 recover: chat %lld: the pinned document is no shard of a chain document\n",
                (long long)p->chat_id);
        return -1;
    }
    if (memcmp(id, uuid, sizeof(uuid)) != 0) {
        fprintf(stderr, "tgs3 recover: chat %lld: the pinned document is not document %lld of the chain its caption "
                        "names\n", (long long)p->chat_id, (long long)p->seq);
        return -1;
    }
    memset(&ref, 0, sizeof(ref));
    ref.seq = p->seq;
    memcpy(ref.uuid, uuid, sizeof(uuid));
    ref.kind = p->seq ? BLK_KIND_JOURNAL : BLK_KIND_SNAPSHOT;
    ref.plain_len = (int64_t)(sealed - BLK_OVERHEAD);
    ref.sp.k = k;
    ref.sp.m = m;
    ref.sp.sealed_size = (int64_t)sealed;
    ref.sp.n = 1;
    ref.sp.sh[0].idx = idx;
    ref.sp.sh[0].chat_id = p->chat_id;
    ref.sp.sh[0].message_id = p->message_id;
    ref.sp.sh[0].bot_id = gw->bots[p->bot].id;
    snprintf(ref.sp.sh[0].file_id, sizeof(ref.sp.sh[0].file_id), "%s", p->file_id);
    ref.sp.sh[0].size = (int64_t)f.len;

    unsigned char *plain = read_one(gw, &ref, &len, err, sizeof(err));
    if (plain == NULL) {
        fprintf(stderr, "tgs3 recover: chat %lld: the pinned document %s\n", (long long)p->chat_id, err);
        return -1;
    }
    memcpy(rc->chain, p->chain, CHAIN_ID_LEN);
    hex_encode(rc->chain, CHAIN_ID_LEN, rc->chain_hex);
    rc->chain_at = p->chain_at;
    rc->head = p->seq;
    int bad;
    if (p->seq == 0) {
        struct chain_manifest mf;
        bad = manifest_check(rc, plain, len, &mf, err, sizeof(err));
        if (!bad)
            chain_manifest_release(&mf);
    } else {
        bad = journal_check(rc, p->seq, plain, len, err, sizeof(err));
    }
    if (bad) {
        fprintf(stderr, "tgs3 recover: chat %lld: the pinned document %s\n", (long long)p->chat_id, err);
        free(plain);
        return -1;
    }
    rc->docs = xcalloc((size_t)rc->head + 1, sizeof(*rc->docs));
    rc->cursor = -1;
    struct doc *d = &rc->docs[rc->head];
    d->ref = chain_ref_encode(&ref, &d->ref_len);
    d->plain = plain;
    d->plain_len = len;
    d->state = D_READ;
    rc->held = len;
    rc->n_read = 1;
    if (rc->head > 0)
        learn(rc, rc->jd); /* journal_check left it decoded */
    return 0;
}

/* ---- 3. the walk ------------------------------------------------------------------ */

static void on_doc(struct gw *gw, const struct chain_ref *ref, unsigned char *plain, size_t len, const char *err,
                   void *ud)
{
    struct rc *rc = ud;
    int64_t seq = ref->seq;
    struct doc *d = &rc->docs[seq];
    char why[400];
    (void)gw;

    rc->reading--;
    if (plain == NULL) {
        d->state = D_BAD;
        rc->n_bad++;
        if (seq > 0)
            fprintf(stderr, "tgs3 recover: journal document %lld of chain %s %s\n", (long long)seq, rc->chain_hex,
                    err != NULL ? err : "cannot be read");
        else
            fprintf(stderr, "tgs3 recover: the manifest of chain %s %s\n", rc->chain_hex,
                    err != NULL ? err : "cannot be read");
        return;
    }
    if (seq > 0) {
        if (journal_check(rc, seq, plain, len, why, sizeof(why)) != 0) {
            d->state = D_BAD;
            rc->n_bad++;
            fprintf(stderr, "tgs3 recover: journal document %lld of chain %s %s\n", (long long)seq,
                    rc->chain_hex, why);
            return;
        }
        learn(rc, rc->jd);
    }
    d->state = D_READ;
    if (++rc->n_read % 1000 == 0)
        printf("chain %s: %lld documents read\n", rc->chain_hex, (long long)rc->n_read);
    if (rc->held + len <= HOLD_MAX) { /* else read again when applied */
        d->plain = xmalloc(len ? len : 1);
        memcpy(d->plain, plain, len);
        d->plain_len = len;
        rc->held += len;
    }
}

/* Starts reads of known documents, the highest first, up to DOC_READS at once. */
static void walk_pump(struct rc *rc)
{
    struct chain_ref ref;
    while (rc->reading < DOC_READS) {
        while (rc->cursor >= 0 && rc->docs[rc->cursor].state != D_KNOWN)
            rc->cursor--;
        if (rc->cursor < 0)
            return;
        struct doc *d = &rc->docs[rc->cursor];
        if (chain_ref_decode(d->ref, d->ref_len, &ref) != 0) { /* encoded here: never */
            d->state = D_BAD;
            continue;
        }
        d->state = D_READING;
        rc->reading++;
        chain_read_start(rc->gw, &ref, on_doc, rc); /* may call back at once: nothing here is held across it */
    }
}

static void walk(struct rc *rc)
{
    for (;;) {
        walk_pump(rc);
        if (rc->reading == 0)
            break;
        uv_run(rc->gw->loop, UV_RUN_ONCE);
    }
    int64_t missing = 0;
    for (int64_t s = 0; s <= rc->head; s++)
        missing += rc->docs[s].ref == NULL;
    printf("chain %s: %lld of its %lld documents read, %lld unreadable, %lld named by none read\n", rc->chain_hex,
           (long long)rc->n_read, (long long)rc->head + 1, (long long)rc->n_bad, (long long)missing);
}

/* Document seq's plaintext: held (*owned 0), or read again (*owned 1: the caller frees it); NULL with err. */
static unsigned char *doc_plain(struct rc *rc, int64_t seq, size_t *len, int *owned, char *err, size_t cap)
{
    struct doc *d = &rc->docs[seq];
    struct chain_ref ref;
    *owned = 0;
    if (d->plain != NULL) {
        *len = d->plain_len;
        return d->plain;
    }
    if (d->ref == NULL || d->state != D_READ || chain_ref_decode(d->ref, d->ref_len, &ref) != 0) {
        snprintf(err, cap, "cannot be read");
        return NULL;
    }
    *owned = 1;
    return read_one(rc->gw, &ref, len, err, cap);
}

static void doc_drop(struct rc *rc, int64_t seq)
{
    struct doc *d = &rc->docs[seq];
    if (d->plain != NULL) {
        rc->held -= d->plain_len;
        free(d->plain);
        d->plain = NULL;
    }
}

static void chain_reset(struct rc *rc)
{
    for (int64_t s = 0; rc->docs != NULL && s <= rc->head; s++) {
        free(rc->docs[s].ref);
        free(rc->docs[s].plain);
    }
    free(rc->docs);
    rc->docs = NULL;
    rc->head = rc->cursor = -1;
    rc->held = 0;
    rc->reading = 0;
    rc->n_read = rc->n_bad = 0;
    rc->applied = rc->last_ms = 0;
}

/* ---- 4. the snapshot -------------------------------------------------------------- */

struct snap {
    struct rc *rc;
    const struct chain_manifest *mf;
    int fd;
    uint64_t *off;     /* offset of each block in the file */
    uint32_t next;     /* next block to read */
    uint32_t written;
    int inflight;      /* reads and writes outstanding */
    int failed;
};

struct wjob {
    uv_work_t work;
    struct snap *sn;
    uint32_t i;
    unsigned char *buf;
    size_t len;
    int err;           /* errno */
};

static void write_work(uv_work_t *w)
{
    struct wjob *j = w->data;
    j->err = pwrite_all(j->sn->fd, j->buf, j->len, (off_t)j->sn->off[j->i]) != 0 ? errno : 0;
}

static void after_write(uv_work_t *w, int status)
{
    struct wjob *j = w->data;
    struct snap *sn = j->sn;
    sn->inflight--;
    if (status != 0 || j->err != 0) {
        fprintf(stderr, "tgs3 recover: cannot write snapshot block %u: %s\n", j->i,
                status != 0 ? "cancelled" : strerror(j->err));
        sn->failed = 1;
    } else {
        sn->written++;
    }
    free(j->buf);
    free(j);
}

static void on_block(struct gw *gw, const struct chain_ref *ref, unsigned char *plain, size_t len, const char *err,
                     void *ud)
{
    struct snap *sn = ud;
    uint32_t i = (uint32_t)(-1 - ref->seq);
    if (plain == NULL || len != (size_t)ref->plain_len) {
        fprintf(stderr, "tgs3 recover: snapshot block %u of chain %s %s\n", i, sn->rc->chain_hex,
                plain == NULL ? (err != NULL ? err : "cannot be read") : "has another length than its manifest says");
        sn->inflight--;
        sn->failed = 1;
        return;
    }
    struct wjob *j = xcalloc(1, sizeof(*j));
    j->sn = sn;
    j->i = i;
    j->buf = xmalloc(len ? len : 1);
    memcpy(j->buf, plain, len);
    j->len = len;
    j->work.data = j;
    if (uv_queue_work(gw->loop, &j->work, write_work, after_write) != 0) {
        write_work(&j->work);
        after_write(&j->work, 0);
    }
}

/* Writes the snapshot mf names into fd: 0, or -1 (reported). */
static int snapshot_write(struct rc *rc, const struct chain_manifest *mf, int fd)
{
    struct snap sn = {.rc = rc, .mf = mf, .fd = fd};
    uint64_t at = 0;
    int ret = -1;

    if (mf->n_blocks == 0 || mf->index_size == 0) {
        fprintf(stderr, "tgs3 recover: the manifest of chain %s names an empty snapshot\n", rc->chain_hex);
        return -1;
    }
    sn.off = xcalloc(mf->n_blocks, sizeof(*sn.off));
    for (uint32_t i = 0; i < mf->n_blocks; i++) {
        const struct chain_ref *b = &mf->blocks[i];
        if (b->seq != -1 - (int64_t)i || (uint64_t)b->plain_len > mf->index_size - at) {
            fprintf(stderr, "tgs3 recover: the manifest of chain %s: block %u does not fit its snapshot\n",
                    rc->chain_hex, i);
            goto out;
        }
        sn.off[i] = at;
        at += (uint64_t)b->plain_len;
    }
    if (at != mf->index_size) {
        fprintf(stderr, "tgs3 recover: the manifest of chain %s: its blocks hold %" PRIu64 " bytes, not %" PRIu64 "\n",
                rc->chain_hex, at, mf->index_size);
        goto out;
    }
    for (;;) {
        while (!sn.failed && sn.inflight < BLOCK_READS && sn.next < mf->n_blocks) {
            sn.inflight++;
            chain_read_start(rc->gw, &mf->blocks[sn.next++], on_block, &sn);
        }
        if (sn.inflight == 0 && (sn.failed || sn.written == mf->n_blocks))
            break;
        uv_run(rc->gw->loop, UV_RUN_ONCE);
    }
    if (sn.failed)
        goto out;
    struct stat sb;
    if (fsync(fd) != 0 || fstat(fd, &sb) != 0 || (uint64_t)sb.st_size != mf->index_size) {
        fprintf(stderr, "tgs3 recover: the snapshot file is not %" PRIu64 " bytes on disk: %s\n", mf->index_size,
                strerror(errno));
        goto out;
    }
    ret = 0;
out:
    free(sn.off);
    return ret;
}

/* ---- 5. the journal, 6. what the recovered index records ----------------------------- */

/* Applies documents 1, 2, … onto st up to the first that is missing, unreadable or does not apply. */
static void journal_apply(struct rc *rc, struct store *st)
{
    char err[400], when[64];
    for (int64_t s = 1; s <= rc->head; s++) {
        struct doc *d = &rc->docs[s];
        const char *why = NULL;
        size_t len = 0;
        int owned = 0;
        unsigned char *plain = NULL;
        err[0] = '\0';
        if (d->ref == NULL)
            why = "is missing";
        else if (d->state != D_READ || (plain = doc_plain(rc, s, &len, &owned, err, sizeof(err))) == NULL)
            why = "is unreadable";
        else if (journal_check(rc, s, plain, len, err, sizeof(err)) != 0)
            why = "is unreadable";
        else {
            enum store_status ss = store_changes_apply(st, rc->jd->changes, rc->jd->changes_len);
            if (ss != STORE_OK) {
                snprintf(err, sizeof(err), "%s: %s", store_status_name(ss), store_errmsg(st));
                why = "does not apply";
            } else {
                rc->applied = s;
                rc->last_ms = rc->jd->created_ms;
            }
        }
        if (owned)
            free(plain);
        doc_drop(rc, s);
        if (why != NULL) {
            ms_text(rc->last_ms, when, sizeof(when));
            fprintf(stderr,
                    "tgs3 recover: journal document %lld of chain %s %s: recovered up to document %lld (time %s)\n",
                    (long long)s, rc->chain_hex, why, (long long)(s - 1), when);
            if (err[0] != '\0')
                fprintf(stderr, "tgs3 recover:   (%s)\n", err);
            fprintf(stderr, "tgs3 recover: documents %lld..%lld are not applied; if a chat was only unreachable, run "
                            "recover again (--force) before starting the gateway: its next chain deletes them\n",
                    (long long)s, (long long)rc->head);
            return;
        }
    }
}

/* Adds one document of the chain to chain_docs/chain_msgs; extra pins (copies of the head) add their messages. */
static enum store_status record_doc(struct rc *rc, struct store *st, const struct chain_ref *r, size_t bytes)
{
    struct store_chain_msg *msgs = xcalloc((size_t)r->sp.n + rc->n_pins + 1, sizeof(*msgs));
    int n = 0;
    size_t len = 0;
    unsigned char *enc = chain_ref_encode(r, &len);
    for (int i = 0; i < r->sp.n; i++)
        msgs[n++] = (struct store_chain_msg){r->sp.sh[i].chat_id, r->sp.sh[i].message_id, r->sp.sh[i].bot_id};
    for (size_t i = 0; r->seq == rc->head && i < rc->n_pins; i++) {
        const struct pin *p = &rc->pins[i];
        if (p->seq == r->seq && memcmp(p->chain, rc->chain, CHAIN_ID_LEN) == 0)
            msgs[n++] = (struct store_chain_msg){p->chat_id, p->message_id, rc->gw->bots[p->bot].id};
    }
    struct store_chain_doc d = {.chain = rc->chain, .seq = r->seq, .ref = enc, .ref_len = len, .bytes = bytes,
                                .msgs = msgs, .n_msgs = n, .keys = NULL, .n_keys = 0};
    enum store_status ss = store_chain_add(st, &d, now_ms());
    free(enc);
    free(msgs);
    return ss;
}

/* Every document of the chain this tool knows of (the snapshot's blocks, the manifest, the journal). */
static enum store_status record_chain(struct rc *rc, struct store *st, const struct chain_manifest *mf)
{
    struct chain_ref ref;
    enum store_status ss = store_tx_begin(st);
    for (uint32_t i = 0; ss == STORE_OK && i < mf->n_blocks; i++)
        ss = record_doc(rc, st, &mf->blocks[i], 0);
    for (int64_t s = 0; ss == STORE_OK && s <= rc->head; s++) {
        const struct doc *d = &rc->docs[s];
        if (d->ref != NULL && chain_ref_decode(d->ref, d->ref_len, &ref) == 0)
            ss = record_doc(rc, st, &ref, s > 0 ? (size_t)ref.plain_len : 0);
    }
    if (ss == STORE_OK)
        ss = store_tx_commit(st);
    else
        store_tx_rollback(st);
    return ss;
}

/* Removes path's WAL and shared-memory files (a stale WAL would be replayed onto another database). */
static void unlink_sidecars(const char *path)
{
    char side[4300];
    snprintf(side, sizeof(side), "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", path);
    unlink(side);
}

/* The head is open: walk the chain, write its snapshot into part, apply its journal, settle the index.
 * 0 when part holds a recovered index; -1 (reported) when this chain gives nothing usable. */
static int chain_recover(struct rc *rc, const char *part)
{
    struct chain_manifest mf;
    struct store *st = NULL;
    struct store_stats stats;
    char err[400], when[64];
    size_t len = 0;
    int owned = 0, fd = -1, ret = -1, have_mf = 0;
    unsigned char *plain = NULL;

    walk(rc);
    /* 4. the manifest and its snapshot */
    if (rc->docs[0].ref == NULL) {
        fprintf(stderr, "tgs3 recover: no document read names the manifest of chain %s\n", rc->chain_hex);
        goto out;
    }
    plain = doc_plain(rc, 0, &len, &owned, err, sizeof(err));
    if (plain == NULL || manifest_check(rc, plain, len, &mf, err, sizeof(err)) != 0) {
        fprintf(stderr, "tgs3 recover: the manifest of chain %s %s\n", rc->chain_hex, err);
        goto out;
    }
    have_mf = 1;
    if (owned)
        free(plain);
    plain = NULL;
    doc_drop(rc, 0);
    ms_text(mf.created_ms, when, sizeof(when));
    printf("chain %s: snapshot of %s, %" PRIu64 " bytes in %u blocks\n", rc->chain_hex, when, mf.index_size,
           mf.n_blocks);
    unlink(part);
    unlink_sidecars(part);
    fd = open(part, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "tgs3 recover: cannot create %s: %s\n", part, strerror(errno));
        goto out;
    }
    if (snapshot_write(rc, &mf, fd) != 0)
        goto out;
    close(fd);
    fd = -1;
    rc->last_ms = mf.created_ms;
    rc->n_blocks = mf.n_blocks;
    rc->index_size = mf.index_size;

    /* 5. the journal */
    enum store_status ss = store_open(part, &st);
    if (ss != STORE_OK) {
        fprintf(stderr, "tgs3 recover: the snapshot of chain %s does not open as an index: %s\n", rc->chain_hex,
                store_status_name(ss));
        goto out;
    }
    journal_apply(rc, st);

    /* 6. what only the lost disk held; the chain's documents; the totals */
    int64_t objects = 0, parts = 0, packs = 0;
    ss = store_drop_unposted(st, now_ms(), &objects, &parts, &packs);
    if (ss != STORE_OK) {
        fprintf(stderr, "tgs3 recover: cannot drop the objects of unposted packs: %s (%s)\n", store_status_name(ss),
                store_errmsg(st));
        goto out;
    }
    if (objects > 0 || parts > 0 || packs > 0)
        printf("dropped %lld objects and %lld multipart parts whose bytes never reached Telegram (%lld packs of "
               "small objects only the lost disk held)\n",
               (long long)objects, (long long)parts, (long long)packs);
    ss = record_chain(rc, st, &mf);
    if (ss != STORE_OK) {
        fprintf(stderr, "tgs3 recover: cannot record the chain's documents: %s (%s)\n", store_status_name(ss),
                store_errmsg(st));
        goto out;
    }
    ss = store_stats_get(st, &stats);
    if (ss != STORE_OK) {
        fprintf(stderr, "tgs3 recover: the recovered index cannot be read: %s\n", store_status_name(ss));
        goto out;
    }
    ms_text(rc->last_ms, when, sizeof(when));
    printf("recovered chain %s: the snapshot and %lld of %lld journal documents, as of %s\n", rc->chain_hex,
           (long long)rc->applied, (long long)rc->head, when);
    printf("%lld buckets, %lld objects, %lld bytes in %lld blocks\n", (long long)stats.buckets,
           (long long)stats.objects, (long long)stats.bytes, (long long)stats.blocks);
    ret = 0;
out:
    if (owned)
        free(plain);
    if (have_mf)
        chain_manifest_release(&mf);
    if (fd >= 0)
        close(fd);
    store_close(st);
    return ret;
}

/* ---- the command ------------------------------------------------------------------ */

static void remove_scratch(const char *dir)
{
    static const char *const names[] = {"index.db", "index.db-wal", "index.db-shm"};
    char p[4200];
    if (dir[0] == '\0')
        return;
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

/* part becomes path: the old index's WAL and shared memory go first, part's WAL (if SQLite left one) follows it. */
static int install(const char *part, const char *path)
{
    char from[4300], to[4300];
    unlink_sidecars(path);
    if (rename(part, path) != 0) {
        fprintf(stderr, "tgs3 recover: cannot rename %s: %s\n", part, strerror(errno));
        return -1;
    }
    snprintf(from, sizeof(from), "%s-wal", part);
    snprintf(to, sizeof(to), "%s-wal", path);
    if (rename(from, to) != 0 && errno != ENOENT) {
        fprintf(stderr, "tgs3 recover: cannot rename %s: %s\n", from, strerror(errno));
        return -1;
    }
    snprintf(from, sizeof(from), "%s-shm", part);
    unlink(from);
    return 0;
}

int gw_cmd_recover(int argc, char **argv)
{
    static const char *const own[] = {"--force", NULL};
    int own_set[1] = {0};
    struct gw gw;
    uv_loop_t loop;
    struct rc rc;
    int status = 1;
    unsigned char (*failed)[CHAIN_ID_LEN] = NULL;
    size_t n_failed = 0;
    char path[4096], part[4200] = "", tmp[4096] = "", scratch[4096];

    memset(&rc, 0, sizeof(rc));
    rc.head = rc.cursor = -1;
    int prc = gw_tool_args(&gw, argc, argv, USAGE, own, own_set);
    if (prc >= 0)
        return prc;
    if (gw.cfg.n_bot_tokens == 0 || gw.cfg.n_chat_ids == 0) {
        fprintf(stderr, "tgs3 recover: give --bot-token and --chat-id as for tgs3 serve\n");
        gw_config_release(&gw.cfg);
        return 2;
    }
    snprintf(path, sizeof(path), "%s/index.db", gw.cfg.data_dir);
    snprintf(part, sizeof(part), "%s.recover", path);
    struct stat sb;
    if (stat(path, &sb) == 0 && !own_set[0]) {
        fprintf(stderr, "tgs3 recover: %s exists; move it away or give --force\n", path);
        gw_config_release(&gw.cfg);
        return 2;
    }
    if (gw_keys_load(&gw, 0) != 0) {
        fprintf(stderr, "tgs3 recover: the key file is needed (--key-file FILE)\n");
        goto out;
    }
    mkdir(gw.cfg.data_dir, 0700);
    if (gw_data_dir_lock(gw.cfg.data_dir, "recover") != 0)
        goto out;
    snprintf(scratch, sizeof(scratch), "%s/tmp", gw.cfg.data_dir);
    mkdir(scratch, 0700);
    /* The tool's store thread gets a scratch index; the recovered one is written beside the real one. */
    snprintf(tmp, sizeof(tmp), "%s/tmp/recover-%d", gw.cfg.data_dir, (int)getpid());
    mkdir(tmp, 0700);
    char *real_dir = gw.cfg.data_dir;
    gw.cfg.data_dir = tmp;
    int opened = gw_tool_open(&gw, &loop, "recover", 600000);
    gw.cfg.data_dir = real_dir;
    if (opened != 0 || gw.n_bots == 0)
        goto out;
    rc.gw = &gw;
    rc.jd = xmalloc(sizeof(*rc.jd));

    /* 1. every chat's pin */
    ask_chats(&rc);
    if (rc.n_pins == 0) {
        fprintf(stderr, "tgs3 recover: no chat holds a pinned chain document: nothing to recover from\n");
        goto out;
    }
    failed = xcalloc(rc.n_pins, sizeof(*failed));
    /* 2.-6. the newest head that opens, and its chain; a chain that gives nothing makes way for an older one */
    for (size_t i = 0; i < rc.n_pins && status != 0; i++) {
        const struct pin *p = &rc.pins[i];
        int skip = 0;
        for (size_t f = 0; f < n_failed; f++)
            skip |= memcmp(failed[f], p->chain, CHAIN_ID_LEN) == 0;
        if (skip)
            continue;
        if (head_open(&rc, p) != 0) {
            chain_reset(&rc);
            continue;
        }
        printf("head: document %lld of chain %s, pinned in chat %lld\n", (long long)rc.head, rc.chain_hex,
               (long long)p->chat_id);
        if (chain_recover(&rc, part) == 0) {
            status = install(part, path) == 0 ? 0 : 1;
            break;
        }
        memcpy(failed[n_failed++], p->chain, CHAIN_ID_LEN);
        chain_reset(&rc);
        unlink(part);
        unlink_sidecars(part);
        fprintf(stderr, "tgs3 recover: chain %s gives no usable index; trying an older pin\n", rc.chain_hex);
    }
    if (status != 0) {
        fprintf(stderr, "tgs3 recover: no index recovered\n");
        goto out;
    }
    printf("recovered %s\n", path);
    if (gw.cfg.key_file != NULL)
        printf("start the gateway with --key-file %s (it begins a new chain at once)\n", gw.cfg.key_file);
out:
    chain_reset(&rc);
    free(failed);
    free(rc.pins);
    free(rc.jd);
    gw_tool_close(&gw);
    remove_scratch(tmp);
    gw_config_release(&gw.cfg);
    fflush(stdout);
    return status;
}
