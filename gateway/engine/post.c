/* post.c — sending a block's document through the pair the scheduler chose, and finding posts whose answer was lost.
 *
 * DESIGN
 * A document goes from memory (multipart upload to the Bot API server), or,
 * in local mode with --staging-dir, is first written there on libuv's pool
 * and posted by file:// (the server reads it; no HTTP body), then removed
 * once the answer arrives. A post whose answer was lost may have landed
 * anyway: the search below finds such orphans and queues them for deletion.
 * Calls nothing of the scheduler (sched.c), which stops it (gw_post_stop).
 *
 * Threads: everything runs on the loop thread except the staging writes.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/gw.h"

enum s3_err gw_tg_err(const struct tg_result *res)
{
    if (res->status == TG_OK)
        return S3E_OK;
    if (res->status == TG_ERR_RATE_LIMITED)
        return S3E_SLOW_DOWN;
    if (res->status == TG_ERR_TOO_BIG)
        return S3E_ENTITY_TOO_LARGE;
    /* Passing trouble of the Bot API server that outlasted the retries: 503, not ours. */
    return tg_result_temporary(res) ? S3E_SERVICE_UNAVAILABLE : S3E_INTERNAL_ERROR;
}

/* ---- posting, from memory or from the staging directory --------------------- */

struct post_job {
    struct gw *gw;
    size_t bot, chat;
    struct tg_iov iov[TG_MAX_IOV]; /* the document's pieces, in order */
    int n_iov;
    size_t len;
    char *fname, *caption;
    char *path;    /* staging file, or NULL */
    int err;       /* errno of the staging write */
    uint64_t seq;  /* this send's place among all sends started */
    int64_t lo;    /* highest message id known in the chat when the send started */
    struct post_job *fprev, *fnext; /* sends in flight (gw_hunts) */
    struct tg_call *call;           /* the send, while in flight */
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
 * answers): an orphan nobody references. Its caption is the block's own (it
 * names the put, the block and its random identity), so it is recognisable,
 * but the Bot API cannot read a message by id: each candidate is forwarded
 * (the only way to read one, reference §11.5), and a copy with the same
 * caption marks an orphan, queued for deletion like every forwarded copy.
 *
 * Where to look: message ids in a chat grow. The orphan lies above the
 * highest id known in the chat when its send started (lo), and below the id
 * of any post into that chat that started after the loss was seen (hi): the
 * answered retry of the same call, or any later post, for the block itself
 * may have gone to another pair. A loss with no such post yet waits for one,
 * at most HUNT_WAIT_MS, then looks a few ids past the highest known. Ids the
 * gateway itself was told about (its blocks, packs and copies) are skipped,
 * so a search costs about one forward per unknown message, not per message.
 */

#define KNOWN_IDS 1024      /* recent message ids per chat the gateway posted itself */
#define HUNT_MAX_PROBES 64  /* forwards one search makes at most */
#define HUNT_WAIT_MS 3000   /* a search without a later post in its chat starts after this */
#define HUNT_AHEAD 4        /* ids past the highest known looked at then */
#define HUNT_RETRIES 3      /* forwards of one candidate that failed for a passing reason */
#define HUNT_BACK 16        /* ids before hi looked at when no lower bound is known */

struct hunt {
    struct gw_hunts *h;
    struct hunt *prev, *next;
    struct tg_call *call; /* the forward running */
    size_t bot, chat;     /* indexes; the bot that lost the answer forwards */
    char *caption;
    uint64_t loss_seq;    /* sends started before the loss was seen */
    int64_t lo, hi;       /* candidates: lo < id < hi; hi 0 = not known yet */
    int64_t since_ms;
    int64_t cand;         /* the candidate being forwarded, or the one before the next */
    int64_t tried;        /* the candidate tries counts for */
    int tries, probes, found;
    int paused; /* a send with this caption is in flight: its message could look like an orphan */
};

struct known_ids {
    int64_t ids[KNOWN_IDS]; /* ring */
    size_t n, head;
    int64_t max;            /* highest id known in the chat */
};

struct gw_hunts {
    struct gw *gw;
    struct known_ids *known; /* per configured chat */
    struct hunt *list;
    struct post_job *flying; /* sends in flight */
    uint64_t seq;            /* sends started */
    uv_timer_t timer;        /* starts searches that waited HUNT_WAIT_MS */
    int timer_init;
};

static struct gw_hunts *hunts_get(struct gw *gw)
{
    if (gw->hunts == NULL) {
        struct gw_hunts *h = xcalloc(1, sizeof(*h));
        h->gw = gw;
        h->known = xcalloc(gw->cfg.n_chat_ids, sizeof(*h->known));
        gw->hunts = h;
    }
    return gw->hunts;
}

