/* docs.c — where the emulator keeps its copy of every posted document: RAM places or the disk.
 *
 * Telegram keeps documents on its own servers, not in the memory of the
 * machine that posted them. The emulator keeps them on this machine, and
 * where shows in what a client measures: in fresh page cache, storing a
 * document costs what the kernel charges for memory it hands out for the
 * first time (on the VM measured, 2.3 to 3.5 CPU-seconds per GiB, more than
 * everything else a PUT does), and a posted file linked into the store could
 * never give its pages back. So a document is copied out once (a file://
 * document read as the real server reads it to upload it):
 *   - into a RAM place, with --store-ram BYTES: DIR/ram holds files of
 *     --store-ram-doc bytes each, written through once before the emulator
 *     listens. A document of more than half a place and at most one is
 *     written into a free place (its pages are already there: a plain copy),
 *     cut to its size and renamed to its path in DIR/cloud; when it is
 *     removed and no download link still shares its file, the file goes
 *     back to the pool under its place's name. Meant for a DIR on tmpfs
 *     (/dev/shm), where nothing is ever written back to a disk;
 *   - else to the disk with O_DIRECT (the last partial page through the
 *     page cache), as an upload leaves the machine;
 *   - else, where the file system refuses O_DIRECT, through the page cache.
 *
 * docs_damage flips bytes of a stored document in place (/_emulator/corrupt).
 *
 * Limits: --store-ram / --store-ram-doc places (at most MAX_PLACES); copies
 * go through one buffer of CHUNK bytes.
 * Threads: the loop thread only.
 */
#define _GNU_SOURCE /* O_DIRECT */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "telegram/emulator/emu.h"

#define MAX_PLACES 65536
#define CHUNK ((size_t)4 << 20) /* bytes per read and write of a copy */
#define PAGE ((size_t)4096)     /* O_DIRECT: buffer, offsets and lengths */
#define DAMAGE 16               /* bytes docs_damage flips */

static struct {
    char dir[4096];      /* DIR/ram */
    size_t n;            /* places made */
    int64_t doc;         /* bytes: a place's size */
    ino_t *ino;          /* every place's inode (it keeps it through renames) */
    dev_t dev;
    size_t *free;        /* indexes of free places, a stack */
    size_t nfree;
    unsigned char *buf;  /* CHUNK bytes on a PAGE boundary, for every copy */
} docs;

static void place_path(size_t i, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s/slot-%zu", docs.dir, i);
}

/* Writes size bytes to out at 0: read from the file in, or from mem when
 * in < 0 (NULL mem: zeros). direct: out is O_DIRECT, so every write goes
 * from the page-aligned buffer and the last partial page goes after turning
 * O_DIRECT off. 0, or -1 with errno. */
static int copy_in(int out, int in, const unsigned char *mem, int64_t size, int direct)
{
    for (int64_t off = 0; off < size;) {
        size_t k = size - off < (int64_t)CHUNK ? (size_t)(size - off) : CHUNK;
        const unsigned char *p = docs.buf;
        if (in >= 0) {
            ssize_t n = pread_full(in, docs.buf, k, (off_t)off);
            if (n < 0 || (size_t)n < k) {
                errno = n < 0 ? errno : EIO; /* the file is shorter than its size */
                return -1;
            }
        } else if (mem == NULL) {
            memset(docs.buf, 0, k);
        } else if (direct) {
            memcpy(docs.buf, mem + off, k);
        } else {
            p = mem + off;
        }
        if (direct && k % PAGE != 0) {
            int fl = fcntl(out, F_GETFL);
            if (fl == -1 || fcntl(out, F_SETFL, fl & ~O_DIRECT) == -1)
                return -1;
        }
        if (pwrite_all(out, p, k, (off_t)off) != 0)
            return -1;
        off += (int64_t)k;
    }
    return 0;
}

