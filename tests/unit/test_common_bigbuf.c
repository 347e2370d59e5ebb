/* test_common_bigbuf.c — the block-buffer recycler: reuse, bounds, threads, prepared buffers; files past the page cache. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "tests/unit/check.h"

#define MIB ((size_t)1 << 20)

static void test_reuse(void)
{
    bigbuf_drain();
    unsigned char *a = bigbuf_new(16 * MIB + 52);
    CHECK((uintptr_t)a % BIGBUF_ALIGN == 0); /* O_DIRECT may use it */
    memset(a, 0xab, 16 * MIB + 52);
    bigbuf_free(a);
    size_t bytes = 0;
    CHECK(bigbuf_idle(&bytes) == 1 && bytes >= 16 * MIB + 52);
    unsigned char *b = bigbuf_new(16 * MIB + 52);
    CHECK(b == a); /* the same warm buffer */
    CHECK(bigbuf_idle(NULL) == 0);
    /* A smaller block of about the same size reuses it too; a much smaller one does not. */
    bigbuf_free(b);
    unsigned char *c = bigbuf_new(15 * MIB);
    CHECK(c == a);
    bigbuf_free(c);
    unsigned char *d = bigbuf_new(2 * MIB);
    CHECK(d != a && bigbuf_idle(NULL) == 1);
    CHECK((uintptr_t)d % BIGBUF_ALIGN == 0);
    memset(d, 1, 2 * MIB);
    bigbuf_free(d);
    CHECK(bigbuf_idle(NULL) == 2);
    /* Larger than anything idle: a new one. */
    unsigned char *e = bigbuf_new(17 * MIB);
    CHECK(e != a && e != d);
    bigbuf_free(e);
    bigbuf_drain();
    CHECK(bigbuf_idle(&bytes) == 0 && bytes == 0);
}

static void test_bounds(void)
{
    unsigned char *v[BIGBUF_KEEP + 3];
    for (size_t i = 0; i < ARRAY_SIZE(v); i++)
        v[i] = bigbuf_new(MIB + i * BIGBUF_STEP);
    for (size_t i = 0; i < ARRAY_SIZE(v); i++)
        bigbuf_free(v[i]);
    size_t bytes = 0;
    CHECK(bigbuf_idle(&bytes) == BIGBUF_KEEP);
    CHECK(bytes <= BIGBUF_KEEP * (MIB + ARRAY_SIZE(v) * BIGBUF_STEP));
    /* The most recent ones stayed: the last returned is found again. */
    unsigned char *again = bigbuf_new(MIB + (ARRAY_SIZE(v) - 1) * BIGBUF_STEP);
    CHECK(again == v[ARRAY_SIZE(v) - 1]);
    bigbuf_free(again);
    bigbuf_drain();
    /* Small ones are plain allocations, never kept. */
    unsigned char *s = bigbuf_new(100);
    memset(s, 7, 100);
    bigbuf_free(s);
    unsigned char *z = bigbuf_new(0);
    bigbuf_free(z);
    bigbuf_free(NULL);
    CHECK(bigbuf_idle(NULL) == 0);
    /* Alignment: as malloc's, and more. */
    unsigned char *al = bigbuf_new(3 * MIB);
    CHECK(((uintptr_t)al & 63) == 0);
    bigbuf_free(al);
    bigbuf_drain();
}

static void *churn(void *arg)
{
    size_t seed = (size_t)(uintptr_t)arg;
    for (int i = 0; i < 200; i++) {
        size_t n = MIB + ((seed + (size_t)i) % 3) * MIB;
        unsigned char *p = bigbuf_new(n);
        p[0] = (unsigned char)i;
        p[n - 1] = (unsigned char)i;
        bigbuf_free(p);
    }
    return NULL;
}

static void test_threads(void)
{
    pthread_t t[4];
    for (size_t i = 0; i < ARRAY_SIZE(t); i++)
        pthread_create(&t[i], NULL, churn, (void *)(uintptr_t)i);
    for (size_t i = 0; i < ARRAY_SIZE(t); i++)
        pthread_join(t[i], NULL);
    CHECK(bigbuf_idle(NULL) <= BIGBUF_KEEP);
    bigbuf_drain();
    CHECK(bigbuf_idle(NULL) == 0);
}

