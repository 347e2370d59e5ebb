/* journal.c — the index, continuously in Telegram: the journal of changes after each snapshot.
 *
 * DESIGN (the formats and how recover reads them: chain.h)
 * The index's connection records every change in an SQLite session from the
 * moment serve opens it (store/changes.c). Every tick this file takes the
 * changes (a changeset, on the store thread, between jobs: never half a
 * transaction), and posts them as the chain's next journal document: sealed,
 * mirrored into 1 + M chats, each copy pinned, naming where earlier
 * documents live; once Telegram holds it, the index records it (chain_docs,
 * chain_seq). Changesets wait in order in memory while Telegram does not take
 * them; a backlog is posted one document after the other, no cadence between.
 *
 * Cadence: at most every --journal-interval, and no more often than leaves
 * three quarters of the chats' post budget to data: a document costs
 * 2 × (1 + M) calls (posts and pins), the pairs allow pairs × rate per
 * minute. With one bot and one chat at 20 posts a minute that is one
 * document every 24 s; with 8 chats × 3 bots at 4 + 2, every 3 s.
 *
 * A new chain (a snapshot, snapshot.c) starts when there is none, when the
 * last run did not end cleanly (the session's changes died with it), when a
 * tool wrote the index without a session (the unjournaled mark), when the
 * journal since the snapshot passed a quarter of the index's size, and at
 * the latest --snapshot-interval after the chain began (its messages must be
 * deleted inside Telegram's 48-hour window). The changes taken with the copy
 * belong to the old chain: if the new one fails they are posted there.
 *
 * Data first: the index's documents take places in the same (bot, chat)
 * windows as the objects' blocks. Changes are taken once the oldest is
 * JOURNAL_SETTLE_MS old (a burst of requests becomes one document, and the
 * upload that follows a CreateBucket is under way by then); while blocks are
 * uploading or waiting for a pair, documents and snapshots wait, until the
 * oldest change they would carry is JOURNAL_YIELD_MS old. So an upload that
 * fits a pair's window goes as one burst and the index follows it. A new
 * install posts no snapshot before its index holds anything.
 *
 * Packs: an object acknowledged from the spool can be named by a journal
 * document before its pack is posted; its extents then point at an unposted
 * pack row (chat 0), and recover drops such objects (their bytes never
 * reached Telegram). So an acknowledged object is recoverable
 * --pack-delay (+ the scheduler's wait) + the journal's cadence after it
 * (+ JOURNAL_YIELD_MS while uploads keep the pairs busy).
 *
 * Shutdown: when the requests are done the last changes are posted
 * (gw_journal_drained, bounded by JOURNAL_DRAIN_MS) and chain_clean is set,
 * so the next start continues the chain instead of beginning a new one.
 *
 * Threads: the loop; SQLite on the store thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/safety/chain.h"

#define JOURNAL_TICK_MS 1000
#define JOURNAL_RETRY_MS 5000
#define JOURNAL_DRAIN_MS 5000 /* at shutdown, the last changes may take this long to post */
#define JOURNAL_BUDGET_SHARE 4       /* the journal takes at most 1/4 of the post budget */
#define JOURNAL_SETTLE_MS 1000     /* changes are taken once the oldest is this old */
#define JOURNAL_YIELD_MS 30000     /* documents wait for data uploads this long at most (their oldest change's age) */
#define SNAPSHOT_JOURNAL_PERCENT 25  /* journal bytes, as a share of the index, that call for a new snapshot */
#define SNAPSHOT_MIN_JOURNAL (1 << 20)
#define CHAIN_MAX_DOCS 20000         /* documents a recovery walks at most */

struct jdoc {
    struct jdoc *next;
    void *changes;          /* store_changes_free */
    size_t len;
    int64_t since_ms;       /* the session was empty then: its changes are at most this old */
    uint64_t epoch;         /* snapshots begun before it was taken */
};

