/* strays.c — after a crash or a recovery, finds the posts Telegram kept that the index does not know, deletes them.
 *
 * kill -9 while a block is being posted can swallow the answer to a
 * sendDocument that Telegram carried out: the message exists, nothing in
 * the index names it. The journal keeps every such unconfirmed post (its
 * random block identity), and a pack whose post started but is not
 * recorded keeps its row (chat_id 0, marked "posting") and spool file; the caption of every post names that
 * identity ("id=<32 hex>", packs also "pack=<row>"). The Bot API cannot list
 * a chat, but message ids in a chat are sequential, so after such a crash
 * the gateway reads the ids where the strays can be and deletes the ones
 * whose caption names an unconfirmed post.
 *
 * DESIGN
 *   Where: per configured chat, the ids above a floor (the newest block
 *   created before the oldest unconfirmed post started: such a post got a
 *   larger id) that the index does not reference (blocks, delete queue,
 *   unreclaimable, journal, snapshot). Reading one means forwarding it into
 *   the same chat (the only way the Bot API returns a message, reference
 *   §5.9); the copy is queued for deletion at once. The first copy's id is
 *   the top: everything from there on was posted by this run. Before any
 *   copy exists (the first forward is of the newest referenced message, to
 *   learn the top), PROBE_MISS_RUN missing ids in a row above the newest
 *   known one end a chat.
 *   What: a message whose caption names an unconfirmed post or an unposted
 *   pack; a forwarded copy with a tgs3 caption (an earlier probe's copy
 *   whose deletion a crash cut off). The store re-checks in the collecting
 *   transaction that no block references the message: the probe never
 *   deletes what the index references. Each collected post ends its journal
 *   row; rows never found (the post never reached Telegram) are forgotten
 *   when the probe ends.
 *   Bounds: at most --stray-probe-max forwards per start, each through the
 *   scheduler's rate budget of the pair (waiting for a token, pausing on
 *   429), one at a time; a candidate gets PROBE_ATTEMPTS tries.
 *   Order: packs resumed with a post cut off are posted only after the
 *   probe (a repost carries the caption the probe deletes copies of); new
 *   uploads go on meanwhile (their captions name fresh identities). The probe begins
 *   --stray-probe-delay ms after start-up, so that posts the crashed run
 *   handed to the Bot API server just before dying have landed.
 *   After a recovery: `tgs3 recover` leaves per chat a sweep window of ids
 *   (sweep.c, table sweeps) where the lost run's posts that no applied
 *   journal document names can be. The probe also reads every id of each
 *   window that the index does not reference (the same reads, the same
 *   bounds, the window's top known, so no learning) and collects every
 *   message there whose caption is a tgs3 one (a block, shard, pack, chain
 *   document, sweep probe or an earlier probe's copy), re-checked in the
 *   collecting transaction against every table that references messages
 *   (store_sweep_collect). Each read copy moves the window's floor; a
 *   window read to its top is dropped.
 *   Threads: loop thread; the store work goes through the store thread.
 *   A crash during the probe leaves the rows not yet settled, and the rest
 *   of the windows, for the next start.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw.h"

#define PROBE_MISS_RUN 32          /* missing ids in a row that end a chat whose top is unknown */
#define PROBE_ATTEMPTS 3           /* tries per candidate on transport errors and 5xx */
#define PROBE_CLOCK_SLACK_MS 10000 /* the floor's times come from the wall clock: allow for small steps */
#define PROBE_MAX_REFS (1u << 22)  /* referenced ids loaded per chat (skipping them saves calls only) */
#define PROBE_MAX_PACKS 100000     /* packs whose post was cut off looked for */
#define PROBE_MAX_SWEEPS 4096      /* sweep windows read (one per chat) */

struct want {
    unsigned char uuid[16];
    int64_t started_ms; /* the post started no earlier than this */
    int64_t pack_id;    /* a pack's block row, or 0 for a journaled block */
    int found;
};

