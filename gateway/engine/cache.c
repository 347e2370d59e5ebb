/* cache.c — the block cache: sealed documents on local disk, LRU, one fetch per block.
 *
 * Every block read goes through gw_cache_fetch. A block whose sealed
 * document is in the cache directory is read from there (one job on libuv's
 * pool: open, pread, mark used, close); any other read joins the block's
 * flight, so however many readers want the same block at once, Telegram is
 * asked once (gw_read_start) and every waiter gets the document. A fetched
 * document is then written to the cache (a temporary name, then rename, on
 * the pool) and the least recently used files are removed past
 * --cache-size. A block still in the spool (an unposted pack) is read from
 * there, never cached, and only in the range its reader asked for.
 *
 * Admission: a read of an object larger than a quarter of --cache-size
 * (gw_cache_admits; whole or a range of it: clients download large objects
 * in ranges) still reads cached blocks, but the blocks it fetches are not
 * written. Under strict LRU a sequential read
 * as large as the cache evicts every other block and then its own first
 * blocks before it comes back to them, so a repeated read of it would miss
 * every time and pay a disk write per block; this way the cache keeps what
 * fits (small objects, packs) and large objects stream straight
 * from Telegram. A flight writes its document when any of its readers
 * admits it.
 *
 * DESIGN
 *   What is cached is exactly what Telegram holds: sealed bytes, so the
 *   engine verifies every block read from here as it verifies a fetched one
 *   (blk_open, bound to the block's identity), and a damaged or swapped file
 *   is never served: the engine drops it (gw_cache_drop) and reads the block
 *   from Telegram once more. Files are named by the block's 16-byte identity
 *   (hex).
 *   Threads: the index (hash table + LRU list) lives on the loop thread; the
 *   pool only opens, reads, writes, renames and removes files, over
 *   job-owned buffers and names. Nothing here touches the disk on the loop.
 *   Restart: the directory is scanned on the pool at start (least recently
 *   used first by mtime, which reads refresh); until the scan is in, reads
 *   miss. Leftover temporary files are removed by the scan.
 *   Limits: --cache-size bytes of files (0 turns the disk part off; flights
 *   still coalesce); reads longer than --cache-size / 4 are not admitted; at
 *   most MAX_WRITES documents, and MAX_WRITE_BYTES of them (64 MiB: two
 *   blocks of 32 MiB), being written at once (a fetched block beyond that is
 *   served but not cached), each a block held until its write ends and its
 *   readers have decrypted it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/engine/cache.h"
#include "gateway/engine/stripe.h"
#include "gateway/gw.h"

#define MAX_WRITES 4
#define MAX_WRITE_BYTES ((size_t)64 << 20) /* of documents being written at once (one at least) */
#define KEY_LEN 48

struct entry {
    char key[KEY_LEN];
    int64_t size;                 /* bytes on disk */
    int64_t used;                 /* mtime at the scan, for ordering only */
    struct entry *hnext;          /* hash chain */
    struct entry *prev, *next;    /* LRU: head is the most recent */
};

struct flight {
    struct gw_cache *c;
    char key[KEY_LEN];
    struct store_block blk;
    struct gw_block_read *call;
    struct gw_cache_read *waiters;
    int admit;                    /* some reader lets the document into the cache */
    struct flight *next;
};

struct write_job;

struct gw_cache_read {
    struct gw_cache *c;
    struct write_job *from;       /* copying from a document being written, or NULL */
    char *spool;                  /* reading an unposted pack from this spool file, or NULL */
    uint64_t spool_off, spool_len; /* bytes of it to read (len 0: the whole file) */
    char key[KEY_LEN];
    struct store_block blk;
    tg_fetch_cb cb;
    gw_cache_lend_cb lend;        /* gets a fetched document the cache is writing */
    void *ud;
    struct flight *flight;        /* waiting on this flight */
    struct gw_cache_read *wnext;
    uv_work_t work;
    int on_pool;                  /* a hit read (or a copy from a write) is running */
    int cancelled;
    int admit;                    /* a fetched document may be written to the cache */
    unsigned char *data;          /* pool result */
    size_t len;
    int err;                      /* errno of the pool read, 0 ok */
};