struct gw_journal {
    uv_timer_t timer;
    int timer_on;
    int running;            /* a take, a post or a snapshot in progress */
    int snapshotting;       /* that is a snapshot */
    struct store_chain ch;
    int fresh;              /* a new chain is needed before documents can go */
    struct jdoc *head, *tail;
    size_t n_pending;
    uint64_t epoch;
    int64_t last_empty_ms;
    int64_t next_ms;        /* mono: the next document may go then */
    int64_t index_size;
    int unjournaled;
    int empty;              /* a new install: no chain, no bucket, no block, no change yet; nothing to snapshot */
    int64_t started_ms;     /* mono: the journal's start (what a snapshot due at start waits since) */
    int draining, drained, clean_set;
    int64_t drain_deadline;
    struct gw_journal_counters c;
    struct store *store;    /* read only for store_changes_waiting, from the loop */
    int64_t taking_ms;      /* a take (or a snapshot's cut) is under way: its changes are this old at most; 0 none */
    /* the step in progress */
    struct jdoc *taken;
    enum store_status st;
    struct chain_ref refs[CHAIN_MAX_REFS];
    int n_refs;
    int64_t posting_seq;
};

static int64_t interval_ms(const struct gw *gw, int copies)
{
    double pairs = (double)gw->n_bots * (double)(gw->cfg.n_chat_ids ? gw->cfg.n_chat_ids : 1);
    double rate = gw->cfg.rate_pair_per_min > 0 ? gw->cfg.rate_pair_per_min : 20;
    int64_t budget = (int64_t)(2.0 * copies * 60000.0 * JOURNAL_BUDGET_SHARE / (rate * pairs));
    return budget > gw->cfg.journal_interval_ms ? budget : gw->cfg.journal_interval_ms;
}

/* Mirror copies of a journal document: 1 + M of the layout, at most one per chat. */
static int journal_m(const struct gw *gw)
{
    int m = gw->red_m;
    if ((size_t)m + 1 > gw->cfg.n_chat_ids)
        m = gw->cfg.n_chat_ids > 0 ? (int)gw->cfg.n_chat_ids - 1 : 0;
    return m;
}

static void jdoc_free(struct jdoc *d)
{
    store_changes_free(d->changes);
    free(d);
}

static void push(struct gw_journal *j, struct jdoc *d)
{
    if (j->tail)
        j->tail->next = d;
    else
        j->head = d;
    j->tail = d;
    j->n_pending++;
}

static void pop(struct gw_journal *j)
{
    struct jdoc *d = j->head;
    j->head = d->next;
    if (j->head == NULL)
        j->tail = NULL;
    j->n_pending--;
    jdoc_free(d);
}

/* Drops the documents taken before snapshot epoch e (the snapshot holds their changes). */
static void drop_before(struct gw_journal *j, uint64_t e)
{
    while (j->head != NULL && j->head->epoch < e)
        pop(j);
}

static void step(struct gw *gw);
static void journal_cut(struct gw *gw, struct store *st, uint64_t epoch);
static void journal_cut_done(struct gw *gw, int64_t index_size);
static const struct gw_snapshot_hooks snapshot_hooks = {journal_cut, journal_cut_done};

/* ---- taking the changes (store thread) ---- */

static void take_run(struct store *st, void *arg)
{
    struct gw *gw = arg;
    struct gw_journal *j = gw->journal;
    void *buf = NULL;
    size_t len = 0;
    int64_t since = 0;
    j->st = store_changes_take(st, &buf, &len);
    if (j->st == STORE_OK && len > 0) {
        j->taken = xcalloc(1, sizeof(*j->taken));
        j->taken->changes = buf;
        j->taken->len = len;
    }
    if (j->st == STORE_OK && store_changes_unjournaled(st, &since) == STORE_OK && since > 0)
        j->unjournaled = 1;
}

static void take_done(void *arg)
{
    struct gw *gw = arg;
    struct gw_journal *j = gw->journal;
    int64_t since = j->taking_ms > j->last_empty_ms ? j->taking_ms : j->last_empty_ms;
    j->running = 0;
    j->taking_ms = 0;
    if (j->st != STORE_OK)
        log_error("journal: cannot take the index's changes: %s", store_status_name(j->st));
    j->last_empty_ms = mono_ms();
    if (j->taken == NULL)
        return; /* nothing changed: the next tick looks again (stepping now would take again at once) */
    j->taken->since_ms = since;
    j->taken->epoch = j->epoch;
    push(j, j->taken);
    j->taken = NULL;
    step(gw);
}