struct gw_strays {
    struct gw *gw;
    struct want *want;
    size_t n_want;
    int64_t before_ms; /* posts looked for started at or after this */
    struct store_sweep *sweeps; /* the windows a recovery left, by chat */
    size_t n_sweeps;
    struct store_sweep *sw; /* the chat's window, or NULL */
    size_t ci;         /* chat being probed */
    int64_t floor;     /* ids at or below it are not looked at */
    int64_t top;       /* the first copy's id: 0 until known */
    int64_t max_known; /* the newest referenced id above the floor (0: none) */
    int64_t *refs;     /* referenced ids above the floor, ascending */
    size_t n_refs, ref_i;
    int64_t cur;       /* candidate being read */
    int learning;      /* reading max_known to learn the top */
    int misses, attempts;
    int64_t forwards; /* calls made (bounded by --stray-probe-max) */
    size_t collected, copies, candidates, swept;
    size_t bot;
    uv_timer_t timer;
    struct tg_call *call;
    int ended;        /* no more reads */
    int plan_pending; /* a plan job holds a pointer to this */
    int closed;       /* the timer is closed: freed once no plan job is pending */
};

/* ---- store jobs (self-contained: they may finish after the probe is gone) ---- */

struct collect_job {
    int64_t chat, bot;
    size_t n;
    int64_t ids[2], posted_ms[2];
    unsigned char uuid[2][16];
    int has_uuid[2];
    int swept[2];      /* in a sweep window: anything referencing it keeps it */
    int64_t through;   /* the chat's sweep window is read up to here (0: no window; INT64_MAX: done) */
    enum store_status st[2], st_through;
};

static void collect_run(struct store *st, void *arg)
{
    struct collect_job *j = arg;
    for (size_t i = 0; i < j->n; i++)
        j->st[i] = j->swept[i] ? store_sweep_collect(st, j->chat, j->ids[i], j->bot, now_ms())
                               : store_stray_collect(st, j->chat, j->ids[i], j->bot, j->posted_ms[i],
                                                     j->has_uuid[i] ? j->uuid[i] : NULL, now_ms());
    j->st_through = j->through != 0 ? store_sweep_advance(st, j->chat, j->through) : STORE_OK;
}

static void collect_done(void *arg)
{
    struct collect_job *j = arg;
    for (size_t i = 0; i < j->n; i++) {
        if (j->st[i] == STORE_EXISTS)
            log_error("strays: message %lld/%lld is referenced by %s; not deleted", (long long)j->chat,
                      (long long)j->ids[i], j->swept[i] ? "the index" : "a block");
        else if (j->st[i] != STORE_OK)
            log_error("strays: cannot queue message %lld/%lld for deletion: %s", (long long)j->chat,
                      (long long)j->ids[i], store_status_name(j->st[i]));
    }
    if (j->st_through != STORE_OK)
        log_error("strays: chat %lld: cannot record how far its sweep window is read: %s (the next start reads "
                  "it again)",
                  (long long)j->chat, store_status_name(j->st_through));
    free(j);
}

/* Records that the chat's sweep window is read up to through (INT64_MAX: all of it). */
static void sweep_advance(struct gw *gw, int64_t chat, int64_t through)
{
    struct collect_job *j = xcalloc(1, sizeof(*j));
    j->chat = chat;
    j->through = through;
    gw_store_call(gw, collect_run, collect_done, j);
}

struct forget_job {
    unsigned char (*uuids)[16];
    size_t n;
    enum store_status st;
};

static void forget_run(struct store *st, void *arg)
{
    struct forget_job *j = arg;
    j->st = store_inflight_forget(st, (const unsigned char(*)[16])j->uuids, j->n);
}

static void forget_done(void *arg)
{
    struct forget_job *j = arg;
    if (j->st != STORE_OK)
        log_error("strays: cannot end %zu journal rows: %s (the next start looks again)", j->n,
                  store_status_name(j->st));
    free(j->uuids);
    free(j);
}

/* ---- planning (start-up, synchronous) ---------------------------------------- */

