/* sched.c — which (bot, chat) pair posts each block, and when.
 *
 * DESIGN
 * Telegram, not HTTP, bounds tgs3: about 20 posts a minute per bot in one
 * chat and about 30 a second per bot. Blocks ready to be posted wait here in
 * one FIFO; the pool (telegram/pool.c) has token buckets per pair, per bot and
 * per chat, and the head of the FIFO goes to the pair that can post soonest,
 * so throughput approaches pairs × rate × block size. When every pair's
 * buckets are empty a timer wakes the scheduler at the next refill (at least
 * every SCHED_TICK_MS, to expire waiters).
 *
 * A 429 pauses the pair it came from for retry_after (and the whole bot for
 * short waits: its per-second limit) and the block goes back to the FIFO for
 * the next free pair; so do 5xx answers and lost connections that survived
 * the client's own retries, at most MAX_FAILURES times. A block that waits
 * longer than --max-schedule-wait for a pair is handed back (expired): its
 * request fails with 503 SlowDown rather than queueing without bound. The
 * global in-flight budget (--max-upload-blocks, engine.c) bounds how many
 * blocks wait here at all.
 *
 * Rollover: every confirmed post counts against its chat; a chat holding
 * --chat-max-messages blocks is closed and the other chats take over.
 *
 * Local mode with --staging-dir: a block is written there on libuv's pool
 * and posted by file:// (the Bot API server reads it; no HTTP body), then
 * removed once the answer arrives.
 *
 * Threads: everything runs on the loop thread except the staging writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/gw.h"

#define MAX_FAILURES 4     /* 5xx answers or lost connections (after the client's own retries) per block */
#define SCHED_TICK_MS 1000 /* the scheduler looks at its waiters at least this often */

static void sched_pump(struct gw *gw);

int gw_chat_index(const struct gw *gw, int64_t chat_id)
{
    for (size_t i = 0; i < gw->cfg.n_chat_ids; i++)
        if (gw->cfg.chat_ids[i] == chat_id)
            return (int)i;
    return -1;
}

/* ---- the FIFO of blocks waiting for a pair ---------------------------------- */

static void q_remove(struct gw *gw, struct gw_post_slot *s)
{
    if (!s->queued)
        return;
    if (s->prev)
        s->prev->next = s->next;
    else
        gw->post_head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    else
        gw->post_tail = s->prev;
    s->prev = s->next = NULL;
    s->queued = 0;
    gw->post_waiting--;
}

static void q_append(struct gw *gw, struct gw_post_slot *s)
{
    s->next = NULL;
    s->prev = gw->post_tail;
    if (gw->post_tail)
        gw->post_tail->next = s;
    else
        gw->post_head = s;
    gw->post_tail = s;
    s->queued = 1;
    gw->post_waiting++;
}

static void on_sched_timer(uv_timer_t *t)
{
    sched_pump(t->data);
}

static void on_kick(uv_timer_t *t)
{
    sched_pump(t->data);
}

void gw_sched_enqueue(struct gw *gw, struct gw_post_slot *s)
{
    ASSERT(!s->queued && s->go != NULL && s->expired != NULL);
    s->since_ms = mono_ms();
    if (s->placements == 0)
        s->first_ms = s->since_ms;
    q_append(gw, s);
    /* go never runs from inside the caller: the pump starts from the loop. */
    if (gw->sched_started)
        uv_timer_start(&gw->sched_timer, on_kick, 0, 0);
}

void gw_sched_cancel(struct gw *gw, struct gw_post_slot *s)
{
    q_remove(gw, s);
}

/* Hands waiters whose time is up back to their owners (503 SlowDown), or
 * every waiter when no chat is open. Owners may free anything of theirs, so
 * the waiters are unlinked first. */