/* ---- posting the head document ---- */

struct post_job {
    struct gw *gw;
    struct chain_post *p;
    struct chain_ref ref;
    size_t bytes;
    enum store_status st;
    char err[256];
};

static void record_run(struct store *st, void *arg)
{
    struct post_job *pj = arg;
    struct gw_journal *j = pj->gw->journal;
    struct store_chain_msg msgs[STORE_MAX_SHARDS];
    size_t len;
    int n_keys;
    unsigned char *blob = chain_ref_encode(&pj->ref, &len);
    for (int i = 0; i < pj->ref.sp.n; i++) {
        msgs[i].chat_id = pj->ref.sp.sh[i].chat_id;
        msgs[i].message_id = pj->ref.sp.sh[i].message_id;
        msgs[i].bot_id = pj->ref.sp.sh[i].bot_id;
    }
    struct store_chain_doc d = {
        .chain = j->ch.chain,
        .seq = pj->ref.seq,
        .ref = blob,
        .ref_len = len,
        .bytes = pj->bytes,
        .msgs = msgs,
        .n_msgs = pj->ref.sp.n,
        .keys = chain_post_keys(pj->p, &n_keys),
    };
    d.n_keys = n_keys;
    pj->st = store_chain_add(st, &d, now_ms());
    if (pj->st != STORE_OK)
        snprintf(pj->err, sizeof(pj->err), "%s", store_errmsg(st));
    free(blob);
}

static void record_done(void *arg)
{
    struct post_job *pj = arg;
    struct gw *gw = pj->gw;
    struct gw_journal *j = gw->journal;
    j->running = 0;
    if (pj->st != STORE_OK) {
        log_error("journal: document %lld posted but not recorded: %s (%s); a new chain begins",
                  (long long)pj->ref.seq, store_status_name(pj->st), pj->err);
        chain_post_discard(pj->p);
        j->fresh = 1;
        j->next_ms = mono_ms() + JOURNAL_RETRY_MS;
    } else {
        chain_post_free(pj->p);
        j->ch.seq = pj->ref.seq;
        j->ch.bytes += (int64_t)pj->bytes;
        j->c.docs++;
        j->c.bytes += pj->bytes;
        pop(j);
        j->next_ms = mono_ms() + (j->head ? 0 : interval_ms(gw, journal_m(gw) + 1));
    }
    free(pj);
    step(gw);
}

static void on_posted(struct gw *gw, int ok, const struct chain_ref *ref, struct chain_post *p, void *ud)
{
    struct post_job *pj = ud;
    struct gw_journal *j = gw->journal;
    if (!ok) {
        chain_post_free(p);
        free(pj);
        j->running = 0;
        j->c.failures++;
        j->next_ms = mono_ms() + JOURNAL_RETRY_MS;
        log_warn("journal: document %lld not posted; retrying in %d s", (long long)j->posting_seq,
                 JOURNAL_RETRY_MS / 1000);
        step(gw);
        return;
    }
    pj->p = p;
    pj->ref = *ref;
    gw_store_call(gw, record_run, record_done, pj);
}

static void refs_run(struct store *st, void *arg)
{
    struct gw *gw = arg;
    struct gw_journal *j = gw->journal;
    int64_t seqs[CHAIN_MAX_REFS];
    int n = chain_back_seqs(j->posting_seq, seqs);
    j->n_refs = 0;
    j->st = STORE_OK;
    for (int i = 0; i < n && j->st == STORE_OK; i++) {
        struct store_chain_ref *r = NULL;
        size_t got = 0;
        j->st = store_chain_refs(st, j->ch.chain, seqs[i], seqs[i], 1, &r, &got);
        if (j->st == STORE_OK && got == 1 && chain_ref_decode(r[0].ref, r[0].len, &j->refs[j->n_refs]) == 0)
            j->n_refs++;
        store_chain_refs_free(r, got);
    }
}