static void known_add(struct gw_hunts *h, size_t chat, int64_t id)
{
    struct known_ids *k = &h->known[chat];
    if (k->n < KNOWN_IDS) {
        k->ids[(k->head + k->n++) % KNOWN_IDS] = id;
    } else {
        k->ids[k->head] = id;
        k->head = (k->head + 1) % KNOWN_IDS;
    }
    if (id > k->max)
        k->max = id;
}

static int known_has(const struct gw_hunts *h, size_t chat, int64_t id)
{
    const struct known_ids *k = &h->known[chat];
    for (size_t i = 0; i < k->n; i++)
        if (k->ids[i] == id)
            return 1;
    return 0;
}

static int caption_flying(const struct gw_hunts *h, const char *caption)
{
    for (const struct post_job *j = h->flying; j != NULL; j = j->fnext)
        if (j->caption != NULL && strcmp(j->caption, caption) == 0)
            return 1;
    return 0;
}

static void flying_add(struct gw_hunts *h, struct post_job *j)
{
    DLIST_PUSH(h->flying, j, fprev, fnext);
}

static void flying_remove(struct gw_hunts *h, struct post_job *j)
{
    DLIST_REMOVE(h->flying, j, fprev, fnext);
}

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

static void hunt_next(struct hunt *hu);

static void hunt_free(struct hunt *hu)
{
    struct gw_hunts *h = hu->h;
    DLIST_REMOVE(h->list, hu, prev, next);
    tg_call_cancel(hu->call);
    free(hu->caption);
    free(hu);
}

static void on_probe(void *ud, const struct tg_result *res, const struct tg_document *doc)
{
    struct hunt *hu = ud;
    struct gw *gw = hu->h->gw;
    int64_t chat_id = gw->cfg.chat_ids[hu->chat];
    hu->call = NULL;
    if (res->status == TG_OK && doc != NULL) {
        struct probe_gc *g = xcalloc(1, sizeof(*g));
        g->chat = chat_id;
        g->bot = gw->bots[hu->bot].id;
        g->ids[g->n++] = doc->message_id; /* the forwarded copy */
        known_add(hu->h, hu->chat, doc->message_id);
        if (strcmp(doc->caption, hu->caption) == 0 && !known_has(hu->h, hu->chat, hu->cand)) {
            g->ids[g->n++] = hu->cand;
            known_add(hu->h, hu->chat, hu->cand); /* other searches skip it */
            hu->found++;
            log_info("chat %lld: message %lld is an orphan of a lost answer (caption '%s'); queued for deletion",
                     (long long)chat_id, (long long)hu->cand, hu->caption);
        }
        gw_store_call(gw, probe_gc_run, probe_gc_done, g);
    } else if (++hu->tries < HUNT_RETRIES && tg_result_temporary(res)) {
        hu->cand--; /* the same candidate again */
    }
    hunt_next(hu);
}

/* Forwards the next unknown candidate, or ends the search. */
static void hunt_next(struct hunt *hu)
{
    struct gw_hunts *h = hu->h;
    struct gw *gw = h->gw;
    int64_t chat_id = gw->cfg.chat_ids[hu->chat];
    int64_t c = hu->cand + 1;
    if (c < 2)
        c = 2; /* message 1 is the channel's creation */
    while (c < hu->hi && known_has(h, hu->chat, c))
        c++;
    if (c != hu->tried)
        hu->tries = 0;
    if (c < hu->hi && hu->probes < HUNT_MAX_PROBES && gw->tg != NULL && !gw->stopping) {
        if (caption_flying(h, hu->caption)) {
            /* Another attempt of the same block is being posted: until its answer is in, its
             * message is not known and would pass for an orphan. on_posted resumes here. */
            hu->paused = 1;
            hu->cand = c - 1;
            return;
        }
        hu->tried = c;
        hu->cand = c;
        hu->probes++;
        if (gw->pool != NULL)
            tg_pool_take(gw->pool, hu->bot, hu->chat, mono_ms());
        hu->call = tg_forward_message(gw->tg, gw->bots[hu->bot].token, chat_id, chat_id, c, on_probe, hu);
        return;
    }
    if (c < hu->hi && hu->probes >= HUNT_MAX_PROBES)
        log_warn("chat %lld: gave up looking for the orphan of a lost answer after %d messages (ids %lld to %lld "
                 "left unread; caption '%s')",
                 (long long)chat_id, hu->probes, (long long)c, (long long)hu->hi - 1, hu->caption);
    else if (hu->found == 0)
        log_info("chat %lld: no orphan of a lost answer among messages %lld to %lld (the post never happened; "
                 "caption '%s')",
                 (long long)chat_id, (long long)hu->lo + 1, (long long)hu->hi - 1, hu->caption);
    hunt_free(hu);
}

