/* common.c — allocation, assert, bounded buffer, log sink, small helpers.
 *
 * See common.h. The log sink serialises lines with a mutex so that threads
 * never interleave partial lines; the block-buffer recycler's idle list has a
 * mutex of its own. Those two are the only global state here.
 */
#include "common/common.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

void assert_fail(const char *what, const char *file, int line)
{
    fprintf(stderr, "assertion failed: %s at %s:%d\n", what, file, line);
    fflush(stderr);
    abort();
}

static void oom(size_t n)
{
    fprintf(stderr, "out of memory allocating %zu bytes\n", n);
    abort();
}

/* Block-sized buffers (sealed documents, fetched blocks) are touched once from
 * end to end by a single copy, hash or cipher pass. With 4 KiB pages that pass
 * spends most of its time in page faults (measured here: a 1 GiB GET ran at
 * 190 MiB/s, with 2 MiB pages at 730 MiB/s), so the 2 MiB-aligned interior of
 * every large allocation asks for transparent huge pages. The hint changes no
 * size: memory use stays what was allocated. It is advice: where THP is off the
 * call fails and nothing changes. */
#define HUGE_PAGE ((uintptr_t)2 << 20)
#define HUGE_HINT_MIN ((size_t)4 << 20)

static void huge_hint(void *p, size_t n)
{
    if (p == NULL || n < HUGE_HINT_MIN)
        return;
    uintptr_t a = ((uintptr_t)p + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    uintptr_t e = ((uintptr_t)p + n) & ~(HUGE_PAGE - 1);
    if (e > a)
        (void)madvise((void *)a, (size_t)(e - a), MADV_HUGEPAGE);
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        oom(n);
    huge_hint(p, n);
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL)
        oom(n * size);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        oom(n);
    huge_hint(q, n);
    return q;
}

/* ---- file I/O ------------------------------------------------------------------ */

int pwrite_all(int fd, const void *buf, size_t n, off_t off)
{
    const unsigned char *p = buf;
    while (n > 0) {
        ssize_t k = pwrite(fd, p, n, off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            errno = k < 0 ? errno : EIO;
            return -1;
        }
        p += k;
        n -= (size_t)k;
        off += k;
    }
    return 0;
}

ssize_t pread_full(int fd, void *buf, size_t n, off_t off)
{
    unsigned char *p = buf;
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(fd, p + got, n - got, off + (off_t)got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        if (k == 0)
            break;
        got += (size_t)k;
    }
    return (ssize_t)got;
}