static void expire(struct gw *gw, int64_t now, int all)
{
    struct gw_post_slot *out[128];
    size_t n = 0;
    for (struct gw_post_slot *s = gw->post_head, *next; s != NULL && n < ARRAY_SIZE(out); s = next) {
        next = s->next;
        if (!all && now - s->since_ms < gw->cfg.max_schedule_wait_ms)
            continue;
        q_remove(gw, s);
        out[n++] = s;
    }
    if (n > 0)
        log_warn("scheduler: %zu block(s) %s; their requests get 503", n,
                 all ? "have no open storage chat" : "found no free (bot, chat) pair within --max-schedule-wait");
    for (size_t k = 0; k < n; k++)
        out[k]->expired(out[k]);
}

static void sched_pump(struct gw *gw)
{
    int64_t now = mono_ms();
    int64_t sleep_ms = SCHED_TICK_MS;
    if (gw->pool == NULL)
        return;
    expire(gw, now, 0);
    while (gw->post_head != NULL) {
        size_t bot, chat;
        int64_t w = tg_pool_pick(gw->pool, now, &bot, &chat);
        if (w < 0) {
            expire(gw, now, 1);
            continue;
        }
        if (w > 0) {
            if (w < sleep_ms)
                sleep_ms = w;
            break;
        }
        struct gw_post_slot *s = gw->post_head;
        q_remove(gw, s);
        tg_pool_take(gw->pool, bot, chat, now);
        s->bot = bot;
        s->chat = chat;
        s->placements++;
        gw->sched_wait_ms += (uint64_t)(now - s->since_ms); /* metrics: time spent waiting for a pair */
        s->go(s, bot, chat);
    }
    if (gw->sched_started) {
        if (gw->post_head != NULL)
            uv_timer_start(&gw->sched_timer, on_sched_timer, (uint64_t)(sleep_ms > 0 ? sleep_ms : 1), 0);
        else
            uv_timer_stop(&gw->sched_timer);
    }
}

/* Failures another pair (or a later turn) may not see: rate limits, 5xx, lost connections. */
static int retry_elsewhere(const struct tg_result *res)
{
    switch (res->status) {
    case TG_ERR_RATE_LIMITED:
    case TG_ERR_TRANSPORT:
    case TG_ERR_HTTP:
        return 1;
    case TG_ERR_API:
        return res->http_status >= 500 || res->error_code >= 500;
    default:
        return 0;
    }
}

static void count_chat(struct gw *gw, size_t ci)
{
    gw->chat_blocks[ci]++;
    if (gw->chat_blocks[ci] >= gw->cfg.chat_max_messages && tg_pool_chat_is_open(gw->pool, ci)) {
        tg_pool_set_chat_open(gw->pool, ci, 0);
        log_info("chat %lld holds %lld blocks (--chat-max-messages): new blocks go to the other chats",
                 (long long)gw->cfg.chat_ids[ci], (long long)gw->chat_blocks[ci]);
        if (tg_pool_open_chats(gw->pool) == 0)
            log_error("every storage chat is full (--chat-max-messages %lld): add a --chat-id; uploads fail "
                      "until then",
                      (long long)gw->cfg.chat_max_messages);
    }
}

int gw_sched_done(struct gw *gw, struct gw_post_slot *s, const struct tg_result *res, int give_up)
{
    if (gw->pool == NULL)
        return 0;
    if (res->status == TG_OK) {
        count_chat(gw, s->chat);
        return 0;
    }
    if (res->status == TG_ERR_RATE_LIMITED)
        tg_pool_pause(gw->pool, s->bot, s->chat, res->retry_after, mono_ms());
    if (give_up || !retry_elsewhere(res))
        return 0;
    /* A 429 is Telegram asking to wait, not a failure: the block waits for the
     * next free pair as long as --max-schedule-wait allows (then SlowDown). */
    if (res->status == TG_ERR_RATE_LIMITED ? mono_ms() - s->first_ms >= gw->cfg.max_schedule_wait_ms
                                           : ++s->failures >= MAX_FAILURES)
        return 0;
    log_debug("scheduler: bot %lld in chat %lld: %s (%s%s); placing the block again", (long long)gw->bots[s->bot].id,
              (long long)gw->cfg.chat_ids[s->chat], tg_status_name(res->status), res->description,
              res->maybe_posted ? ", the lost answer may hide a posted copy" : "");
    gw_sched_enqueue(gw, s);
    return 1;
}

