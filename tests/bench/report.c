/* report.c — tgs3-bench's output: the table of rows, printed whole at the end, and progress lines.
 *
 * A row is shown on stderr as soon as it is made (the run takes minutes) and
 * kept for the table on stdout at the end; progress lines go to stderr only.
 */
#include <stdarg.h>
#include <stdio.h>

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
