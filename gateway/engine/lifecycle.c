/* lifecycle.c — the lifecycle runner: buckets' Expiration, NoncurrentVersionExpiration,
 * ExpiredObjectDeleteMarker and AbortIncompleteMultipartUpload rules applied to the index.
 *
 * DESIGN
 * Every --lifecycle-interval a run walks the buckets that have rules, in
 * name order, and each enabled rule's actions in turn: current objects past
 * their expiry (store_object_delete_v without a version: removed, or hidden
 * under a delete marker by the bucket's versioning state), noncurrent
 * versions past theirs beyond the NewerNoncurrentVersions newest (removed by
 * id), lone delete markers (removed by id: at once with
 * ExpiredObjectDeleteMarker, once as old as the Days of an Expiration
 * otherwise, as S3 does), and multipart uploads begun too
 * long ago (aborted). Expiry is S3's: the creation time (or the time a
 * version became noncurrent) plus the days, rounded up to the next midnight
 * UTC, on the gateway's clock (now_ms, which --clock-offset moves). A
 * version under retention or a legal hold is never touched: the store
 * answers STORE_LOCKED and it is skipped and counted. Blocks a removal frees
 * take the ordinary path: references dropped, the delete queue (gc.c).
 *
 * Threads and bounds: the loop only schedules; every step is one store job
 * that reads at most LC_BATCH rows after a cursor and applies them in one
 * transaction, so other store work runs between steps (the store queue is
 * first in, first out). A bucket's configuration is parsed once per run, on
 * the store thread. The time of the last finished run is kept in the index
 * (meta), so a restart keeps the schedule and a run that fell due while the
 * gateway was down starts soon after it comes back. One run at a time.
 */
#include <stdlib.h>
#include <string.h>

#include "gateway/gw.h"

#define LC_BATCH 1000         /* rows read and applied per store transaction */
#define LC_START_MIN_MS 2000  /* a run due at start-up waits this long (or one interval, when shorter) */

enum phase { PH_CURRENT, PH_NONCURRENT, PH_MARKERS, PH_UPLOADS, PH__COUNT };

struct gw_lifecycle {
    struct gw *gw;
    uv_timer_t timer;
    int busy;        /* a store job holds this */
    int stopping, closed;
    struct gw_lifecycle_counters c;
    /* The run, touched by one store job at a time, and by the loop only between them. */
    int64_t run_now;        /* now_ms when the run began: every cutoff of the run comes from it */
    char bucket[STORE_MAX_BUCKET + 1]; /* the bucket being worked on ("" before the first) */
    int have_bucket;
    struct s3_lifecycle cfg;
    int versioning;
    size_t rule;
    int phase;
    char *cursor_key;       /* NULL: the phase's start */
    int64_t cursor_id;
    char cursor_upload[64];
    int finished;           /* no bucket left: the run is over */
    struct gw_lifecycle_counters step; /* what the last step did */
    enum store_status st;
};

static void schedule(struct gw_lifecycle *lc, int64_t delay_ms);

static void free_if_done(struct gw_lifecycle *lc)
{
    if (!lc->stopping || !lc->closed || lc->busy)
        return;
    s3_lifecycle_release(&lc->cfg);
    free(lc->cursor_key);
    free(lc);
}

static void on_closed(uv_handle_t *h)
{
    struct gw_lifecycle *lc = h->data;
    lc->closed = 1;
    free_if_done(lc);
}

/* ---- one step, on the store thread ----------------------------------------------------- */

/* Does rule r take this version? Delete markers have neither tags nor a size that a filter means. */
static int takes(const struct s3_lc_rule *r, const struct store_lc_row *row)
{
    if (row->marker) {
        if (r->n_tags > 0)
            return 0;
        size_t pl = r->prefix != NULL ? strlen(r->prefix) : 0;
        return pl == 0 || strncmp(row->key, r->prefix, pl) == 0;
    }
    struct s3_tag tags[S3_MAX_TAGS];
    size_t n = r->n_tags > 0 ? gw_meta_get_tags(row->meta_json, tags, S3_MAX_TAGS) : 0;
    return s3_lc_rule_matches(r, row->key, strlen(row->key), tags, n, row->size);
}