void gw_strays_plan(struct gw *gw, struct store_inflight *rows, size_t n)
{
    struct store *st = gw_storeq_store(gw->storeq);
    struct store_stray_pack *packs = NULL;
    struct store_sweep *sweeps = NULL;
    size_t n_packs = 0, n_sweeps = 0;
    if (store_strays_unposted(st, PROBE_MAX_PACKS, &packs, &n_packs) != STORE_OK) {
        log_error("strays: cannot list the packs being posted: %s", store_errmsg(st));
        n_packs = 0;
    }
    if (store_sweeps_list(st, PROBE_MAX_SWEEPS, &sweeps, &n_sweeps) != STORE_OK) {
        log_error("strays: cannot list the sweep windows of a recovery: %s", store_errmsg(st));
        n_sweeps = 0;
    }
    if (n + n_packs + n_sweeps == 0) {
        free(rows);
        free(packs);
        free(sweeps);
        return;
    }
    if (gw->cfg.stray_probe_max == 0 || gw->cfg.n_chat_ids == 0) {
        /* No search: the rows and the windows stay for a start that searches. */
        if (n > 0 || n_sweeps > 0)
            log_warn("strays: --stray-probe-max 0: %zu unconfirmed posts and %zu sweep windows are not looked at",
                     n, n_sweeps);
        free(rows);
        free(packs);
        free(sweeps);
        return;
    }
    struct gw_strays *s = xcalloc(1, sizeof(*s));
    s->gw = gw;
    s->sweeps = sweeps;
    s->n_sweeps = n_sweeps;
    s->want = xcalloc(n + n_packs, sizeof(*s->want));
    s->before_ms = INT64_MAX;
    for (size_t i = 0; i < n; i++) {
        struct want *w = &s->want[s->n_want++];
        memcpy(w->uuid, rows[i].uuid, sizeof(w->uuid));
        w->started_ms = rows[i].started_ms;
    }
    for (size_t i = 0; i < n_packs; i++) {
        struct want *w = &s->want[s->n_want++];
        memcpy(w->uuid, packs[i].uuid, sizeof(w->uuid));
        w->started_ms = packs[i].created_ms;
        w->pack_id = packs[i].block_id;
    }
    for (size_t i = 0; i < s->n_want; i++)
        if (s->want[i].started_ms < s->before_ms)
            s->before_ms = s->want[i].started_ms;
    if (s->n_want > 0)
        s->before_ms -= PROBE_CLOCK_SLACK_MS;
    free(rows);
    free(packs);
    uv_timer_init(gw->loop, &s->timer);
    s->timer.data = s;
    gw->strays = s;
    log_info("strays: %zu unconfirmed posts and %zu packs being posted left by the last run, %zu sweep windows of a "
             "recovery; looking in %zu chat(s) in %lld ms",
             n, n_packs, n_sweeps, gw->cfg.n_chat_ids, (long long)gw->cfg.stray_probe_delay_ms);
}

/* ---- the probe ------------------------------------------------------------------ */

static void probe_next(struct gw_strays *s);

static void strays_free(struct gw_strays *s)
{
    free(s->want);
    free(s->sweeps);
    free(s->refs);
    free(s);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct gw_strays *s = h->data;
    s->closed = 1;
    if (!s->plan_pending)
        strays_free(s);
}

/* Ends the probe: forgets what was not found, lets resumed packs go. */
static void probe_end(struct gw_strays *s, const char *why)
{
    struct gw *gw = s->gw;
    size_t lost = 0, found = 0;
    struct forget_job *j = xcalloc(1, sizeof(*j));
    j->uuids = xcalloc(s->n_want, sizeof(*j->uuids));
    for (size_t i = 0; i < s->n_want; i++) {
        if (s->want[i].found) {
            found++;
            continue;
        }
        if (s->want[i].pack_id == 0)
            memcpy(j->uuids[j->n++], s->want[i].uuid, 16);
        lost++;
    }
    if (j->n > 0) {
        gw_store_call(gw, forget_run, forget_done, j);
    } else {
        free(j->uuids);
        free(j);
    }
    log_info("strays: %s; read %lld message ids (%zu candidates), %zu strays queued for deletion (%zu of the "
             "%zu posts looked for, %zu copies of earlier probes, %zu unreferenced in sweep windows); %zu never "
             "reached Telegram or were not found",
             why, (long long)s->forwards, s->candidates, s->collected, found, s->n_want, s->copies, s->swept, lost);
    s->ended = 1;
    gw->strays = NULL;
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
    gw_pack_release_resumed(gw);
}

