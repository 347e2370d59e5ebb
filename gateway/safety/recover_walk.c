/* recover_walk.c — tgs3 recover, finding the chain and reading its documents (recover.h).
 *
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
 *
 * recover.c takes it from there (the snapshot, the journal, the command),
 * getting each document's plaintext through rc_doc_plain. Everything here
 * runs on the main thread, running the loop until its reads are in.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/blocks/shard.h"
#include "gateway/safety/recover.h"

void rc_ms_text(int64_t ms, char *out, size_t cap)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (ms <= 0 || gmtime_r(&t, &tm) == NULL || strftime(out, cap, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(out, cap, "unknown");
}

void rc_warn(const struct rc *rc, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", rc->who);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
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
            rc_warn(rc, "chat %lld: getChat by bot %lld failed: %s (%s); asking bot %lld\n",
                    (long long)chat_id, (long long)gw->bots[a->bot].id, tg_status_name(res->status),
                    res->description, (long long)gw->bots[(a->bot + 1) % gw->n_bots].id);
            a->bot = (a->bot + 1) % gw->n_bots;
            tg_get_chat(gw->tg, gw->bots[a->bot].token, chat_id, on_chat, a);
            return;
        }
        rc_warn(rc, "chat %lld: getChat failed: %s (%s); skipped\n", (long long)chat_id,
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
    rc_ms_text(p.chain_at, when, sizeof(when));
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

void rc_ask_chats(struct rc *rc)
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
int rc_journal_check(struct rc *rc, int64_t seq, const unsigned char *plain, size_t len, char *err, size_t cap)
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
int rc_manifest_check(struct rc *rc, const unsigned char *plain, size_t len, struct chain_manifest *mf, char *err,
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
            rc_warn(rc, "document %lld names document %lld with another identity; ignored\n",
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
int rc_head_open(struct rc *rc, const struct pin *p)
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
        rc_warn(rc, "chat %lld: the pinned document %lld is further along its chain than this "
                        "tool follows (%lld documents); skipped\n",
                (long long)p->chat_id, (long long)p->seq, (long long)MAX_DOCS);
        return -1;
    }
    if (p->file_size > PIN_MAX) {
        rc_warn(rc, "chat %lld: the pinned document is %lld bytes, more than a chain document "
                        "can be; skipped\n", (long long)p->chat_id, (long long)p->file_size);
        return -1;
    }
    tg_fetch_file(gw->tg, gw->bots[p->bot].token, p->file_id, p->file_size > 0 ? p->file_size : -1, (size_t)PIN_MAX,
                  on_pin_fetched, &f);
    while (!f.done)
        uv_run(gw->loop, UV_RUN_ONCE);
    if (f.data == NULL) {
        rc_warn(rc, "chat %lld: cannot download the pinned document: %s\n", (long long)p->chat_id,
                f.err);
        return -1;
    }
    enum blk_status bs = blk_shard_peek(f.data, f.len, &idx, &k, &m, id, &sealed);
    bigbuf_free(f.data);
    chain_uuid(p->chain, p->seq, uuid);
    if (bs != BLK_OK || sealed < BLK_OVERHEAD || sealed > (uint64_t)PIN_MAX * STORE_MAX_SHARDS) {
        rc_warn(rc, "chat %lld: the pinned document is no shard of a chain document\n",
                (long long)p->chat_id);
        return -1;
    }
    if (memcmp(id, uuid, sizeof(uuid)) != 0) {
        rc_warn(rc, "chat %lld: the pinned document is not document %lld of the chain its caption "
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
        rc_warn(rc, "chat %lld: the pinned document %s\n", (long long)p->chat_id, err);
        return -1;
    }
    memcpy(rc->chain, p->chain, CHAIN_ID_LEN);
    hex_encode(rc->chain, CHAIN_ID_LEN, rc->chain_hex);
    rc->chain_at = p->chain_at;
    rc->head = p->seq;
    int bad;
    if (p->seq == 0) {
        struct chain_manifest mf;
        bad = rc_manifest_check(rc, plain, len, &mf, err, sizeof(err));
        if (!bad)
            chain_manifest_release(&mf);
    } else {
        bad = rc_journal_check(rc, p->seq, plain, len, err, sizeof(err));
    }
    if (bad) {
        rc_warn(rc, "chat %lld: the pinned document %s\n", (long long)p->chat_id, err);
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
        learn(rc, rc->jd); /* rc_journal_check left it decoded */
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
            rc_warn(rc, "journal document %lld of chain %s %s\n", (long long)seq, rc->chain_hex,
                    err != NULL ? err : "cannot be read");
        else
            rc_warn(rc, "the manifest of chain %s %s\n", rc->chain_hex,
                    err != NULL ? err : "cannot be read");
        return;
    }
    if (seq > 0) {
        if (rc_journal_check(rc, seq, plain, len, why, sizeof(why)) != 0) {
            d->state = D_BAD;
            rc->n_bad++;
            rc_warn(rc, "journal document %lld of chain %s %s\n", (long long)seq,
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

void rc_walk(struct rc *rc)
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
unsigned char *rc_doc_plain(struct rc *rc, int64_t seq, size_t *len, int *owned, char *err, size_t cap)
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

void rc_doc_drop(struct rc *rc, int64_t seq)
{
    struct doc *d = &rc->docs[seq];
    if (d->plain != NULL) {
        rc->held -= d->plain_len;
        free(d->plain);
        d->plain = NULL;
    }
}

void rc_chain_reset(struct rc *rc)
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
    if (rc->have_mf)
        chain_manifest_release(&rc->mf);
    rc->have_mf = 0;
    rc->n_blocks = 0;
    rc->index_size = 0;
}