int docs_open(const char *dir, int64_t bytes, int64_t doc)
{
    void *buf = NULL;
    if (posix_memalign(&buf, PAGE, CHUNK) != 0) {
        log_error("docs: no memory for a copy buffer");
        return -1;
    }
    docs.buf = buf;
    if (bytes <= 0 || doc <= 0)
        return 0;
    snprintf(docs.dir, sizeof(docs.dir), "%s/ram", dir);
    if (mkdir(docs.dir, 0750) != 0 && errno != EEXIST) {
        log_error("mkdir %s: %s", docs.dir, strerror(errno));
        return -1;
    }
    size_t want = (size_t)(bytes / doc);
    if (want > MAX_PLACES)
        want = MAX_PLACES;
    docs.doc = doc;
    docs.ino = xcalloc(want ? want : 1, sizeof(*docs.ino));
    docs.free = xcalloc(want ? want : 1, sizeof(*docs.free));
    char path[4200];
    int rc = 0;
    for (size_t i = 0; i < want && rc == 0; i++) {
        place_path(i, path, sizeof(path));
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
        struct stat sb;
        rc = fd < 0 || copy_in(fd, -1, NULL, doc, 0) != 0 || fstat(fd, &sb) != 0 ? -1 : 0;
        if (fd >= 0)
            close(fd);
        if (rc != 0) {
            unlink(path);
            break;
        }
        docs.ino[i] = sb.st_ino;
        docs.dev = sb.st_dev;
        docs.free[docs.nfree++] = i;
        docs.n++;
    }
    if (rc != 0)
        log_warn("ram store: %s after %zu of %zu places (%s); the rest of the documents go to the disk", path,
                 docs.n, want, strerror(errno));
    log_info("ram store: %zu places of %lld bytes in %s", docs.n, (long long)doc, docs.dir);
    return 0;
}

/* A free RAM place for size bytes: written, cut, renamed to dst. 0 or -1. */
static int store_ram(int in, const unsigned char *mem, int64_t size, const char *dst)
{
    if (docs.nfree == 0 || size > docs.doc || size <= docs.doc / 2)
        return -1;
    size_t i = docs.free[docs.nfree - 1];
    char path[4200];
    place_path(i, path, sizeof(path));
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = copy_in(fd, in, mem, size, 0) == 0 && ftruncate(fd, (off_t)size) == 0 ? 0 : -1;
    if (close(fd) != 0)
        rc = -1;
    if (rc == 0 && rename(path, dst) != 0)
        rc = -1;
    if (rc != 0)
        return -1; /* the place stays free; a partial copy in it is overwritten next time */
    docs.nfree--;
    return 0;
}

/* dst written with O_DIRECT (direct), or through the page cache. 0 or -1. */
static int store_file(int in, const unsigned char *mem, int64_t size, const char *dst, int direct)
{
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (direct ? O_DIRECT : 0), 0640);
    if (out < 0)
        return -1;
    int rc = copy_in(out, in, mem, size, direct);
    int saved = errno;
    if (close(out) != 0 && rc == 0)
        rc = -1;
    errno = saved;
    return rc;
}

int docs_store(int in, const char *mem, int64_t size, const char *dst)
{
    const unsigned char *m = (const unsigned char *)mem;
    if (store_ram(in, m, size, dst) == 0 || store_file(in, m, size, dst, 1) == 0)
        return 0;
    return store_file(in, m, size, dst, 0); /* O_DIRECT refused (or failed): through the page cache */
}

void docs_remove(const char *path)
{
    struct stat sb;
    if (docs.n > 0 && stat(path, &sb) == 0 && sb.st_dev == docs.dev && sb.st_nlink == 1) {
        for (size_t i = 0; i < docs.n; i++) {
            if (docs.ino[i] != sb.st_ino)
                continue;
            char place[4200];
            place_path(i, place, sizeof(place));
            if (rename(path, place) == 0) {
                docs.free[docs.nfree++] = i;
                return;
            }
            break;
        }
    }
    unlink(path);
}

int docs_damage(const char *path)
{
    unsigned char b[DAMAGE];
    struct stat sb;
    int rc = -1, fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) != 0 || sb.st_size <= 0)
        goto out;
    size_t n = sb.st_size < DAMAGE ? (size_t)sb.st_size : DAMAGE;
    off_t off = (off_t)((size_t)sb.st_size - n) / 2;
    if (pread_full(fd, b, n, off) != (ssize_t)n)
        goto out;
    for (size_t i = 0; i < n; i++)
        b[i] ^= 0xFF;
    rc = pwrite_all(fd, b, n, off);
out:
    if (fd >= 0)
        close(fd);
    return rc;
}

void docs_close(void)
{
    free(docs.ino);
    free(docs.free);
    free(docs.buf);
    memset(&docs, 0, sizeof(docs));
}