int gw_sched_start(struct gw *gw, const int64_t *counts)
{
    struct tg_pool_config pc = {
        .n_bots = gw->n_bots,
        .n_chats = gw->cfg.n_chat_ids,
        .pair_per_min = gw->cfg.rate_pair_per_min,
        .pair_burst = 1,
        .bot_per_sec = gw->cfg.rate_bot_per_sec,
        .chat_per_min = gw->cfg.rate_chat_per_min,
    };
    gw->pool = tg_pool_new(&pc, mono_ms());
    gw->chat_blocks = xcalloc(gw->cfg.n_chat_ids, sizeof(*gw->chat_blocks));
    for (size_t i = 0; i < gw->cfg.n_chat_ids; i++) {
        gw->chat_blocks[i] = counts ? counts[i] : 0;
        if (gw->chat_blocks[i] >= gw->cfg.chat_max_messages) {
            tg_pool_set_chat_open(gw->pool, i, 0);
            log_info("chat %lld already holds %lld blocks (--chat-max-messages %lld): no new blocks go there",
                     (long long)gw->cfg.chat_ids[i], (long long)gw->chat_blocks[i],
                     (long long)gw->cfg.chat_max_messages);
        }
    }
    uv_timer_init(gw->loop, &gw->sched_timer);
    gw->sched_timer.data = gw;
    gw->sched_started = 1;
    double per_min = tg_pool_rate_per_min(gw->pool);
    log_info("scheduler: %zu bot(s) x %zu open chat(s) of %zu: %.0f posts/min, about %.2f MiB/s at %lld-byte "
             "blocks",
             gw->n_bots, tg_pool_open_chats(gw->pool), gw->cfg.n_chat_ids, per_min,
             per_min / 60.0 * (double)gw->cfg.block_size / 1048576.0, (long long)gw->cfg.block_size);
    /* Reads still work when every chat is full, so the gateway serves; uploads get 503 until a chat is added. */
    if (tg_pool_open_chats(gw->pool) == 0)
        log_error("every storage chat holds --chat-max-messages %lld blocks or more: uploads fail until a "
                  "--chat-id with room is added",
                  (long long)gw->cfg.chat_max_messages);
    return 0;
}

static void probes_cancel(struct gw *gw);

void gw_sched_stop(struct gw *gw)
{
    probes_cancel(gw);
    if (gw->pool != NULL && gw->post_head != NULL)
        expire(gw, mono_ms(), 1);
    if (gw->sched_started) {
        uv_timer_stop(&gw->sched_timer);
        uv_close((uv_handle_t *)&gw->sched_timer, NULL);
        gw->sched_started = 0;
    }
    tg_pool_free(gw->pool);
    gw->pool = NULL;
    free(gw->chat_blocks);
    gw->chat_blocks = NULL;
}

/* ---- posting, from memory or from the staging directory --------------------- */

struct post_job {
    struct gw *gw;
    size_t bot, chat;
    const unsigned char *buf;
    size_t len;
    char *fname, *caption;
    char *path;    /* staging file, or NULL */
    int err;       /* errno of the staging write */
    tg_send_cb cb;
    void *ud;
    uv_work_t work;
};

static void on_unlinked(uv_fs_t *req)
{
    uv_fs_req_cleanup(req);
    free(req->data);
    free(req);
}

/* Removes a staged file off the loop; takes ownership of path. */
static void unlink_later(struct gw *gw, char *path)
{
    uv_fs_t *req = xmalloc(sizeof(*req));
    req->data = path;
    if (uv_fs_unlink(gw->loop, req, path, on_unlinked) != 0) {
        free(path);
        free(req);
    }
}

