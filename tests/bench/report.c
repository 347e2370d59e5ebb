/* report.c — tgs3-bench's output: the table of rows, printed whole at the end, progress lines, medians.
 *
 * A row is shown on stderr as soon as it is made (the run takes minutes) and
 * kept for the table on stdout at the end; progress lines go to stderr only.
 * A figure measured once per round is kept as a bench_stat: the row shows its
 * median and its spread, (max - min) / median.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/bench/bench.h"

static char table[64 * 1024];
static size_t table_len;

void bench_row(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(table + table_len, sizeof(table) - table_len, fmt, ap);
    va_end(ap);
    if (n > 0 && table_len + (size_t)n < sizeof(table))
        table_len += (size_t)n;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
}

void bench_progress(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "# ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

void bench_table_print(void)
{
    printf("%s", table);
    fflush(stdout);
}

double bench_ratio(double a, double b)
{
    return b > 0 ? a / b : 0;
}

void bench_stat_add(struct bench_stat *s, double v)
{
    if (s->n < BENCH_MAX_ROUNDS)
        s->v[s->n++] = v;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double bench_median(const struct bench_stat *s)
{
    double v[BENCH_MAX_ROUNDS];
    if (s->n <= 0)
        return 0;
    memcpy(v, s->v, (size_t)s->n * sizeof(v[0]));
    qsort(v, (size_t)s->n, sizeof(v[0]), cmp_double);
    return s->n % 2 ? v[s->n / 2] : (v[s->n / 2 - 1] + v[s->n / 2]) / 2;
}

double bench_spread(const struct bench_stat *s)
{
    if (s->n <= 0)
        return 0;
    double lo = s->v[0], hi = s->v[0];
    for (int i = 1; i < s->n; i++) {
        lo = s->v[i] < lo ? s->v[i] : lo;
        hi = s->v[i] > hi ? s->v[i] : hi;
    }
    return bench_ratio(hi - lo, bench_median(s));
}

const char *bench_stat_str(const struct bench_stat *s, int width, int prec, const char *unit, char *buf, size_t cap)
{
    char sp[32];
    snprintf(sp, sizeof(sp), "±%.0f%%", bench_spread(s) * 100.0);
    /* "±" is two bytes in UTF-8: 6 bytes pad "±5%" to the width of "±100%" */
    snprintf(buf, cap, "%*.*f%s %-6s", width, prec, bench_median(s), unit, sp);
    return buf;
}