static void phase_next(struct gw_lifecycle *lc)
{
    free(lc->cursor_key);
    lc->cursor_key = NULL;
    lc->cursor_id = 0;
    lc->cursor_upload[0] = '\0';
    if (++lc->phase >= PH__COUNT) {
        lc->phase = 0;
        lc->rule++;
    }
}

/* Loads the next bucket with rules after lc->bucket; sets finished when there is none. */
static enum store_status bucket_next(struct store *st, struct gw_lifecycle *lc)
{
    struct store_lc_bucket *b = NULL;
    size_t n = 0;
    char msg[512];
    enum store_status s;

    for (;;) {
        s = store_lc_buckets(st, lc->bucket, 1, &b, &n);
        if (s != STORE_OK || n == 0) {
            store_lc_buckets_free(b, n);
            lc->finished = s == STORE_OK;
            return s;
        }
        snprintf(lc->bucket, sizeof(lc->bucket), "%s", b[0].name);
        lc->versioning = b[0].versioning;
        enum s3_err e = s3_lifecycle_parse(b[0].config, strlen(b[0].config), &lc->cfg, msg, sizeof(msg));
        store_lc_buckets_free(b, n);
        if (e == S3E_OK)
            break;
        /* Stored after the same parse: one that no longer parses has no rules to run. */
        log_warn("lifecycle: bucket %s: its stored configuration does not parse (%s); skipped", lc->bucket,
                 s3_err_code(e));
    }
    lc->have_bucket = 1;
    lc->rule = 0;
    lc->phase = 0;
    return STORE_OK;
}

/* Removes one version (NULL: the current object) as DeleteObject would, counting the outcome. */
static enum store_status remove_one(struct store *st, struct gw_lifecycle *lc, const char *key, const char *version,
                                    uint64_t *counter)
{
    struct store_deleted res;
    memset(&res, 0, sizeof(res));
    enum store_status s = store_object_delete_v(st, lc->bucket, key, version, 0, lc->run_now, &res);
    if (s == STORE_OK)
        (*counter)++;
    else if (s == STORE_LOCKED)
        lc->step.locked_skipped++;
    else if (s != STORE_NOT_FOUND) /* gone since the batch was read: nothing to do */
        return s;
    return STORE_OK;
}

/* Applies one batch of rows read for rule r's phase; moves the cursor, or the phase when the batch was the last. */
static enum store_status rows_apply(struct store *st, struct gw_lifecycle *lc, const struct s3_lc_rule *r,
                                    struct store_lc_row *rows, size_t n)
{
    enum store_status s = store_tx_begin(st);
    for (size_t i = 0; i < n && s == STORE_OK; i++) {
        if (!takes(r, &rows[i]))
            continue;
        if (lc->phase == PH_CURRENT)
            s = remove_one(st, lc, rows[i].key, NULL, &lc->step.expired_current);
        else if (lc->phase == PH_NONCURRENT)
            s = remove_one(st, lc, rows[i].key, rows[i].version, &lc->step.expired_noncurrent);
        else
            s = remove_one(st, lc, rows[i].key, rows[i].version, &lc->step.expired_markers);
    }
    if (s == STORE_OK)
        s = store_tx_commit(st);
    else
        store_tx_rollback(st);
    if (s != STORE_OK)
        return s;
    if (n < LC_BATCH) {
        phase_next(lc);
    } else {
        free(lc->cursor_key);
        lc->cursor_key = xstrdup(rows[n - 1].key);
        lc->cursor_id = rows[n - 1].id;
    }
    return STORE_OK;
}

static enum store_status uploads_apply(struct store *st, struct gw_lifecycle *lc, const struct s3_lc_rule *r)
{
    char(*ids)[64] = NULL;
    size_t n = 0;
    const char *prefix = r->prefix != NULL ? r->prefix : "";
    enum store_status s = store_lc_uploads(st, lc->bucket, prefix, s3_lc_cutoff_ms(lc->run_now, r->abort_days),
                                           lc->cursor_upload, LC_BATCH, &ids, &n);
    if (s == STORE_OK)
        s = store_tx_begin(st);
    else
        n = 0;
    for (size_t i = 0; i < n && s == STORE_OK; i++) {
        enum store_status a = store_upload_abort(st, ids[i]);
        if (a == STORE_OK)
            lc->step.aborted_uploads++;
        else if (a != STORE_NOT_FOUND)
            s = a;
    }
    if (s == STORE_OK)
        s = store_tx_commit(st);
    else
        store_tx_rollback(st);
    if (s == STORE_OK) {
        if (n < LC_BATCH)
            phase_next(lc);
        else
            snprintf(lc->cursor_upload, sizeof(lc->cursor_upload), "%s", ids[n - 1]);
    }
    free(ids);
    return s;
}