static void job_free(struct post_job *j)
{
    if (j->path)
        unlink_later(j->gw, j->path);
    free(j->fname);
    free(j->caption);
    free(j);
}

/* ---- orphans of lost answers ------------------------------------------------ *
 *
 * A post whose answer was lost may still have landed (the server posts, then
 * answers); when a later attempt of the same block succeeds, the earlier copy
 * is an orphan nobody references. Its caption is the block's own (it names the
 * put, the block and its random identity), and message ids in a chat grow, so
 * the orphan sits a little before the id the successful attempt got. The Bot
 * API cannot read a message by id, so each candidate is forwarded (the only
 * way to read one, reference §11.5): a copy with the same caption marks an
 * orphan, which is queued for deletion like every forwarded copy.
 */

#define PROBE_SPAN 8 /* message ids before the confirmed one that are looked at */

struct gw_probe {
    struct gw *gw;
    struct gw_probe *prev, *next; /* in gw->probes */
    struct tg_call *call;         /* the forward running */
    size_t bot;
    int64_t chat;
    int64_t confirmed; /* message id of the attempt that was answered */
    int k;             /* next candidate: confirmed - k */
    int found;
    char *caption;
};

struct probe_gc {
    int64_t chat, bot, ids[2];
    size_t n;
};

static void probe_gc_run(struct store *st, void *arg)
{
    struct probe_gc *g = arg;
    for (size_t i = 0; i < g->n; i++) {
        enum store_status s = store_gc_enqueue(st, g->chat, g->ids[i], g->bot, now_ms());
        if (s != STORE_OK)
            log_error("cannot queue message %lld/%lld for deletion: %s", (long long)g->chat, (long long)g->ids[i],
                      store_status_name(s));
    }
}

static void probe_gc_done(void *arg)
{
    free(arg);
}

static void probe_next(struct gw_probe *pr);

static void probe_unlink(struct gw_probe *pr)
{
    if (pr->prev)
        pr->prev->next = pr->next;
    else
        pr->gw->probes = pr->next;
    if (pr->next)
        pr->next->prev = pr->prev;
}

static void probe_free(struct gw_probe *pr)
{
    free(pr->caption);
    free(pr);
}

static void on_probe(void *ud, const struct tg_result *res, const struct tg_document *doc)
{
    struct gw_probe *pr = ud;
    struct gw *gw = pr->gw;
    pr->call = NULL;
    if (res->status == TG_OK && doc != NULL) {
        struct probe_gc *g = xcalloc(1, sizeof(*g));
        int64_t cand = pr->confirmed - (pr->k - 1);
        g->chat = pr->chat;
        g->bot = gw->bots[pr->bot].id;
        g->ids[g->n++] = doc->message_id; /* the forwarded copy */
        if (pr->caption && strcmp(doc->caption, pr->caption) == 0) {
            g->ids[g->n++] = cand;
            pr->found++;
            log_info("chat %lld: message %lld is an orphan of a lost answer (caption '%s'); queued for deletion",
                     (long long)pr->chat, (long long)cand, pr->caption);
        }
        gw_store_call(gw, probe_gc_run, probe_gc_done, g);
    }
    probe_next(pr);
}

static void probe_next(struct gw_probe *pr)
{
    struct gw *gw = pr->gw;
    if (pr->k <= PROBE_SPAN && pr->confirmed - pr->k > 1 && gw->tg != NULL && !gw->stopping) {
        int64_t cand = pr->confirmed - pr->k++;
        int ci = gw_chat_index(gw, pr->chat);
        if (ci >= 0 && gw->pool != NULL)
            tg_pool_take(gw->pool, pr->bot, (size_t)ci, mono_ms());
        pr->call = tg_forward_message(gw->tg, gw->bots[pr->bot].token, pr->chat, pr->chat, cand, on_probe, pr);
        return;
    }
    probe_unlink(pr);
    if (pr->found == 0)
        log_warn("chat %lld: no orphan found near message %lld after a lost answer; one may remain (caption "
                 "'%s')",
                 (long long)pr->chat, (long long)pr->confirmed, pr->caption ? pr->caption : "");
    probe_free(pr);
}