static void refs_done(void *arg)
{
    struct gw *gw = arg;
    struct gw_journal *j = gw->journal;
    struct jdoc *d = j->head;
    if (j->st != STORE_OK || d == NULL) {
        log_error("journal: cannot read the chain's references: %s", store_status_name(j->st));
        j->running = 0;
        j->next_ms = mono_ms() + JOURNAL_RETRY_MS;
        return;
    }
    struct chain_journal doc;
    memset(&doc, 0, sizeof(doc));
    memcpy(doc.chain, j->ch.chain, CHAIN_ID_LEN);
    doc.chain_at = j->ch.chain_at;
    doc.seq = j->posting_seq;
    doc.created_ms = now_ms();
    doc.n_refs = j->n_refs;
    memcpy(doc.refs, j->refs, sizeof(j->refs[0]) * (size_t)j->n_refs);
    doc.changes = d->changes;
    doc.changes_len = d->len;
    size_t len;
    unsigned char *plain = chain_journal_encode(&doc, &len);
    struct post_job *pj = xcalloc(1, sizeof(*pj));
    pj->gw = gw;
    pj->bytes = d->len;
    chain_post_start(gw, BLK_KIND_JOURNAL, doc.seq, j->ch.chain, j->ch.chain_at, plain, len, 1, journal_m(gw), 1,
                     on_posted, pj);
}

/* ---- a new chain ---- */

static void on_chain_begun(struct gw *gw, int ok, const struct store_chain *ch, uint64_t epoch, void *ud)
{
    struct gw_journal *j = gw->journal;
    (void)ud;
    j->running = 0;
    j->snapshotting = 0;
    if (ok) {
        j->ch = *ch;
        j->fresh = 0;
        j->unjournaled = 0;
        j->c.snapshots++;
        drop_before(j, epoch);
    } else {
        j->c.failures++;
        j->next_ms = mono_ms() + JOURNAL_RETRY_MS;
        if (!j->ch.have)
            drop_before(j, epoch); /* nothing in Telegram to add them to: the next snapshot holds them */
    }
    step(gw);
}

/* A new install that has held nothing yet: no snapshot, no chain to continue. */
static int holds_nothing(const struct gw_journal *j)
{
    return j->empty && j->head == NULL && store_changes_waiting(j->store) == 0;
}

/* The age mark (mono ms) of the oldest change not in Telegram: the documents waiting in order,
 * a take under way, and the session (what the next take will find); 0: none. */
static int64_t oldest_change(const struct gw_journal *j)
{
    int64_t oldest = j->head ? j->head->since_ms : 0, marks[2] = {j->taking_ms, store_changes_waiting(j->store)};
    for (int i = 0; i < 2; i++)
        if (marks[i] > 0 && (oldest == 0 || marks[i] < oldest))
            oldest = marks[i];
    return oldest;
}

static int snapshot_due(struct gw *gw, struct gw_journal *j)
{
    if (holds_nothing(j))
        return 0; /* nothing to snapshot until the index holds something */
    j->empty = 0;
    if (j->fresh || j->unjournaled || !j->ch.have)
        return 1;
    int64_t grow = j->index_size * SNAPSHOT_JOURNAL_PERCENT / 100;
    if (j->ch.bytes > (grow > SNAPSHOT_MIN_JOURNAL ? grow : SNAPSHOT_MIN_JOURNAL))
        return 1;
    if (j->ch.seq >= CHAIN_MAX_DOCS)
        return 1;
    return gw->cfg.snapshot_interval_ms > 0 && now_ms() - j->ch.chain_at > gw->cfg.snapshot_interval_ms;
}

/* Data first (see the top): 1 when the next document or snapshot should wait. A snapshot
 * carries the whole index: its changes count as old as the journal's start. */
static int data_first(const struct gw *gw, const struct gw_journal *j, int snapshot, int64_t now)
{
    if (j->draining)
        return 0;
    int64_t waiting = store_changes_waiting(j->store), oldest = oldest_change(j);
    if (snapshot && (j->fresh || j->unjournaled || !j->ch.have) && (oldest == 0 || j->started_ms < oldest))
        oldest = j->started_ms;
    if (j->head == NULL && waiting > 0 && now - waiting < JOURNAL_SETTLE_MS)
        return 1;
    struct gw_budget_counters up;
    struct gw_sched_counters sc;
    gw_put_counters(gw, &up);
    gw_sched_counters(gw, &sc);
    int busy = up.held > 0 || up.waiting > 0 || sc.post_waiting > 0;
    return busy && (oldest == 0 || now - oldest < JOURNAL_YIELD_MS);
}

