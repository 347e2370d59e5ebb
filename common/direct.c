/* direct.c — whole files written and read past the page cache (O_DIRECT), where the kernel allows it.
 *
 * On the VM measured, memory the kernel hands out fresh is dear: filling
 * 1 GiB of new page cache costs 2.3 to 3.5 CPU-seconds, moving it with
 * O_DIRECT 0.05. A block the gateway writes to its cache, or reads from a
 * file that is not in the page cache, goes past it: the disk's bandwidth
 * instead of the CPU's time. O_DIRECT wants whole pages at page-aligned
 * addresses: buffers come from bigbuf_new (BIGBUF_ALIGN-aligned from
 * BIGBUF_MIN bytes) with room for the last whole page, and a write's last
 * partial page goes through the page cache. Where the file system refuses
 * O_DIRECT (tmpfs), everything goes through the page cache as usual.
 */
#define _GNU_SOURCE /* O_DIRECT */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/common.h"

int fd_all_cached(int fd, size_t size)
{
    long pg = sysconf(_SC_PAGESIZE);
    if (size == 0 || pg <= 0)
        return 0;
    size_t pages = (size + (size_t)pg - 1) / (size_t)pg;
    void *m = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED)
        return 0;
    unsigned char *vec = xmalloc(pages);
    int all = mincore(m, size, vec) == 0;
    for (size_t i = 0; all && i < pages; i++)
        all = vec[i] & 1;
    free(vec);
    munmap(m, size);
    return all;
}

/* Sets or clears O_DIRECT on fd: 0, or -1 (refused). */
static int set_direct(int fd, int on)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0)
        return -1;
    fl = on ? fl | O_DIRECT : fl & ~O_DIRECT;
    return fcntl(fd, F_SETFL, fl) == 0 ? 0 : -1;
}

int pwrite_all_direct(int fd, const unsigned char *buf, size_t n)
{
    size_t whole = n / BIGBUF_ALIGN * BIGBUF_ALIGN, done = 0;
    if (n >= BIGBUF_MIN && (uintptr_t)buf % BIGBUF_ALIGN == 0 && set_direct(fd, 1) == 0) {
        while (done < whole) {
            ssize_t w = pwrite(fd, buf + done, whole - done, (off_t)done);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0 || (size_t)w % BIGBUF_ALIGN != 0)
                break; /* refused after all (or a short write): the rest through the page cache */
            done += (size_t)w;
        }
        if (set_direct(fd, 0) != 0)
            return -1;
    }
    return pwrite_all(fd, buf + done, n - done, (off_t)done);
}

ssize_t pread_full_direct(int fd, unsigned char *buf, size_t n)
{
    size_t done = 0;
    if (n >= BIGBUF_MIN && (uintptr_t)buf % BIGBUF_ALIGN == 0 && !fd_all_cached(fd, n) && set_direct(fd, 1) == 0) {
        size_t want = (n + BIGBUF_ALIGN - 1) / BIGBUF_ALIGN * BIGBUF_ALIGN; /* the kernel stops at the end */
        while (done < n) {
            ssize_t r = pread(fd, buf + done, want - done, (off_t)done);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break; /* refused after all, or the end: the rest (if any) through the page cache */
            done += (size_t)r;
            if (done % BIGBUF_ALIGN != 0)
                break; /* the end of the file */
        }
        if (done > n)
            done = n;
        if (set_direct(fd, 0) != 0)
            return -1;
    }
    if (done >= n)
        return (ssize_t)n;
    ssize_t rest = pread_full(fd, buf + done, n - done, (off_t)done);
    return rest < 0 ? -1 : (ssize_t)done + rest;
}