struct gw_cache {
    struct gw *gw;
    char *dir;                    /* NULL: no disk cache */
    int64_t max, used;            /* bytes */
    struct entry **buckets;
    size_t nbuckets, n;
    struct entry *head, *tail;
    struct flight *flights;
    struct write_job *writing;    /* documents being written (readers copy from them) */
    int writes;                   /* cache writes running */
    size_t write_bytes;           /* their documents' bytes */
    int scanning;
    uint64_t hits, misses, joined;
};

/* ---- index (loop thread) ------------------------------------------------------ */

static size_t hash_key(const char *k)
{
    size_t h = 1469598103934665603ull;
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 1099511628211ull;
    return h;
}

static struct entry *find(struct gw_cache *c, const char *key)
{
    if (c->nbuckets == 0)
        return NULL;
    for (struct entry *e = c->buckets[hash_key(key) % c->nbuckets]; e; e = e->hnext)
        if (strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

static void lru_unlink(struct gw_cache *c, struct entry *e)
{
    DLIST_REMOVE_T(c->head, c->tail, e, prev, next);
}

static void lru_push(struct gw_cache *c, struct entry *e)
{
    DLIST_PUSH_T(c->head, c->tail, e, prev, next);
}

static void rehash(struct gw_cache *c)
{
    size_t nb = c->nbuckets ? c->nbuckets * 2 : 1024;
    struct entry **b = xcalloc(nb, sizeof(*b));
    for (size_t i = 0; i < c->nbuckets; i++) {
        struct entry *e = c->buckets[i];
        while (e) {
            struct entry *nx = e->hnext;
            size_t h = hash_key(e->key) % nb;
            e->hnext = b[h];
            b[h] = e;
            e = nx;
        }
    }
    free(c->buckets);
    c->buckets = b;
    c->nbuckets = nb;
}

static void on_unlinked(uv_fs_t *req)
{
    uv_fs_req_cleanup(req);
    free(req);
}

static void unlink_file(struct gw_cache *c, const char *name)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", c->dir, name);
    uv_fs_t *req = xmalloc(sizeof(*req));
    if (uv_fs_unlink(c->gw->loop, req, path, on_unlinked) != 0)
        free(req);
}

static void remove_entry(struct gw_cache *c, struct entry *e, int unlink_it)
{
    struct entry **pp = &c->buckets[hash_key(e->key) % c->nbuckets];
    while (*pp && *pp != e)
        pp = &(*pp)->hnext;
    if (*pp)
        *pp = e->hnext;
    lru_unlink(c, e);
    c->used -= e->size;
    c->n--;
    if (unlink_it)
        unlink_file(c, e->key);
    free(e);
}

static void evict(struct gw_cache *c)
{
    while (c->used > c->max && c->tail != NULL && c->tail != c->head)
        remove_entry(c, c->tail, 1);
    if (c->used > c->max && c->head != NULL)
        remove_entry(c, c->head, 1);
}

static void insert(struct gw_cache *c, const char *key, int64_t size)
{
    if (find(c, key) != NULL)
        return;
    if (c->n >= c->nbuckets)
        rehash(c);
    struct entry *e = xcalloc(1, sizeof(*e));
    snprintf(e->key, sizeof(e->key), "%s", key);
    e->size = size;
    size_t h = hash_key(key) % c->nbuckets;
    e->hnext = c->buckets[h];
    c->buckets[h] = e;
    lru_push(c, e);
    c->used += size;
    c->n++;
}

static void block_key(const struct store_block *b, char *out)
{
    static const unsigned char zero[16];
    if (memcmp(b->uuid, zero, sizeof(zero)) != 0)
        hex_encode(b->uuid, sizeof(b->uuid), out);
    else
        snprintf(out, KEY_LEN, "m%lld_%lld", (long long)b->chat_id, (long long)b->message_id);
}

/* ---- the start-up scan ------------------------------------------------------------ */

struct scan_job {
    struct gw_cache *c;
    uv_work_t work;
    struct entry *found; /* singly linked through next */
    size_t n;
};

static void scan_work(uv_work_t *w)
{
    struct scan_job *j = w->data;
    DIR *d = opendir(j->c->dir);
    if (d == NULL)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        char path[4096];
        struct stat sb;
        if (de->d_name[0] == '.' && (de->d_name[1] == '\0' || de->d_name[1] == '.'))
            continue;
        snprintf(path, sizeof(path), "%s/%s", j->c->dir, de->d_name);
        if (strncmp(de->d_name, ".tmp-", 5) == 0) {
            unlink(path); /* a write cut short by a crash */
            continue;
        }
        if (strlen(de->d_name) >= KEY_LEN || stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
            continue;
        struct entry *e = xcalloc(1, sizeof(*e));
        memcpy(e->key, de->d_name, strlen(de->d_name) + 1); /* shorter than KEY_LEN: checked above */
        e->size = (int64_t)sb.st_size;
        e->used = (int64_t)sb.st_mtime;
        e->next = j->found;
        j->found = e;
        j->n++;
    }
    closedir(d);
}

static int by_used(const void *a, const void *b)
{
    const struct entry *x = *(const struct entry *const *)a, *y = *(const struct entry *const *)b;
    return x->used < y->used ? -1 : x->used > y->used;
}

static void after_scan(uv_work_t *w, int status)
{
    struct scan_job *j = w->data;
    struct gw_cache *c = j->c;
    (void)status;
    struct entry **v = xcalloc(j->n ? j->n : 1, sizeof(*v));
    size_t n = 0;
    for (struct entry *e = j->found; e; e = e->next)
        v[n++] = e;
    qsort(v, n, sizeof(*v), by_used);
    for (size_t i = 0; i < n; i++) { /* oldest first: the newest ends at the head */
        insert(c, v[i]->key, v[i]->size);
        free(v[i]);
    }
    free(v);
    c->scanning = 0;
    evict(c);
    log_info("block cache %s: %zu blocks, %lld bytes (limit %lld)", c->dir, c->n, (long long)c->used,
             (long long)c->max);
    free(j);
}

int gw_cache_start(struct gw *gw)
{
    struct gw_cache *c = xcalloc(1, sizeof(*c));
    c->gw = gw;
    c->max = gw->cfg.cache_size;
    gw->cache = c;
    if (c->max <= 0)
        return 0;
    char path[4096];
    if (gw->cfg.cache_dir != NULL)
        snprintf(path, sizeof(path), "%s", gw->cfg.cache_dir);
    else
        snprintf(path, sizeof(path), "%s/cache", gw->cfg.data_dir);
    if (mkdir(path, 0700) != 0 && errno != EEXIST) {
        log_error("cannot create the block cache directory %s: %s", path, strerror(errno));
        return -1;
    }
    c->dir = xstrdup(path);
    rehash(c);
    struct scan_job *j = xcalloc(1, sizeof(*j));
    j->c = c;
    j->work.data = j;
    c->scanning = 1;
    if (uv_queue_work(gw->loop, &j->work, scan_work, after_scan) != 0) {
        c->scanning = 0;
        free(j);
    }
    return 0;
}

void gw_cache_free(struct gw *gw)
{
    struct gw_cache *c = gw->cache;
    if (c == NULL)
        return;
    while (c->flights != NULL) { /* reads cut by the shutdown: nobody is told any more */
        struct flight *f = c->flights;
        c->flights = f->next;
        while (f->waiters != NULL) {
            struct gw_cache_read *r = f->waiters;
            f->waiters = r->wnext;
            free(r);
        }
        free(f);
    }
    for (struct entry *e = c->head; e;) {
        struct entry *nx = e->next;
        free(e);
        e = nx;
    }
    free(c->buckets);
    free(c->dir);
    free(c);
    gw->cache = NULL;
}

void gw_cache_counters(const struct gw *gw, uint64_t *hits, uint64_t *misses, uint64_t *joined)
{
    const struct gw_cache *c = gw->cache;
    *hits = c ? c->hits : 0;
    *misses = c ? c->misses : 0;
    *joined = c ? c->joined : 0;
}

/* ---- writing a fetched document ------------------------------------------------------ */

struct write_job {
    struct gw_cache *c;
    uv_work_t work;
    char key[KEY_LEN];
    unsigned char *data;    /* a bigbuf */
    size_t len;
    int err;
    int refs;               /* the write, readers copying data on the pool, loans */
    struct write_job *next; /* c->writing */
};

struct gw_cache_loan {
    struct write_job *j;
};

static void write_unref(struct write_job *j)
{
    if (--j->refs == 0) {
        bigbuf_free(j->data);
        free(j);
    }
}

static void write_work(uv_work_t *w)
{
    struct write_job *j = w->data;
    char tmp[4096], path[4096];
    snprintf(tmp, sizeof(tmp), "%s/.tmp-%s", j->c->dir, j->key);
    snprintf(path, sizeof(path), "%s/%s", j->c->dir, j->key);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    j->err = 0;
    if (fd < 0) {
        j->err = errno;
        return;
    }
    if (pwrite_all_direct(fd, j->data, j->len) != 0) /* past the page cache: see common/direct.c */
        j->err = errno;
    if (close(fd) != 0 && j->err == 0)
        j->err = errno;
    if (j->err == 0 && rename(tmp, path) != 0)
        j->err = errno;
    if (j->err != 0)
        unlink(tmp);
}

static void hit_work(uv_work_t *w);
static void after_hit(uv_work_t *w, int status);

/* Hands r's bytes (r->data, r->len) to its reader as a successful read and frees r. */
static void deliver(struct gw_cache_read *r)
{
    struct tg_result ok;
    memset(&ok, 0, sizeof(ok));
    ok.status = TG_OK;
    tg_fetch_cb cb = r->cb;
    void *ud = r->ud;
    unsigned char *data = r->data;
    size_t len = r->len;
    free(r);
    cb(ud, &ok, data, len);
}

/* Lends r's reader the document of write j, read-only (j lives until the
 * loan comes back), and frees r. */
static void lend_write(struct gw_cache_read *r, struct write_job *j)
{
    struct gw_cache_loan *loan = xmalloc(sizeof(*loan));
    loan->j = j;
    j->refs++;
    gw_cache_lend_cb cb = r->lend;
    void *ud = r->ud;
    free(r);
    cb(ud, j->data, j->len, loan);
}

void gw_cache_return(struct gw_cache_loan *loan)
{
    if (loan == NULL)
        return;
    write_unref(loan->j);
    free(loan);
}

/* Queues r to copy the document of write j on the pool (j stays alive for
 * it). 0 when queued; -1, with r and j as they were, when it cannot be. */
static int copy_from_write(struct gw_cache_read *r, struct write_job *j)
{
    j->refs++;
    r->from = j;
    r->work.data = r;
    r->on_pool = 1;
    if (uv_queue_work(j->c->gw->loop, &r->work, hit_work, after_hit) == 0)
        return 0;
    r->on_pool = 0;
    r->from = NULL;
    j->refs--;
    return -1;
}

static void after_write(uv_work_t *w, int status)
{
    struct write_job *j = w->data;
    struct gw_cache *c = j->c;
    c->writes--;
    c->write_bytes -= j->len;
    struct write_job **pp = &c->writing;
    while (*pp && *pp != j)
        pp = &(*pp)->next;
    if (*pp)
        *pp = j->next;
    if (status == 0 && j->err == 0) {
        insert(c, j->key, (int64_t)j->len);
        evict(c);
    } else if (status == 0) {
        log_warn("block cache: cannot write %s/%s: %s", c->dir, j->key, strerror(j->err));
    }
    write_unref(j);
}

/* Takes ownership of data (a bigbuf) when it returns 1. */
static int cache_write(struct gw_cache *c, const char *key, unsigned char *data, size_t len)
{
    if (c->dir == NULL || c->writes >= MAX_WRITES || (c->writes > 0 && c->write_bytes + len > MAX_WRITE_BYTES) ||
        (int64_t)len > c->max || find(c, key) != NULL)
        return 0;
    struct write_job *j = xcalloc(1, sizeof(*j));
    j->c = c;
    snprintf(j->key, sizeof(j->key), "%s", key);
    j->data = data;
    j->len = len;
    j->refs = 1;
    j->work.data = j;
    if (uv_queue_work(c->gw->loop, &j->work, write_work, after_write) != 0) {
        free(j);
        return 0;
    }
    j->next = c->writing;
    c->writing = j;
    c->writes++;
    c->write_bytes += len;
    return 1;
}

int gw_cache_put(struct gw *gw, const struct store_block *blk, unsigned char *data, size_t len)
{
    char key[KEY_LEN];
    if (gw->cache == NULL)
        return 0;
    block_key(blk, key);
    return cache_write(gw->cache, key, data, len);
}

int gw_cache_drop(struct gw *gw, const struct store_block *blk)
{
    char key[KEY_LEN];
    if (gw->cache == NULL)
        return 0;
    block_key(blk, key);
    struct entry *e = find(gw->cache, key);
    if (e == NULL)
        return 0;
    remove_entry(gw->cache, e, 1);
    return 1;
}

/* ---- flights: one Telegram read per block ------------------------------------------ */

static void flight_unlink(struct gw_cache *c, struct flight *f)
{
    struct flight **pp = &c->flights;
    while (*pp && *pp != f)
        pp = &(*pp)->next;
    if (*pp)
        *pp = f->next;
    f->next = NULL;
}

static void on_flight_fetched(void *ud, const struct tg_result *res, unsigned char *data, size_t len)
{
    struct flight *f = ud;
    struct gw_cache *c = f->c;
    f->call = NULL;
    flight_unlink(c, f); /* readers arriving from now on start a new flight or hit the cache */
    int ok = res->status == TG_OK && data != NULL && (int64_t)len == f->blk.stored_size;
    /* The cache write keeps the original; waiters get copies, made on the
     * pool while the write goes on (it goes to the disk past the page cache:
     * a reader that waited for it would wait for the disk). Without a write
     * the last waiter takes the original. */
    int keep = ok && f->admit && cache_write(c, f->key, data, len);
    struct write_job *wj = keep ? c->writing : NULL; /* cache_write put it first */
    /* Callbacks may cancel other waiters of f (a failed response frees its
     * request): cancel unlinks them from f->waiters, so pop one at a time. */
    while (f->waiters != NULL) {
        struct gw_cache_read *r = f->waiters;
        f->waiters = r->wnext;
        r->flight = NULL;
        /* The write owns the document: lent to the reader, which decrypts
         * from it into a buffer of its own (no copy). */
        if (wj != NULL) {
            lend_write(r, wj);
            continue;
        }
        tg_fetch_cb cb = r->cb;
        void *rud = r->ud;
        unsigned char *mine = NULL;
        if (data != NULL && ok && !keep && f->waiters == NULL) {
            mine = data;
            data = NULL;
        } else if (data != NULL) {
            mine = bigbuf_new(len);
            memcpy(mine, data, len);
        }
        free(r);
        cb(rud, res, mine, mine ? len : 0);
    }
    if (!keep)
        bigbuf_free(data);
    free(f);
}

static void join_flight(struct gw_cache *c, struct gw_cache_read *r)
{
    struct flight *f = c->flights;
    while (f && strcmp(f->key, r->key) != 0)
        f = f->next;
    if (f != NULL) {
        c->joined++;
        f->admit |= r->admit;
        struct gw_cache_read **pp = &f->waiters;
        while (*pp)
            pp = &(*pp)->wnext;
        *pp = r;
    } else {
        c->misses++;
        f = xcalloc(1, sizeof(*f));
        f->c = c;
        snprintf(f->key, sizeof(f->key), "%s", r->key);
        f->blk = r->blk;
        f->admit = r->admit;
        f->waiters = r;
        f->next = c->flights;
        c->flights = f;
        f->call = gw_block_read_start(c->gw, &f->blk, on_flight_fetched, f);
    }
    r->wnext = NULL;
    r->flight = f;
}

/* ---- reads from the cache ------------------------------------------------------------ */

static void hit_work(uv_work_t *w)
{
    struct gw_cache_read *r = w->data;
    char path[4096];
    r->err = 0;
    if (r->from != NULL) { /* the writer only reads its buffer too */
        r->len = r->from->len;
        r->data = bigbuf_new(r->len);
        memcpy(r->data, r->from->data, r->len);
        return;
    }
    if (r->spool != NULL)
        snprintf(path, sizeof(path), "%s", r->spool);
    else
        snprintf(path, sizeof(path), "%s/%s", r->c->dir, r->key);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        r->err = errno;
        return;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || (r->spool == NULL && (int64_t)sb.st_size != r->blk.stored_size) ||
        (r->spool_len > 0 && (uint64_t)sb.st_size < r->spool_off + r->spool_len)) {
        r->err = EIO;
        close(fd);
        return;
    }
    /* A range of a spool file (a small object in an unposted pack), or all of the file. */
    uint64_t from = r->spool_len > 0 ? r->spool_off : 0;
    r->len = r->spool_len > 0 ? (size_t)r->spool_len : (size_t)sb.st_size;
    /* A cached document: past the page cache unless it is there (common/direct.c), so room for the last page. */
    r->data = bigbuf_new(r->spool != NULL ? r->len : (r->len + BIGBUF_ALIGN - 1) / BIGBUF_ALIGN * BIGBUF_ALIGN);
    ssize_t got = r->spool != NULL ? pread_full(fd, r->data, r->len, (off_t)from) : pread_full_direct(fd, r->data, r->len);
    if (got < 0 || (size_t)got < r->len)
        r->err = got < 0 ? errno : EIO;
    if (r->spool == NULL)
        futimens(fd, NULL); /* recency survives a restart */
    close(fd);
    if (r->err != 0) {
        bigbuf_free(r->data);
        r->data = NULL;
    }
}