struct plan_job {
    struct gw_strays *s; /* kept alive while the job runs (plan_pending) */
    int64_t chat, before_ms, floor;
    int want;            /* posts are looked for (else only the sweep window) */
    int64_t sweep_floor; /* the chat's sweep window begins above it (0: none) */
    int64_t *refs;
    size_t n_refs;
    enum store_status st;
};

static void plan_run(struct store *st, void *arg)
{
    struct plan_job *j = arg;
    j->floor = INT64_MAX;
    j->st = j->want ? store_strays_floor(st, j->chat, j->before_ms, &j->floor) : STORE_OK;
    if (j->st == STORE_OK && j->sweep_floor > 0 && j->sweep_floor < j->floor)
        j->floor = j->sweep_floor;
    if (j->st == STORE_OK)
        j->st = store_strays_referenced(st, j->chat, j->floor, PROBE_MAX_REFS, &j->refs, &j->n_refs);
}

static void probe_chat(struct gw_strays *s);

/* Plan for the chat at s->ci is in: start reading. */
static void chat_planned(struct gw_strays *s, struct plan_job *j)
{
    struct gw *gw = s->gw;
    if (j->st != STORE_OK) {
        log_error("strays: chat %lld: cannot read the index: %s; not searched", (long long)gw->cfg.chat_ids[s->ci],
                  store_status_name(j->st));
        free(j->refs);
        s->ci++;
        probe_chat(s);
        return;
    }
    s->floor = j->floor;
    s->refs = j->refs;
    s->n_refs = j->n_refs;
    s->max_known = s->n_refs > 0 ? s->refs[s->n_refs - 1] : 0;
    s->cur = s->floor;
    /* Learn the top first by reading the newest known message; a window alone knows its top. */
    s->learning = s->n_want > 0 && s->max_known > 1;
    if (s->n_want == 0)
        s->top = s->sw->top;
    log_debug("strays: chat %lld: ids above %lld, %zu referenced, newest known %lld",
              (long long)gw->cfg.chat_ids[s->ci], (long long)s->floor, s->n_refs, (long long)s->max_known);
    probe_next(s);
}

static void on_planned(void *arg)
{
    struct plan_job *j = arg;
    struct gw_strays *s = j->s;
    s->plan_pending = 0;
    if (s->ended || s->gw->stopping) {
        free(j->refs);
        free(j);
        if (s->closed)
            strays_free(s);
        return;
    }
    chat_planned(s, j);
    free(j);
}

/* The sweep window of chat, or NULL. */
static struct store_sweep *sweep_of(const struct gw_strays *s, int64_t chat)
{
    for (size_t i = 0; i < s->n_sweeps; i++)
        if (s->sweeps[i].chat_id == chat)
            return &s->sweeps[i];
    return NULL;
}

static void probe_chat(struct gw_strays *s)
{
    struct gw *gw = s->gw;
    if (gw->stopping)
        return;
    /* Only the posts looked for are in every chat; a window, in its own. */
    while (s->ci < gw->cfg.n_chat_ids && s->n_want == 0 && sweep_of(s, gw->cfg.chat_ids[s->ci]) == NULL)
        s->ci++;
    if (s->ci >= gw->cfg.n_chat_ids) {
        probe_end(s, "done");
        return;
    }
    free(s->refs);
    s->refs = NULL;
    s->n_refs = s->ref_i = 0;
    s->top = s->max_known = 0;
    s->misses = s->attempts = 0;
    s->sw = sweep_of(s, gw->cfg.chat_ids[s->ci]);
    struct plan_job *j = xcalloc(1, sizeof(*j));
    j->s = s;
    j->chat = gw->cfg.chat_ids[s->ci];
    j->before_ms = s->before_ms;
    j->want = s->n_want > 0;
    j->sweep_floor = s->sw != NULL ? (s->sw->floor > 0 ? s->sw->floor : 1) : 0;
    s->plan_pending = 1;
    gw_store_call(gw, plan_run, on_planned, j);
}

