/* storeq.c — the store thread: runs SQLite jobs off the event loop.
 *
 * The loop thread submits (run, done, arg); the store thread runs `run`
 * with the one struct store in submission order and hands the job back
 * through a uv_async, where `done` runs on the loop thread. `arg` belongs to
 * the submitter throughout: `run` may only touch what `arg` owns (never an
 * h2o request). The queue is unbounded in jobs but each job is small; the
 * callers bound how many they start (budgets in engine/put.c and engine/fetch.c, connections).
 *
 * Group commit (serve, once start-up has stopped using the store
 * directly: gw_storeq_defer_sync): the store thread takes every job queued
 * (at most BATCH_MAX), runs them, each committing on its own, then syncs
 * the WAL once (store_sync) and only then hands them back. A commit no longer
 * waits for the disk by itself (store_defer_sync), so a `done` still never
 * runs before its commit is durable, and many small PUTs at once share one
 * sync instead of queueing for one each. A failed sync aborts the process
 * before any of those jobs is handed back: nothing was acknowledged, and
 * SQLite recovers from the WAL as it is on the disk at the next start
 * (retrying a failed fsync is not safe).
 */
#include <pthread.h>
#include <stdlib.h>

#include "gateway/gw.h"

#define BATCH_MAX 256 /* jobs run between two syncs of the WAL */

struct job {
    gw_store_run_fn run;
    gw_store_done_fn done;
    void *arg;
    struct job *next;
};

struct gw_storeq {
    struct gw *gw;
    struct store *st;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct job *todo_head, *todo_tail;
    struct job *done_head, *done_tail;
    int stop;
    int defer; /* gw_storeq_defer_sync asked for group commit */
    uv_async_t async;
};

/* Appends the chain first..last (last->next NULL) to a list. */
static void append(struct job **head, struct job **tail, struct job *first, struct job *last)
{
    if (*tail)
        (*tail)->next = first;
    else
        *head = first;
    *tail = last;
}

static void *thread_main(void *arg)
{
    struct gw_storeq *q = arg;
    int deferred = 0;
    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (q->todo_head == NULL && !q->stop)
            pthread_cond_wait(&q->cond, &q->lock);
        if (q->todo_head == NULL && q->stop)
            break;
        if (q->defer && !deferred) {
            q->defer = 0;
            deferred = store_defer_sync(q->st) == STORE_OK;
            if (!deferred)
                log_warn("index: commits stay synced one by one (%s)", store_errmsg(q->st));
        }
        /* Take the jobs queued now (up to BATCH_MAX), in order. */
        struct job *batch = q->todo_head, *last = batch;
        for (int n = 1; n < BATCH_MAX && last->next != NULL; n++)
            last = last->next;
        q->todo_head = last->next;
        if (q->todo_head == NULL)
            q->todo_tail = NULL;
        last->next = NULL;
        pthread_mutex_unlock(&q->lock);
        for (struct job *j = batch; j != NULL; j = j->next)
            j->run(q->st, j->arg);
        if (deferred) {
            enum store_status ss = store_sync(q->st);
            if (ss != STORE_OK) {
                log_error("index: syncing the write-ahead log failed (%s: %s); stopping before anything of it is "
                          "acknowledged",
                          store_status_name(ss), store_errmsg(q->st));
                abort();
            }
        }
        pthread_mutex_lock(&q->lock);
        append(&q->done_head, &q->done_tail, batch, last);
        uv_async_send(&q->async);
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

static void on_async(uv_async_t *a)
{
    struct gw_storeq *q = a->data;
    pthread_mutex_lock(&q->lock);
    struct job *j = q->done_head;
    q->done_head = q->done_tail = NULL;
    pthread_mutex_unlock(&q->lock);
    while (j) {
        struct job *next = j->next;
        if (j->done)
            j->done(j->arg);
        free(j);
        j = next;
    }
}

struct gw_storeq *gw_storeq_new(struct gw *gw, struct store *st)
{
    struct gw_storeq *q = xcalloc(1, sizeof(*q));
    q->gw = gw;
    q->st = st;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->cond, NULL);
    uv_async_init(gw->loop, &q->async, on_async);
    q->async.data = q;
    if (pthread_create(&q->thread, NULL, thread_main, q) != 0) {
        log_error("cannot start the store thread");
        abort();
    }
    return q;
}

struct store *gw_storeq_store(struct gw_storeq *q)
{
    return q->st;
}

void gw_storeq_defer_sync(struct gw_storeq *q)
{
    pthread_mutex_lock(&q->lock);
    q->defer = 1;
    pthread_mutex_unlock(&q->lock);
}

static void on_async_closed(uv_handle_t *h)
{
    struct gw_storeq *q = h->data;
    pthread_mutex_destroy(&q->lock);
    pthread_cond_destroy(&q->cond);
    free(q);
}

void gw_storeq_free(struct gw_storeq *q)
{
    if (q == NULL)
        return;
    pthread_mutex_lock(&q->lock);
    q->stop = 1;
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
    pthread_join(q->thread, NULL);
    on_async(&q->async); /* completions that had not been delivered yet */
    store_close(q->st);
    q->st = NULL;
    uv_close((uv_handle_t *)&q->async, on_async_closed);
}

void gw_store_call(struct gw *gw, gw_store_run_fn run, gw_store_done_fn done, void *arg)
{
    struct gw_storeq *q = gw->storeq;
    struct job *j = xmalloc(sizeof(*j));
    j->run = run;
    j->done = done;
    j->arg = arg;
    pthread_mutex_lock(&q->lock);
    j->next = NULL;
    append(&q->todo_head, &q->todo_tail, j, j);
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
}