/* Runs the current phase of the current rule: one batch, or nothing when the phase does not apply. Returns
 * STORE_OK with *worked 0 when it only moved on. */
static enum store_status phase_run(struct store *st, struct gw_lifecycle *lc, int *worked)
{
    const struct s3_lc_rule *r = &lc->cfg.rules[lc->rule];
    const char *prefix = r->prefix != NULL ? r->prefix : "";
    const char *after = lc->cursor_key != NULL ? lc->cursor_key : "";
    struct store_lc_row *rows = NULL;
    size_t n = 0;
    enum store_status s = STORE_OK;
    int64_t cutoff;

    *worked = 0;
    if (!r->enabled) {
        phase_next(lc);
        return STORE_OK;
    }
    switch (lc->phase) {
    case PH_CURRENT:
        if (r->exp_days > 0)
            cutoff = s3_lc_cutoff_ms(lc->run_now, r->exp_days);
        else if (r->exp_date_ms >= 0 && lc->run_now >= r->exp_date_ms)
            cutoff = INT64_MAX / 2; /* past the date: every object the rule takes */
        else
            break;
        *worked = 1;
        s = store_lc_current(st, lc->bucket, prefix, cutoff, after, LC_BATCH, &rows, &n);
        break;
    case PH_NONCURRENT:
        if (r->nc_days <= 0)
            break;
        *worked = 1;
        s = store_lc_noncurrent(st, lc->bucket, prefix, s3_lc_cutoff_ms(lc->run_now, r->nc_days), r->nc_newer, after,
                                lc->cursor_id, LC_BATCH, &rows, &n);
        break;
    case PH_MARKERS:
        /* ExpiredObjectDeleteMarker at once; with Days, S3 also removes the lone markers that old. */
        if (lc->versioning == STORE_VERSIONING_OFF)
            break;
        if (r->exp_marker == 1)
            cutoff = INT64_MAX / 2;
        else if (r->exp_days > 0)
            cutoff = s3_lc_cutoff_ms(lc->run_now, r->exp_days);
        else
            break;
        *worked = 1;
        s = store_lc_lone_markers(st, lc->bucket, prefix, cutoff, after, LC_BATCH, &rows, &n);
        break;
    case PH_UPLOADS:
        if (r->abort_days <= 0)
            break;
        *worked = 1;
        return uploads_apply(st, lc, r);
    }
    if (!*worked) {
        phase_next(lc);
        return STORE_OK;
    }
    if (s == STORE_OK)
        s = rows_apply(st, lc, r, rows, n);
    store_lc_rows_free(rows, n);
    return s;
}

static void step_run(struct store *st, void *arg)
{
    struct gw_lifecycle *lc = arg;
    memset(&lc->step, 0, sizeof(lc->step));
    lc->st = STORE_OK;
    for (;;) {
        if (!lc->have_bucket) {
            lc->st = bucket_next(st, lc);
            if (lc->st != STORE_OK || lc->finished)
                break;
        }
        if (lc->rule >= lc->cfg.n) {
            s3_lifecycle_release(&lc->cfg);
            lc->have_bucket = 0;
            continue;
        }
        int worked = 0;
        lc->st = phase_run(st, lc, &worked);
        if (lc->st != STORE_OK || worked)
            break;
    }
    if (lc->st == STORE_OK && lc->finished)
        lc->st = store_lc_last_run_set(st, now_ms());
}

static void run_reset(struct gw_lifecycle *lc)
{
    s3_lifecycle_release(&lc->cfg);
    free(lc->cursor_key);
    lc->cursor_key = NULL;
    lc->cursor_id = 0;
    lc->cursor_upload[0] = '\0';
    lc->bucket[0] = '\0';
    lc->have_bucket = 0;
    lc->rule = 0;
    lc->phase = 0;
    lc->finished = 0;
}