/* The candidate after s->cur, or 0 when the chat is done. */
static int64_t next_candidate(struct gw_strays *s)
{
    for (;;) {
        int64_t c = s->cur + 1;
        if (s->top != 0 && c >= s->top)
            return 0;
        if (s->top == 0 && c > s->max_known && s->misses >= PROBE_MISS_RUN && (s->sw == NULL || c >= s->sw->top))
            return 0;
        s->cur = c;
        while (s->ref_i < s->n_refs && s->refs[s->ref_i] < c)
            s->ref_i++;
        if (s->ref_i < s->n_refs && s->refs[s->ref_i] == c)
            continue; /* referenced: never read, never deleted */
        return c;
    }
}

/* Parses "id=<32 hex>" out of a tgs3 caption. */
static int caption_uuid(const char *cap, unsigned char uuid[16])
{
    if (strncmp(cap, "tgs3 v1 ", 8) != 0)
        return -1;
    const char *p = strstr(cap, " id=");
    if (p == NULL)
        return -1;
    p += 4;
    for (int i = 0; i < 16; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char ch = p[2 * i + k];
            unsigned d;
            if (ch >= '0' && ch <= '9')
                d = (unsigned)(ch - '0');
            else if (ch >= 'a' && ch <= 'f')
                d = (unsigned)(ch - 'a' + 10);
            else
                return -1;
            v = v * 16 + d;
        }
        uuid[i] = (unsigned char)v;
    }
    return p[32] == '\0' || p[32] == ' ' ? 0 : -1;
}

static struct want *match(struct gw_strays *s, const char *cap)
{
    unsigned char u[16];
    if (caption_uuid(cap, u) != 0)
        return NULL;
    for (size_t i = 0; i < s->n_want; i++) {
        struct want *w = &s->want[i];
        if (memcmp(w->uuid, u, 16) != 0)
            continue;
        if (w->pack_id != 0) { /* a pack's caption also names its row */
            long long id = 0;
            const char *p = strstr(cap, " pack=");
            if (p == NULL || sscanf(p, " pack=%lld", &id) != 1 || id != w->pack_id)
                return NULL;
        }
        return w;
    }
    return NULL;
}

static void on_probe_timer(uv_timer_t *t)
{
    probe_next(t->data);
}

static void on_forwarded(void *ud, const struct tg_result *res, const struct tg_document *doc)
{
    struct gw_strays *s = ud;
    struct gw *gw = s->gw;
    int64_t chat = gw->cfg.chat_ids[s->ci];
    s->call = NULL;
    if (gw->stopping || s->ended)
        return;
    if (res->status == TG_OK && doc != NULL) {
        struct collect_job *j = xcalloc(1, sizeof(*j));
        j->chat = chat;
        j->bot = gw->bots[s->bot].id;
        j->ids[j->n] = doc->message_id; /* our copy: nobody references it */
        j->posted_ms[j->n++] = now_ms();
        if (s->top == 0 || doc->message_id < s->top)
            s->top = doc->message_id;
        s->misses = 0;
        s->attempts = 0;
        if (s->learning) {
            s->learning = 0;
        } else {
            /* Our copy names its source's original: the candidate itself when it
             * was posted, an older message when it is itself a forwarded copy. */
            int is_copy = doc->forward_from_message_id != 0 && doc->forward_from_message_id != s->cur;
            int ours = strncmp(doc->caption, "tgs3 v1 ", 8) == 0;
            int in_window = s->sw != NULL && s->cur > s->sw->floor && s->cur < s->sw->top;
            struct want *w = match(s, doc->caption);
            if (in_window)
                j->through = s->cur;
            if (w != NULL || (ours && (is_copy || in_window))) {
                j->swept[j->n] = w == NULL && in_window;
                if (j->swept[j->n])
                    s->swept++;
                j->ids[j->n] = s->cur;
                j->posted_ms[j->n] = w != NULL ? w->started_ms : now_ms();
                /* A copy of a stray names it too, but only the original ends its journal row. */
                if (w != NULL && !is_copy) {
                    memcpy(j->uuid[j->n], w->uuid, 16);
                    j->has_uuid[j->n] = w->pack_id == 0;
                    w->found = 1;
                }
                j->n++;
                s->collected++;
                if (is_copy)
                    s->copies++;
                log_info("strays: chat %lld: message %lld is a stray of the last run (caption '%s'%s); queued for "
                         "deletion",
                         (long long)chat, (long long)s->cur, doc->caption,
                         w == NULL && in_window ? ", in the sweep window of a recovery" : "");
            }
        }
        gw_store_call(gw, collect_run, collect_done, j);
    } else if (res->status == TG_ERR_NOT_FOUND) {
        s->learning = 0;
        s->misses++;
        s->attempts = 0;
    } else if (res->status == TG_ERR_RATE_LIMITED) {
        int ci = gw_chat_index(gw, chat);
        if (gw->pool != NULL && ci >= 0)
            tg_pool_pause(gw->pool, s->bot, (size_t)ci, res->retry_after, mono_ms());
        if (!s->learning)
            s->cur--; /* the same candidate again */
    } else if ((res->status == TG_ERR_API && res->http_status == 400) || res->status == TG_ERR_PARSE) {
        /* Not a document (a service message such as a pin): nothing of ours. */
        s->learning = 0;
        s->misses = 0;
        s->attempts = 0;
    } else if (++s->attempts < PROBE_ATTEMPTS) {
        if (!s->learning)
            s->cur--;
    } else {
        log_warn("strays: chat %lld: message %lld could not be read (%s: %s); skipped", (long long)chat,
                 (long long)s->cur, tg_status_name(res->status), res->description);
        s->learning = 0;
        s->attempts = 0;
    }
    probe_next(s);
}

