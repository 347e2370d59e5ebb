/* check.h — the unit tests' assertions and summary line, shared by the test programs.
 *
 * Each test program is one translation unit, so the counters are file-static. A failed
 * check prints its place and expression and the program goes on; main ends with
 * `return check_summary();`, which prints "N passed, N failed" (the line tests/run_all.sh
 * reads) and flushes, since LeakSanitizer exits without flushing stdio. Include it after
 * s3/s3.h to get CHECK_ERR.
 */
#ifndef TGS3_TEST_CHECK_H
#define TGS3_TEST_CHECK_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int passed, failed;

#define CHECK(cond)                                                                                                    \
    do {                                                                                                               \
        if (cond) {                                                                                                    \
            passed++;                                                                                                  \
        } else {                                                                                                       \
            failed++;                                                                                                  \
            printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);                                                     \
        }                                                                                                              \
    } while (0)

#define CHECK_STR(a, b)                                                                                                \
    do {                                                                                                               \
        const char *a_ = (a), *b_ = (b);                                                                               \
        if (a_ && b_ && strcmp(a_, b_) == 0) {                                                                         \
            passed++;                                                                                                  \
        } else {                                                                                                       \
            failed++;                                                                                                  \
            printf("FAIL %s:%d: %s\n  got:  %s\n  want: %s\n", __FILE__, __LINE__, #a, a_ ? a_ : "(null)",          \
                   b_ ? b_ : "(null)");                                                                                \
        }                                                                                                              \
    } while (0)

#ifdef TGS3_S3_H
#define CHECK_ERR(got, want)                                                                                           \
    do {                                                                                                               \
        enum s3_err g_ = (got), w_ = (want);                                                                           \
        if (g_ == w_) {                                                                                                \
            passed++;                                                                                                  \
        } else {                                                                                                       \
            failed++;                                                                                                  \
            printf("FAIL %s:%d: %s = %s, want %s\n", __FILE__, __LINE__, #got, s3_err_code(g_), s3_err_code(w_));   \
        }                                                                                                              \
    } while (0)
#endif

static inline int check_summary(void)
{
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed ? 1 : 0;
}

/* xorshift64: the tests' reproducible stream of pseudo-random numbers (state must not be 0). */
static inline uint64_t check_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return *state = x;
}

#endif