static void hunt_start(struct hunt *hu, int64_t hi)
{
    /* Nothing known below (the gateway just started): the orphan is a little before hi. */
    if (hu->lo == 0 && hi > HUNT_BACK + 1)
        hu->lo = hi - HUNT_BACK - 1;
    hu->hi = hi;
    hu->cand = hu->lo;
    hunt_next(hu);
}

static void on_hunt_timer(uv_timer_t *t);

static void hunt_timer_arm(struct gw_hunts *h)
{
    if (!h->timer_init) {
        uv_timer_init(h->gw->loop, &h->timer);
        h->timer.data = h;
        h->timer_init = 1;
    }
    if (!uv_is_active((uv_handle_t *)&h->timer))
        uv_timer_start(&h->timer, on_hunt_timer, HUNT_WAIT_MS / 2, HUNT_WAIT_MS / 2);
}

/* Starts the searches that waited long enough for a later post into their chat. */
static void on_hunt_timer(uv_timer_t *t)
{
    struct gw_hunts *h = t->data;
    int64_t now = mono_ms();
    int waiting = 0;
    for (struct hunt *hu = h->list, *next; hu != NULL; hu = next) {
        next = hu->next;
        if (hu->hi != 0)
            continue;
        if (now - hu->since_ms >= HUNT_WAIT_MS)
            hunt_start(hu, h->known[hu->chat].max + HUNT_AHEAD + 1);
        else
            waiting = 1;
    }
    if (!waiting)
        uv_timer_stop(&h->timer);
}

/* A send into chat lost its answer after its request went out: look for the orphan. Takes
 * ownership of caption. hi is the id of a post that started after the loss, or 0. */
static void hunt_add(struct gw *gw, size_t bot, size_t chat, char *caption, int64_t lo, int64_t hi)
{
    struct gw_hunts *h = hunts_get(gw);
    struct hunt *hu = xcalloc(1, sizeof(*hu));
    hu->h = h;
    hu->bot = bot;
    hu->chat = chat;
    hu->caption = caption;
    hu->loss_seq = h->seq;
    hu->lo = lo;
    hu->since_ms = mono_ms();
    DLIST_PUSH(h->list, hu, prev, next);
    if (hi > 0) {
        hunt_start(hu, hi);
    } else {
        hunt_timer_arm(h);
    }
}

/* A post into chat that started as send number seq was answered with message id. */
static void hunts_on_posted(struct gw *gw, size_t chat, uint64_t seq, int64_t id)
{
    struct gw_hunts *h = hunts_get(gw);
    known_add(h, chat, id);
    for (struct hunt *hu = h->list, *next; hu != NULL; hu = next) {
        next = hu->next;
        if (hu->hi == 0 && hu->chat == chat && seq > hu->loss_seq)
            hunt_start(hu, id);
    }
}

static void on_hunts_closed(uv_handle_t *hd)
{
    free(hd->data);
}

void gw_post_stop(struct gw *gw)
{
    struct gw_hunts *h = gw->hunts;
    if (h == NULL)
        return;
    while (h->list != NULL)
        hunt_free(h->list);
    /* Sends still in flight (a repair's or a pack's at shutdown): cancelled,
     * their callbacks will not come, as the client's teardown would do
     * anyway; only their jobs would be left behind. */
    while (h->flying != NULL) {
        struct post_job *j = h->flying;
        flying_remove(h, j);
        tg_call_cancel(j->call);
        job_free(j);
    }
    free(h->known);
    gw->hunts = NULL;
    if (h->timer_init) {
        uv_timer_stop(&h->timer);
        uv_close((uv_handle_t *)&h->timer, on_hunts_closed);
    } else {
        free(h);
    }
}

/* A send finished: searches that waited for it go on. */
static void hunts_resume(struct gw_hunts *h)
{
    for (struct hunt *hu = h->list, *next; hu != NULL; hu = next) {
        next = hu->next;
        if (hu->paused && !caption_flying(h, hu->caption)) {
            hu->paused = 0;
            hunt_next(hu);
        }
    }
}

static void on_posted(void *ud, const struct tg_result *res, const struct tg_document *doc)
{
    struct post_job *j = ud;
    struct gw *gw = j->gw;
    tg_send_cb cb = j->cb;
    void *cud = j->ud;
    if (gw->hunts != NULL)
        flying_remove(gw->hunts, j);
    if (res->status == TG_OK && doc != NULL) {
        hunts_on_posted(gw, j->chat, j->seq, doc->message_id);
        /* An attempt of this call lost its answer; the answered one started after that. */
        if (res->maybe_posted && j->caption != NULL) {
            hunt_add(gw, j->bot, j->chat, j->caption, j->lo, doc->message_id);
            j->caption = NULL;
        }
    } else if (res->maybe_posted && j->caption != NULL) {
        /* The block goes to another pair or fails; its orphan stays behind here. */
        hunt_add(gw, j->bot, j->chat, j->caption, j->lo, 0);
        j->caption = NULL;
    }
    job_free(j);
    if (gw->hunts != NULL)
        hunts_resume(gw->hunts);
    cb(cud, res, doc);
}