/* The next thing to do, if nothing runs: a snapshot, the head document, or a take. */
/* A take is queued on the store thread: until it is filed, the changes it takes are counted as its. */
static void begin_taking(struct gw_journal *j, int64_t now)
{
    int64_t w = store_changes_waiting(j->store);
    j->taking_ms = w > 0 ? w : now;
}

static void step(struct gw *gw)
{
    struct gw_journal *j = gw->journal;
    if (j == NULL || j->running || gw->tg == NULL)
        return;
    int64_t now = mono_ms();
    if (now < j->next_ms && !(j->draining && j->head != NULL))
        return;
    if (!j->draining && snapshot_due(gw, j)) {
        if (data_first(gw, j, 1, now))
            return;
        j->running = 1;
        j->snapshotting = 1;
        j->epoch++;
        begin_taking(j, now);
        if (gw_snapshot_begin(gw, j->epoch, &snapshot_hooks, on_chain_begun, NULL) != 0) {
            j->taking_ms = 0;
            j->running = 0;
            j->snapshotting = 0;
            j->epoch--;
            j->next_ms = now + JOURNAL_RETRY_MS;
        }
        return;
    }
    if (data_first(gw, j, 0, now))
        return;
    if (j->head != NULL && j->ch.have) {
        j->running = 1;
        j->posting_seq = j->ch.seq + 1;
        gw_store_call(gw, refs_run, refs_done, gw);
        return;
    }
    if (j->head == NULL && now >= j->next_ms) {
        j->running = 1;
        j->c.takes++;
        begin_taking(j, now);
        gw_store_call(gw, take_run, take_done, gw);
    }
}

/* Store thread, inside a snapshot's copy job: the changes so far close the old chain. */
static void journal_cut(struct gw *gw, struct store *st, uint64_t epoch)
{
    struct gw_journal *j = gw->journal;
    void *buf = NULL;
    size_t len = 0;
    if (j == NULL || store_changes_take(st, &buf, &len) != STORE_OK || len == 0)
        return;
    j->taken = xcalloc(1, sizeof(*j->taken));
    j->taken->changes = buf;
    j->taken->len = len;
    j->taken->epoch = epoch - 1;
}

/* Loop thread, when the copy job is done: files what journal_cut took. */
static void journal_cut_done(struct gw *gw, int64_t index_size)
{
    struct gw_journal *j = gw->journal;
    if (j == NULL)
        return;
    j->index_size = index_size;
    j->taking_ms = 0;
    if (j->taken != NULL) {
        j->taken->since_ms = j->last_empty_ms;
        push(j, j->taken);
        j->taken = NULL;
    }
    j->last_empty_ms = mono_ms();
}

/* ---- start, stop ---- */

static void on_tick(uv_timer_t *t)
{
    step(t->data);
}

int gw_journal_prepare(struct gw *gw, struct store *st)
{
    if (gw->cfg.journal_interval_ms <= 0)
        return 0;
    struct gw_journal *j = xcalloc(1, sizeof(*j));
    int64_t since = 0;
    enum store_status s = store_changes_start(st);
    if (s == STORE_OK)
        s = store_chain_get(st, &j->ch);
    if (s == STORE_OK)
        s = store_changes_unjournaled(st, &since);
    if (s == STORE_OK)
        s = store_chain_set_clean(st, 0);
    if (s != STORE_OK) {
        log_error("journal: cannot prepare the index: %s", store_status_name(s));
        free(j);
        return -1;
    }
    j->unjournaled = since > 0;
    j->fresh = !j->ch.have || !j->ch.clean;
    if (!j->ch.have) { /* a new install's index (marked unjournaled when it was made) */
        struct store_stats stats;
        j->empty = store_stats_get(st, &stats) == STORE_OK && stats.buckets == 0 && stats.blocks == 0 &&
                   stats.uploads == 0 && stats.gc_pending == 0;
    }
    if (j->ch.have && !j->fresh && !j->unjournaled)
        log_info("journal: continuing the chain at document %lld", (long long)j->ch.seq);
    else
        log_info("journal: a new chain begins (%s)", j->empty ? "at the index's first change" : !j->ch.have ? "none yet" : !j->ch.clean ? "the last run did not end cleanly" : "the index was changed by a tool");
    j->store = st;
    gw->journal = j;
    return 0;
}