int lock_file(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    int rc;
    while ((rc = flock(fd, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR)
        ;
    if (rc != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* ---- block buffers ---------------------------------------------------------- */

/* In front of every bigbuf, in the last 64 bytes before its first byte. A
 * bigbuf of at least BIGBUF_MIN bytes starts on a page boundary (2 MiB when it
 * is large enough for huge pages), so it can be the buffer of O_DIRECT
 * reads and writes and covers as few partial huge pages as its size allows;
 * raw is what the allocator returned. */
struct bigbuf_hdr {
    uint64_t magic;
    size_t cap; /* bytes usable after the header */
    struct bigbuf_hdr *next; /* idle list: the most recently returned first */
    void *raw;               /* to free */
    unsigned char pad[64 - sizeof(uint64_t) - sizeof(size_t) - 2 * sizeof(void *)];
};
_Static_assert(sizeof(struct bigbuf_hdr) == 64, "bigbuf header is 64 bytes");

#define BIGBUF_LIVE 0x7467733362756621ull /* handed out */
#define BIGBUF_IDLE 0x7467733369646c65ull /* in the idle list */

static pthread_mutex_t bigbuf_lock = PTHREAD_MUTEX_INITIALIZER;
static struct bigbuf_hdr *bigbuf_head; /* idle buffers */
static size_t bigbuf_n, bigbuf_bytes;
static size_t bigbuf_keep = BIGBUF_KEEP; /* idle buffers kept at most (bigbuf_prepare raises it) */

unsigned char *bigbuf_new(size_t n)
{
    size_t cap = n;
    if (n >= BIGBUF_MIN) {
        if (n > SIZE_MAX - BIGBUF_STEP - HUGE_PAGE)
            oom(n);
        cap = (n + BIGBUF_STEP - 1) / BIGBUF_STEP * BIGBUF_STEP;
        /* The smallest idle buffer that holds n and is at most 1/8 larger. */
        struct bigbuf_hdr *h = NULL, **hp = NULL;
        pthread_mutex_lock(&bigbuf_lock);
        for (struct bigbuf_hdr **pp = &bigbuf_head; *pp; pp = &(*pp)->next) {
            size_t c = (*pp)->cap;
            if (c >= n && c - n <= n / 8 && (h == NULL || c < h->cap)) {
                h = *pp;
                hp = pp;
            }
        }
        if (h != NULL) {
            *hp = h->next;
            bigbuf_n--;
            bigbuf_bytes -= h->cap;
        }
        pthread_mutex_unlock(&bigbuf_lock);
        if (h != NULL) {
            ASSERT(h->magic == BIGBUF_IDLE);
            h->magic = BIGBUF_LIVE;
            h->next = NULL;
            return (unsigned char *)(h + 1);
        }
    } else if (n > SIZE_MAX - sizeof(struct bigbuf_hdr)) {
        oom(n);
    }
    size_t align = n < BIGBUF_MIN ? sizeof(struct bigbuf_hdr) : cap >= HUGE_HINT_MIN ? (size_t)HUGE_PAGE : BIGBUF_ALIGN;
    void *raw = NULL;
    if (posix_memalign(&raw, align, align + cap) != 0)
        oom(cap);
    struct bigbuf_hdr *h = (struct bigbuf_hdr *)((unsigned char *)raw + align) - 1;
    huge_hint(h + 1, cap);
    h->magic = BIGBUF_LIVE;
    h->cap = cap;
    h->next = NULL;
    h->raw = raw;
    return (unsigned char *)(h + 1);
}

void bigbuf_free(void *p)
{
    if (p == NULL)
        return;
    struct bigbuf_hdr *h = (struct bigbuf_hdr *)p - 1;
    ASSERT(h->magic == BIGBUF_LIVE);
    if (h->cap < BIGBUF_MIN) {
        h->magic = 0;
        free(h->raw);
        return;
    }
    struct bigbuf_hdr *drop = NULL;
    h->magic = BIGBUF_IDLE;
    pthread_mutex_lock(&bigbuf_lock);
    h->next = bigbuf_head;
    bigbuf_head = h;
    bigbuf_n++;
    bigbuf_bytes += h->cap;
    if (bigbuf_n > bigbuf_keep) { /* the oldest goes */
        struct bigbuf_hdr **pp = &bigbuf_head;
        while ((*pp)->next != NULL)
            pp = &(*pp)->next;
        drop = *pp;
        *pp = NULL;
        bigbuf_n--;
        bigbuf_bytes -= drop->cap;
    }
    pthread_mutex_unlock(&bigbuf_lock);
    if (drop != NULL) {
        drop->magic = 0;
        free(drop->raw);
    }
}

void bigbuf_prepare(size_t count, size_t n)
{
    unsigned char **b = xcalloc(count ? count : 1, sizeof(*b));
    pthread_mutex_lock(&bigbuf_lock);
    if (count > bigbuf_keep)
        bigbuf_keep = count;
    pthread_mutex_unlock(&bigbuf_lock);
    for (size_t i = 0; i < count; i++) {
        b[i] = bigbuf_new(n);
        for (size_t at = 0; at < n; at += 4096) /* every page faulted in now, not in the first request */
            b[i][at] = 0;
    }
    for (size_t i = 0; i < count; i++)
        bigbuf_free(b[i]);
    free(b);
}

/* Frees a list of buffers taken off the idle list (next-linked). */
static void free_idle(struct bigbuf_hdr *h)
{
    while (h != NULL) {
        struct bigbuf_hdr *nx = h->next;
        h->magic = 0;
        free(h->raw);
        h = nx;
    }
}

void bigbuf_trim(size_t n)
{
    struct bigbuf_hdr *drop = NULL;
    pthread_mutex_lock(&bigbuf_lock);
    for (struct bigbuf_hdr **pp = &bigbuf_head; *pp;) {
        struct bigbuf_hdr *h = *pp;
        if (h->cap >= n && h->cap - n <= n / 8) { /* bigbuf_new(n) would take it */
            pp = &h->next;
            continue;
        }
        *pp = h->next;
        bigbuf_n--;
        bigbuf_bytes -= h->cap;
        h->next = drop;
        drop = h;
    }
    pthread_mutex_unlock(&bigbuf_lock);
    free_idle(drop);
}

void bigbuf_drain(void)
{
    pthread_mutex_lock(&bigbuf_lock);
    struct bigbuf_hdr *h = bigbuf_head;
    bigbuf_head = NULL;
    bigbuf_n = bigbuf_bytes = 0;
    pthread_mutex_unlock(&bigbuf_lock);
    free_idle(h);
}

size_t bigbuf_idle(size_t *bytes)
{
    pthread_mutex_lock(&bigbuf_lock);
    size_t n = bigbuf_n;
    if (bytes != NULL)
        *bytes = bigbuf_bytes;
    pthread_mutex_unlock(&bigbuf_lock);
    return n;
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void secure_zero(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
}

void dbuf_init(struct dbuf *b, size_t max)
{
    b->ptr = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void dbuf_release(struct dbuf *b)
{
    free(b->ptr);
    b->ptr = NULL;
    b->len = b->cap = 0;
}

void dbuf_reset(struct dbuf *b)
{
    b->len = 0;
    if (b->ptr)
        b->ptr[0] = '\0';
}

int dbuf_add(struct dbuf *b, const void *p, size_t n)
{
    if (n > b->max || b->len > b->max - n)
        return -1;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1)
            cap *= 2;
        if (cap > b->max + 1)
            cap = b->max + 1;
        b->ptr = xrealloc(b->ptr, cap);
        b->cap = cap;
    }
    if (n)
        memcpy(b->ptr + b->len, p, n);
    b->len += n;
    b->ptr[b->len] = '\0';
    return 0;
}

int dbuf_adds(struct dbuf *b, const char *s)
{
    return dbuf_add(b, s, strlen(s));
}

int dbuf_printf(struct dbuf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if ((size_t)n < sizeof(small))
        return dbuf_add(b, small, (size_t)n);
    char *big = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = dbuf_add(b, big, (size_t)n);
    free(big);
    return rc;
}

char *dbuf_take(struct dbuf *b, size_t *len)
{
    char *p = b->ptr ? b->ptr : xstrdup("");
    if (len)
        *len = b->len;
    b->ptr = NULL;
    b->len = b->cap = 0;
    return p;
}

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static enum log_level log_level_min = LOG_INFO;
static FILE *log_fp; /* NULL → stderr */

void log_set_level(enum log_level lvl)
{
    log_level_min = lvl;
}

enum log_level log_get_level(void)
{
    return log_level_min;
}

int log_open_file(const char *path)
{
    FILE *fp = NULL;
    if (path != NULL) {
        fp = fopen(path, "a");
        if (fp == NULL)
            return -1;
        setvbuf(fp, NULL, _IOLBF, 0);
    }
    pthread_mutex_lock(&log_lock);
    if (log_fp != NULL)
        fclose(log_fp);
    log_fp = fp;
    pthread_mutex_unlock(&log_lock);
    return 0;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (lvl < log_level_min)
        return;
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int off = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ", tm.tm_year + 1900,
                       tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                       names[lvl]);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + off, sizeof(line) - (size_t)off, fmt, ap);
    va_end(ap);
    char safe[2048];
    redact_tokens(line, safe, sizeof(safe));
    pthread_mutex_lock(&log_lock);
    FILE *fp = log_fp ? log_fp : stderr;
    fputs(safe, fp);
    fputc('\n', fp);
    fflush(fp);
    pthread_mutex_unlock(&log_lock);
}

/* A token is <digits>:<35+ chars of [A-Za-z0-9_-]>; we keep the bot id and hide the secret. */
void redact_tokens(const char *s, char *out, size_t outsz)
{
    size_t o = 0;
    if (outsz == 0)
        return;
    for (size_t i = 0; s[i] != '\0' && o + 1 < outsz;) {
        if (isdigit((unsigned char)s[i]) && (i == 0 || !isalnum((unsigned char)s[i - 1]))) {
            size_t j = i;
            while (isdigit((unsigned char)s[j]))
                j++;
            if (s[j] == ':') {
                size_t k = j + 1;
                while (isalnum((unsigned char)s[k]) || s[k] == '_' || s[k] == '-')
                    k++;
                if (k - (j + 1) >= 20) {
                    size_t idlen = j - i;
                    for (size_t m = 0; m < idlen && o + 1 < outsz; m++)
                        out[o++] = s[i + m];
                    const char *mask = ":<redacted>";
                    for (size_t m = 0; mask[m] && o + 1 < outsz; m++)
                        out[o++] = mask[m];
                    i = k;
                    continue;
                }
            }
            while (i < j && o + 1 < outsz)
                out[o++] = s[i++];
            continue;
        }
        out[o++] = s[i++];
    }
    out[o] = '\0';
}

static int64_t clock_offset_ms; /* set once at start, before any thread */

void clock_set_offset_ms(int64_t ms)
{
    clock_offset_ms = ms;
}

int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t now_ms(void)
{
    return wall_ms() + clock_offset_ms;
}

int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int parse_port(const char *s)
{
    if (s == NULL || !isdigit((unsigned char)*s))
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 1 || v > 65535)
        return -1;
    return (int)v;
}

void hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

int hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int64_t parse_size(const char *s)
{
    if (s == NULL || !isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0)
        return -1;
    unsigned long long mul = 1;
    switch (*end) {
    case '\0': break;
    case 'k': case 'K': mul = 1ULL << 10; end++; break;
    case 'm': case 'M': mul = 1ULL << 20; end++; break;
    case 'g': case 'G': mul = 1ULL << 30; end++; break;
    default: return -1;
    }
    if (*end == 'i' || *end == 'B')
        end++;
    if (*end == 'B')
        end++;
    if (*end != '\0' || v > (unsigned long long)INT64_MAX / mul)
        return -1;
    return (int64_t)(v * mul);
}