static void send_job(struct post_job *j)
{
    struct gw *gw = j->gw;
    struct gw_hunts *h = hunts_get(gw);
    j->seq = ++h->seq;
    j->lo = h->known[j->chat].max;
    flying_add(h, j);
    const char *token = gw->bots[j->bot].token;
    int64_t chat = gw->cfg.chat_ids[j->chat];
    if (j->path)
        j->call = tg_send_document_path(gw->tg, token, chat, j->path, j->caption, on_posted, j);
    else
        j->call = tg_send_document_iov(gw->tg, token, chat, j->iov, j->n_iov, j->fname, j->caption, on_posted, j);
}

/* libuv pool thread: writes the block to its staging file. Touches only j. */
static void stage_work(uv_work_t *w)
{
    struct post_job *j = w->data;
    int fd = open(j->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    j->err = 0;
    if (fd < 0) {
        j->err = errno;
        return;
    }
    for (int i = 0; i < j->n_iov && j->err == 0; i++) {
        const unsigned char *q = j->iov[i].base;
        size_t n = j->iov[i].len;
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
    }
    if (close(fd) != 0 && j->err == 0)
        j->err = errno;
}

static void after_stage(uv_work_t *w, int status)
{
    struct post_job *j = w->data;
    if (j->gw->tg == NULL) { /* staged while the server shut down: no send starts, no callback comes */
        job_free(j);
        return;
    }
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
    struct tg_iov one = {buf, len};
    gw_post_document_iov(gw, bot, chat, &one, 1, fname, caption, cb, ud);
}

void gw_post_document_iov(struct gw *gw, size_t bot, size_t chat, const struct tg_iov *iov, int n, const char *fname,
                          const char *caption, tg_send_cb cb, void *ud)
{
    static uint64_t seq;
    struct post_job *j = xcalloc(1, sizeof(*j));
    ASSERT(n >= 1 && n <= TG_MAX_IOV);
    j->gw = gw;
    j->bot = bot;
    j->chat = chat;
    for (int i = 0; i < n; i++) {
        j->iov[i] = iov[i];
        j->len += iov[i].len;
    }
    j->n_iov = n;
    size_t len = j->len;
    j->fname = xstrdup(fname);
    j->caption = caption ? xstrdup(caption) : NULL;
    j->cb = cb;
    j->ud = ud;
    if (gw->cfg.staging_dir != NULL && gw->cfg.mode == TG_MODE_LOCAL && len > 0) {
        char path[4096];
        int pre = snprintf(path, sizeof(path), "%s/%d-%llu-", gw->cfg.staging_dir, (int)getpid(),
                           (unsigned long long)++seq);
        if (pre > 0 && (size_t)pre < sizeof(path)) {
            snprintf(path + pre, sizeof(path) - (size_t)pre, "%s", fname);
            /* The name is one path component, taken as it is in a file:// URI: a
             * shard's name ("put=… blk=1/64") would otherwise name a directory. */
            for (char *q = path + pre; *q != '\0'; q++)
                if (!isalnum((unsigned char)*q) && strchr("._-=", *q) == NULL)
                    *q = '_';
            j->path = xstrdup(path);
            j->work.data = j;
            if (uv_queue_work(gw->loop, &j->work, stage_work, after_stage) == 0)
                return;
            free(j->path);
            j->path = NULL;
        }
    }
    send_job(j);
}

/* ---- the journal learns where a post landed ----------------------------------- */

struct posted_job {
    unsigned char uuid[16];
    int64_t chat_id, bot_id, message_id;
    enum store_status st;
};

static void posted_run(struct store *st, void *arg)
{
    struct posted_job *j = arg;
    j->st = store_inflight_posted(st, j->uuid, j->chat_id, j->bot_id, j->message_id);
}

static void posted_done(void *arg)
{
    struct posted_job *j = arg;
    if (j->st != STORE_OK)
        log_error("journal: cannot record posted document %lld/%lld: %s", (long long)j->chat_id,
                  (long long)j->message_id, store_status_name(j->st));
    free(j);
}

void gw_journal_posted(struct gw *gw, const unsigned char uuid[16], int64_t chat_id, int64_t bot_id,
                       int64_t message_id)
{
    struct posted_job *j = xcalloc(1, sizeof(*j));
    memcpy(j->uuid, uuid, sizeof(j->uuid));
    j->chat_id = chat_id;
    j->bot_id = bot_id;
    j->message_id = message_id;
    gw_store_call(gw, posted_run, posted_done, j);
}