static void after_hit(uv_work_t *w, int status)
{
    struct gw_cache_read *r = w->data;
    struct gw_cache *c = r->c;
    r->on_pool = 0;
    if (r->from != NULL) {
        write_unref(r->from);
        r->from = NULL;
    }
    if (r->cancelled) {
        bigbuf_free(r->data);
        free(r->spool);
        free(r);
        return;
    }
    if (r->spool != NULL && (status != 0 || r->err != 0)) {
        struct tg_result bad;
        memset(&bad, 0, sizeof(bad));
        bad.status = TG_ERR_TRANSPORT;
        snprintf(bad.description, sizeof(bad.description), "spool file %s: %s", r->spool,
                 strerror(status != 0 ? ECANCELED : r->err));
        tg_fetch_cb cb = r->cb;
        void *ud = r->ud;
        free(r->spool);
        free(r);
        cb(ud, &bad, NULL, 0);
        return;
    }
    free(r->spool);
    r->spool = NULL;
    if (status != 0 || r->err != 0) {
        /* Gone (evicted meanwhile) or damaged: forget it and read through Telegram. */
        struct entry *e = find(c, r->key);
        if (e != NULL)
            remove_entry(c, e, r->err != ENOENT);
        join_flight(c, r);
        return;
    }
    deliver(r);
}