void gw_journal_start(struct gw *gw)
{
    struct gw_journal *j = gw->journal;
    if (j == NULL)
        return;
    j->last_empty_ms = mono_ms();
    j->started_ms = j->last_empty_ms;
    uv_timer_init(gw->loop, &j->timer);
    j->timer.data = gw;
    uv_timer_start(&j->timer, on_tick, 0, JOURNAL_TICK_MS);
    j->timer_on = 1;
}

/* Shutdown, nothing pending: one more take; empty, the chain is marked clean in the same job. */
static void final_run(struct store *st, void *arg)
{
    struct gw *gw = arg;
    struct gw_journal *j = gw->journal;
    void *buf = NULL;
    size_t len = 0;
    j->st = store_changes_take(st, &buf, &len);
    if (j->st == STORE_OK && len > 0) {
        j->taken = xcalloc(1, sizeof(*j->taken));
        j->taken->changes = buf;
        j->taken->len = len;
    } else if (j->st == STORE_OK) {
        j->st = store_chain_set_clean(st, 1);
        j->clean_set = j->st == STORE_OK;
    }
}

static void final_done(void *arg)
{
    struct gw *gw = arg;
    struct gw_journal *j = gw->journal;
    j->running = 0;
    j->taking_ms = 0;
    if (j->taken != NULL) { /* written meanwhile: posted, then looked at again */
        j->taken->since_ms = j->last_empty_ms;
        j->taken->epoch = j->epoch;
        push(j, j->taken);
        j->taken = NULL;
        return;
    }
    j->drained = 1;
    if (j->clean_set)
        log_info("journal: every change is in Telegram (document %lld)", (long long)j->ch.seq);
    else
        log_warn("journal: cannot mark the chain clean (%s); the next start begins a new chain",
                 store_status_name(j->st));
}

int gw_journal_drained(struct gw *gw)
{
    struct gw_journal *j = gw->journal;
    if (j == NULL || j->drained || holds_nothing(j))
        return 1;
    if (!j->draining) {
        j->draining = 1;
        j->drain_deadline = mono_ms() + JOURNAL_DRAIN_MS;
        j->next_ms = 0;
    }
    if (j->snapshotting || mono_ms() > j->drain_deadline || !j->ch.have || j->fresh) {
        if (j->head != NULL || !j->ch.have || j->fresh)
            log_warn("journal: shutting down with changes not in Telegram; the next start begins a new chain");
        return 1; /* the chain stays unclean */
    }
    if (j->running)
        return 0;
    if (j->head != NULL) { /* what is pending goes first */
        step(gw);
        return 0;
    }
    j->running = 1;
    begin_taking(j, mono_ms());
    gw_store_call(gw, final_run, final_done, gw);
    return 0;
}

void gw_journal_stop(struct gw *gw)
{
    struct gw_journal *j = gw->journal;
    if (j == NULL)
        return;
    if (j->timer_on) {
        uv_timer_stop(&j->timer);
        uv_close((uv_handle_t *)&j->timer, NULL);
    }
}

void gw_journal_free(struct gw *gw)
{
    struct gw_journal *j = gw->journal;
    if (j == NULL)
        return;
    while (j->head)
        pop(j);
    if (j->taken)
        jdoc_free(j->taken);
    free(j);
    gw->journal = NULL;
}

void gw_journal_counters(const struct gw *gw, struct gw_journal_counters *out)
{
    const struct gw_journal *j = gw->journal;
    memset(out, 0, sizeof(*out));
    if (j == NULL)
        return;
    *out = j->c;
    out->on = 1;
    out->seq = j->ch.seq;
    /* Three places hold changes not in Telegram yet (oldest_change): the documents waiting in
     * order, a take under way, and the session. */
    int64_t oldest = oldest_change(j);
    out->pending = j->n_pending + (j->taking_ms > 0) + (store_changes_waiting(j->store) > 0);
    out->lag_ms = oldest > 0 ? mono_ms() - oldest : 0;
}