/* bigbuf_prepare keeps count buffers idle from then on, already there for the first requests. */
static void test_prepare(void)
{
    bigbuf_drain();
    size_t bytes = 0;
    bigbuf_prepare(5, (size_t)3 << 20);
    CHECK(bigbuf_idle(&bytes) == 5);
    CHECK(bytes >= (size_t)15 << 20);
    unsigned char *v[7];
    for (size_t i = 0; i < 7; i++)
        v[i] = bigbuf_new((size_t)3 << 20);
    CHECK(bigbuf_idle(NULL) == 0); /* the five prepared ones were taken first */
    for (size_t i = 0; i < 7; i++)
        bigbuf_free(v[i]);
    CHECK(bigbuf_idle(NULL) == 5); /* the limit is the prepared count now */
    bigbuf_drain();
}

/* bigbuf_trim(n) keeps the idle buffers a request of n bytes would take and frees the others. */
static void test_trim(void)
{
    bigbuf_drain();
    bigbuf_prepare(5, (size_t)3 << 20); /* 5 idle at most, as test_prepare left it */
    unsigned char *c = bigbuf_new((size_t)3 << 20); /* a prepared one */
    unsigned char *small = bigbuf_new((size_t)1 << 20), *big = bigbuf_new((size_t)5 << 20);
    bigbuf_free(small);
    bigbuf_free(big); /* 6 idle: the oldest prepared one goes */
    bigbuf_free(c);   /* and another */
    CHECK(bigbuf_idle(NULL) == 5);
    bigbuf_trim((size_t)3 << 20);
    size_t bytes = 0;
    CHECK(bigbuf_idle(&bytes) == 3); /* the 1 and 5 MiB ones are gone, the three of 3 MiB stay */
    CHECK(bytes >= (size_t)9 << 20 && bytes < (size_t)10 << 20);
    unsigned char *v[3];
    for (size_t i = 0; i < 3; i++)
        v[i] = bigbuf_new((size_t)3 << 20);
    CHECK(bigbuf_idle(NULL) == 0);
    for (size_t i = 0; i < 3; i++)
        bigbuf_free(v[i]);
    bigbuf_trim((size_t)3 << 20);
    CHECK(bigbuf_idle(NULL) == 3); /* nothing to drop */
    bigbuf_trim((size_t)8 << 20);
    CHECK(bigbuf_idle(NULL) == 0); /* none would serve 8 MiB */
    bigbuf_drain();
}

/* Whole files past the page cache (or through it where O_DIRECT is refused, e.g. on tmpfs): every
 * size round-trips, the last partial page too. */
static void test_direct_in(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/tgs3-direct-XXXXXX", dir);
    static const size_t sizes[] = {0, 100, 4096, ((size_t)1 << 20) + 28, (size_t)2 << 20, ((size_t)3 << 20) + 4095};
    for (size_t k = 0; k < ARRAY_SIZE(sizes); k++) {
        size_t n = sizes[k], room = (n + BIGBUF_ALIGN - 1) / BIGBUF_ALIGN * BIGBUF_ALIGN;
        unsigned char *w = bigbuf_new(n ? n : 1), *r = bigbuf_new(room ? room : 1);
        for (size_t i = 0; i < n; i++)
            w[i] = (unsigned char)(i * 131 + k);
        int fd = mkstemp(path);
        CHECK(fd >= 0);
        CHECK(pwrite_all_direct(fd, w, n) == 0);
        struct stat sb;
        CHECK(fstat(fd, &sb) == 0 && (size_t)sb.st_size == n);
        close(fd);
        fd = open(path, O_RDONLY);
        CHECK(pread_full_direct(fd, r, n) == (ssize_t)n);
        CHECK(n == 0 || memcmp(w, r, n) == 0);
        close(fd);
        unlink(path);
        memcpy(path + strlen(path) - 6, "XXXXXX", 6);
        bigbuf_free(w);
        bigbuf_free(r);
    }
}

static void test_direct(void)
{
    test_direct_in("/tmp");
    test_direct_in("."); /* the build's disk */
}

int main(void)
{
    test_reuse();
    test_bounds();
    test_threads();
    test_prepare();
    test_trim();
    test_direct();
    return check_summary();
}