int gw_cache_admits(const struct gw *gw, uint64_t len)
{
    const struct gw_cache *c = gw->cache;
    return c != NULL && c->max > 0 && len <= (uint64_t)c->max / 4;
}

struct gw_cache_read *gw_cache_fetch(struct gw *gw, const struct store_block *blk, int admit, const char *spool,
                                     uint64_t spool_off, uint64_t spool_len, tg_fetch_cb cb, gw_cache_lend_cb lend,
                                     void *ud)
{
    struct gw_cache *c = gw->cache;
    ASSERT(c != NULL);
    struct gw_cache_read *r = xcalloc(1, sizeof(*r));
    r->c = c;
    r->blk = *blk;
    r->admit = admit;
    r->cb = cb;
    r->lend = lend;
    r->ud = ud;
    block_key(blk, r->key);
    if (spool != NULL) {
        /* An unposted pack (pack.c): plaintext in the spool, never cached;
         * a reader of one object in it reads only that object's bytes. */
        r->spool = xstrdup(spool);
        r->spool_off = spool_off;
        r->spool_len = spool_len;
        r->work.data = r;
        r->on_pool = 1;
        if (uv_queue_work(gw->loop, &r->work, hit_work, after_hit) != 0) {
            r->on_pool = 0;
            r->err = EIO;
            after_hit(&r->work, 0);
        }
        return r;
    }
    struct entry *e = c->dir ? find(c, r->key) : NULL;
    struct write_job *wj = c->writing;
    while (wj && strcmp(wj->key, r->key) != 0)
        wj = wj->next;
    if (e == NULL && wj != NULL && (int64_t)wj->len == blk->stored_size) {
        /* Fetched a moment ago, still being written: copy it on the pool. */
        c->hits++;
        if (copy_from_write(r, wj) == 0)
            return r;
    } else if (e != NULL && e->size == blk->stored_size) {
        c->hits++;
        lru_unlink(c, e);
        lru_push(c, e);
        r->work.data = r;
        r->on_pool = 1;
        if (uv_queue_work(gw->loop, &r->work, hit_work, after_hit) == 0)
            return r;
        r->on_pool = 0;
    }
    join_flight(c, r);
    return r;
}

void gw_cache_cancel(struct gw_cache_read *r)
{
    if (r == NULL)
        return;
    if (r->on_pool) {
        r->cancelled = 1; /* after_hit frees it */
        return;
    }
    struct flight *f = r->flight;
    if (f != NULL) {
        struct gw_cache_read **pp = &f->waiters;
        while (*pp && *pp != r)
            pp = &(*pp)->wnext;
        if (*pp)
            *pp = r->wnext;
        if (f->waiters == NULL && f->call != NULL) {
            /* Nobody waits any more: stop reading the block. */
            gw_block_read_cancel(f->call);
            flight_unlink(f->c, f);
            free(f);
        }
    }
    free(r);
}