static void probe_next(struct gw_strays *s)
{
    struct gw *gw = s->gw;
    if (gw->stopping || s->ended)
        return;
    int64_t cand;
    if (s->learning) {
        cand = s->max_known;
    } else {
        cand = next_candidate(s);
        if (cand == 0) {
            log_debug("strays: chat %lld searched up to %lld", (long long)gw->cfg.chat_ids[s->ci],
                      (long long)(s->top ? s->top : s->cur));
            if (s->sw != NULL) {
                sweep_advance(gw, gw->cfg.chat_ids[s->ci], INT64_MAX);
                s->sw->chat_id = 0; /* read: a chat configured twice is not read again */
            }
            s->ci++;
            probe_chat(s);
            return;
        }
    }
    if (s->forwards >= gw->cfg.stray_probe_max) {
        if (!s->learning)
            s->cur--;
        probe_end(s, "stopped at --stray-probe-max");
        return;
    }
    /* The scheduler's budget: the bot that may post into this chat soonest. */
    int64_t now = mono_ms(), wait = -1;
    for (size_t b = 0; b < gw->n_bots; b++) {
        int64_t w = tg_pool_wait(gw->pool, b, s->ci, now);
        if (wait < 0 || w < wait) {
            wait = w;
            s->bot = b;
        }
    }
    if (wait > 0) {
        if (!s->learning)
            s->cur--; /* taken again after the wait */
        uv_timer_start(&s->timer, on_probe_timer, (uint64_t)wait, 0);
        return;
    }
    tg_pool_take(gw->pool, s->bot, s->ci, now);
    s->forwards++;
    if (!s->learning)
        s->candidates++;
    int64_t chat = gw->cfg.chat_ids[s->ci];
    s->call = tg_forward_message(gw->tg, gw->bots[s->bot].token, chat, chat, cand, on_forwarded, s);
}

static void on_start(uv_timer_t *t)
{
    probe_chat(t->data);
}

void gw_strays_start(struct gw *gw)
{
    struct gw_strays *s = gw->strays;
    if (s == NULL)
        return;
    uv_timer_start(&s->timer, on_start, (uint64_t)gw->cfg.stray_probe_delay_ms, 0);
}

void gw_strays_stop(struct gw *gw)
{
    struct gw_strays *s = gw->strays;
    if (s == NULL)
        return;
    gw->strays = NULL;
    s->ended = 1;
    uv_timer_stop(&s->timer);
    tg_call_cancel(s->call);
    s->call = NULL;
    uv_close((uv_handle_t *)&s->timer, on_timer_closed);
}