/* Looks for the orphans a lost answer may have left; takes ownership of caption. */
static void probe_start(struct gw *gw, size_t bot, int64_t chat, int64_t confirmed, char *caption)
{
    struct gw_probe *pr = xcalloc(1, sizeof(*pr));
    pr->gw = gw;
    pr->bot = bot;
    pr->chat = chat;
    pr->confirmed = confirmed;
    pr->k = 1;
    pr->caption = caption;
    pr->next = gw->probes;
    if (gw->probes)
        gw->probes->prev = pr;
    gw->probes = pr;
    probe_next(pr);
}

static void probes_cancel(struct gw *gw)
{
    while (gw->probes != NULL) {
        struct gw_probe *pr = gw->probes;
        probe_unlink(pr);
        tg_call_cancel(pr->call);
        probe_free(pr);
    }
}

static void on_posted(void *ud, const struct tg_result *res, const struct tg_document *doc)
{
    struct post_job *j = ud;
    tg_send_cb cb = j->cb;
    void *cud = j->ud;
    if (res->status == TG_OK && doc != NULL && res->maybe_posted && j->caption != NULL) {
        probe_start(j->gw, j->bot, doc->chat_id, doc->message_id, j->caption);
        j->caption = NULL;
    }
    job_free(j);
    cb(cud, res, doc);
}

static void send_job(struct post_job *j)
{
    struct gw *gw = j->gw;
    const char *token = gw->bots[j->bot].token;
    int64_t chat = gw->cfg.chat_ids[j->chat];
    if (j->path)
        tg_send_document_path(gw->tg, token, chat, j->path, j->caption, on_posted, j);
    else
        tg_send_document(gw->tg, token, chat, j->buf, j->len, j->fname, j->caption, on_posted, j);
}

/* libuv pool thread: writes the block to its staging file. Touches only j. */
static void stage_work(uv_work_t *w)
{
    struct post_job *j = w->data;
    const unsigned char *q = j->buf;
    size_t n = j->len;
    int fd = open(j->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    j->err = 0;
    if (fd < 0) {
        j->err = errno;
        return;
    }
    while (n > 0) {
        ssize_t k = write(fd, q, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            j->err = k < 0 ? errno : EIO;
            break;
        }
        q += k;
        n -= (size_t)k;
    }
    if (close(fd) != 0 && j->err == 0)
        j->err = errno;
}

static void after_stage(uv_work_t *w, int status)
{
    struct post_job *j = w->data;
    if (status != 0 || j->err != 0) {
        log_warn("cannot stage a block in %s (%s); posting it in the request body instead", j->gw->cfg.staging_dir,
                 strerror(status != 0 ? ECANCELED : j->err));
        unlink_later(j->gw, j->path);
        j->path = NULL;
    }
    send_job(j);
}

void gw_post_document(struct gw *gw, size_t bot, size_t chat, const void *buf, size_t len, const char *fname,
                      const char *caption, tg_send_cb cb, void *ud)
{
    static uint64_t seq;
    struct post_job *j = xcalloc(1, sizeof(*j));
    j->gw = gw;
    j->bot = bot;
    j->chat = chat;
    j->buf = buf;
    j->len = len;
    j->fname = xstrdup(fname);
    j->caption = caption ? xstrdup(caption) : NULL;
    j->cb = cb;
    j->ud = ud;
    if (gw->cfg.staging_dir != NULL && gw->cfg.mode == TG_MODE_LOCAL && len > 0) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%d-%llu-%s", gw->cfg.staging_dir, (int)getpid(),
                 (unsigned long long)++seq, fname);
        j->path = xstrdup(path);
        j->work.data = j;
        if (uv_queue_work(gw->loop, &j->work, stage_work, after_stage) == 0)
            return;
        free(j->path);
        j->path = NULL;
    }
    send_job(j);
}
