/* storeq.c — the store thread: runs SQLite jobs off the event loop.
 *
 * The loop thread submits (run, done, arg); the store thread runs `run`
 * with the one struct store in submission order and hands the job back
 * through a uv_async, where `done` runs on the loop thread. `arg` belongs to
 * the submitter throughout: `run` may only touch what `arg` owns (never an
 * h2o request). The queue is unbounded in jobs but each job is small; the
 * callers bound how many they start (budgets in engine.c, connections).
 */
#include <pthread.h>
#include <stdlib.h>

#include "gateway/gw.h"

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
    uv_async_t async;
};

static void push(struct job **head, struct job **tail, struct job *j)
{
    j->next = NULL;
    if (*tail)
        (*tail)->next = j;
    else
        *head = j;
    *tail = j;
}

static void *thread_main(void *arg)
{
    struct gw_storeq *q = arg;
    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (q->todo_head == NULL && !q->stop)
            pthread_cond_wait(&q->cond, &q->lock);
        if (q->todo_head == NULL && q->stop)
            break;
        struct job *j = q->todo_head;
        q->todo_head = j->next;
        if (q->todo_head == NULL)
            q->todo_tail = NULL;
        pthread_mutex_unlock(&q->lock);
        j->run(q->st, j->arg);
        pthread_mutex_lock(&q->lock);
        push(&q->done_head, &q->done_tail, j);
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
    push(&q->todo_head, &q->todo_tail, j);
    pthread_cond_signal(&q->cond);
    pthread_mutex_unlock(&q->lock);
}