static void step_done(void *arg)
{
    struct gw_lifecycle *lc = arg;
    lc->busy = 0;
    lc->c.expired_current += lc->step.expired_current;
    lc->c.expired_noncurrent += lc->step.expired_noncurrent;
    lc->c.expired_markers += lc->step.expired_markers;
    lc->c.aborted_uploads += lc->step.aborted_uploads;
    lc->c.locked_skipped += lc->step.locked_skipped;
    if (lc->stopping) {
        free_if_done(lc);
        return;
    }
    if (lc->st != STORE_OK) {
        log_error("lifecycle: bucket %s: %s; the run stops here and the next one starts over", lc->bucket,
                  store_status_name(lc->st));
        run_reset(lc);
        schedule(lc, lc->gw->cfg.lifecycle_interval_ms);
        return;
    }
    if (lc->finished) {
        lc->c.runs++;
        lc->c.last_run_ms = now_ms();
        log_info("lifecycle: run done: %llu expired, %llu noncurrent, %llu delete markers, %llu uploads aborted, "
                 "%llu locked skipped (since start)",
                 (unsigned long long)lc->c.expired_current, (unsigned long long)lc->c.expired_noncurrent,
                 (unsigned long long)lc->c.expired_markers, (unsigned long long)lc->c.aborted_uploads,
                 (unsigned long long)lc->c.locked_skipped);
        run_reset(lc);
        schedule(lc, lc->gw->cfg.lifecycle_interval_ms);
        return;
    }
    lc->busy = 1; /* the next batch, behind whatever else was queued meanwhile */
    gw_store_call(lc->gw, step_run, step_done, lc);
}

static void on_timer(uv_timer_t *t)
{
    struct gw_lifecycle *lc = t->data;
    if (lc->stopping || lc->busy || lc->gw->stopping)
        return;
    run_reset(lc);
    lc->run_now = now_ms();
    lc->busy = 1;
    gw_store_call(lc->gw, step_run, step_done, lc);
}

static void schedule(struct gw_lifecycle *lc, int64_t delay_ms)
{
    uv_timer_start(&lc->timer, on_timer, (uint64_t)(delay_ms > 0 ? delay_ms : 0), 0);
}

/* ---- the schedule ---------------------------------------------------------------------- */

static void last_run(struct store *st, void *arg)
{
    struct gw_lifecycle *lc = arg;
    lc->st = store_lc_last_run(st, &lc->c.last_run_ms);
}

static void last_done(void *arg)
{
    struct gw_lifecycle *lc = arg;
    int64_t interval = lc->gw->cfg.lifecycle_interval_ms;
    int64_t least = interval < LC_START_MIN_MS ? interval : LC_START_MIN_MS;
    lc->busy = 0;
    if (lc->stopping) {
        free_if_done(lc);
        return;
    }
    if (lc->st != STORE_OK) {
        log_warn("lifecycle: cannot read the last run's time: %s", store_status_name(lc->st));
        lc->c.last_run_ms = 0;
    }
    /* Never run: the first run comes soon; else one interval after the last, or soon when that has passed. */
    int64_t delay = lc->c.last_run_ms > 0 ? lc->c.last_run_ms + interval - now_ms() : least;
    schedule(lc, delay < least ? least : delay);
}

void gw_lifecycle_start(struct gw *gw)
{
    struct gw_lifecycle *lc = xcalloc(1, sizeof(*lc));
    lc->gw = gw;
    uv_timer_init(gw->loop, &lc->timer);
    lc->timer.data = lc;
    gw->lifecycle = lc;
    lc->busy = 1;
    gw_store_call(gw, last_run, last_done, lc);
}

void gw_lifecycle_stop(struct gw *gw)
{
    struct gw_lifecycle *lc = gw->lifecycle;
    if (lc == NULL)
        return;
    gw->lifecycle = NULL;
    lc->stopping = 1;
    uv_timer_stop(&lc->timer);
    uv_close((uv_handle_t *)&lc->timer, on_closed); /* a store job still running finishes the free */
}

void gw_lifecycle_counters(const struct gw *gw, struct gw_lifecycle_counters *out)
{
    memset(out, 0, sizeof(*out));
    if (gw->lifecycle != NULL)
        *out = gw->lifecycle->c;
}
