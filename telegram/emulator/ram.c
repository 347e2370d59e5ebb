/* ram.c — the emulator's RAM store: documents kept in memory that was touched once, at start.
 *
 * Telegram keeps documents on its own servers. The emulator keeps them on
 * this machine, and where it keeps them shows in what a client measures:
 * on the disk, a read of a document runs at the disk's rate; in fresh page
 * cache, storing it costs what the kernel charges for memory it hands out
 * for the first time (on the VM measured, 2.3 to 3.5 CPU-seconds per GiB,
 * more than everything else a PUT does). With --store-ram BYTES the
 * emulator takes that memory once, before it listens: DIR/ram holds files
 * of --store-ram-doc bytes each ("slots"), written through once. A document
 * of more than half a slot and at most a slot is written into a free slot
 * (pages already there: a plain copy), cut to its size and renamed to its
 * place in DIR/cloud; when the document is removed and no download link
 * still shares its file, the file goes back to the pool under its slot
 * name. Other documents, and every document once the slots are taken, are
 * stored on the disk as without the option. Meant for a DIR on tmpfs
 * (/dev/shm), where nothing is ever written back to a disk.
 *
 * Limits: --store-ram / --store-ram-doc slots (at most RAM_MAX_SLOTS).
 * Threads: the loop thread only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "telegram/emulator/emu.h"

#define RAM_MAX_SLOTS 65536
#define RAM_CHUNK ((size_t)4 << 20) /* bytes per write while touching slots and copying in */

static struct {
    char dir[4096];      /* DIR/ram */
    size_t n;            /* slots made */
    int64_t doc;         /* bytes: a slot's size */
    ino_t *ino;          /* every slot's inode (it keeps it through renames) */
    dev_t dev;
    size_t *free;        /* indexes of free slots, a stack */
    size_t nfree;
} ram;

static void slot_path(size_t i, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s/slot-%zu", ram.dir, i);
}

static int write_all_at(int fd, const char *p, size_t n, off_t at)
{
    while (n > 0) {
        ssize_t k = pwrite(fd, p, n, at);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
        at += k;
    }
    return 0;
}

int ram_open(const char *dir, int64_t bytes, int64_t doc)
{
    if (bytes <= 0 || doc <= 0)
        return 0;
    snprintf(ram.dir, sizeof(ram.dir), "%s/ram", dir);
    if (mkdir(ram.dir, 0750) != 0 && errno != EEXIST) {
        log_error("mkdir %s: %s", ram.dir, strerror(errno));
        return -1;
    }
    size_t want = (size_t)(bytes / doc);
    if (want > RAM_MAX_SLOTS)
        want = RAM_MAX_SLOTS;
    ram.doc = doc;
    ram.ino = xcalloc(want ? want : 1, sizeof(*ram.ino));
    ram.free = xcalloc(want ? want : 1, sizeof(*ram.free));
    char *zero = xcalloc(1, RAM_CHUNK);
    char path[4200];
    int rc = 0;
    for (size_t i = 0; i < want && rc == 0; i++) {
        slot_path(i, path, sizeof(path));
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
        if (fd < 0) {
            rc = -1;
            break;
        }
        for (int64_t off = 0; off < doc && rc == 0; off += (int64_t)RAM_CHUNK) {
            size_t k = doc - off < (int64_t)RAM_CHUNK ? (size_t)(doc - off) : RAM_CHUNK;
            rc = write_all_at(fd, zero, k, (off_t)off);
        }
        struct stat sb;
        if (rc == 0 && fstat(fd, &sb) != 0)
            rc = -1;
        close(fd);
        if (rc != 0) {
            unlink(path);
            break;
        }
        ram.ino[i] = sb.st_ino;
        ram.dev = sb.st_dev;
        ram.free[ram.nfree++] = i;
        ram.n++;
    }
    free(zero);
    if (rc != 0)
        log_warn("ram store: %s after %zu of %zu slots (%s); the rest of the documents go to the disk", path,
                 ram.n, want, strerror(errno));
    log_info("ram store: %zu slots of %lld bytes in %s", ram.n, (long long)doc, ram.dir);
    return 0;
}

int ram_store(int in, const char *mem, int64_t size, const char *dst)
{
    if (ram.nfree == 0 || size > ram.doc || size <= ram.doc / 2)
        return -1;
    size_t i = ram.free[ram.nfree - 1];
    char path[4200];
    slot_path(i, path, sizeof(path));
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = 0;
    char *buf = in >= 0 ? xmalloc(RAM_CHUNK) : NULL;
    for (int64_t off = 0; off < size && rc == 0;) {
        size_t k = size - off < (int64_t)RAM_CHUNK ? (size_t)(size - off) : RAM_CHUNK;
        const char *p = mem ? mem + off : buf;
        if (in >= 0) {
            ssize_t n = pread(in, buf, k, (off_t)off);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                rc = -1;
                break;
            }
            k = (size_t)n;
        }
        rc = write_all_at(fd, p, k, (off_t)off);
        off += (int64_t)k;
    }
    free(buf);
    if (rc == 0 && ftruncate(fd, (off_t)size) != 0)
        rc = -1;
    if (close(fd) != 0)
        rc = -1;
    if (rc == 0 && rename(path, dst) != 0)
        rc = -1;
    if (rc != 0)
        return -1; /* the slot stays free; a partial copy in it is overwritten next time */
    ram.nfree--;
    return 0;
}

void ram_remove(const char *path)
{
    struct stat sb;
    if (ram.n > 0 && stat(path, &sb) == 0 && sb.st_dev == ram.dev && sb.st_nlink == 1) {
        for (size_t i = 0; i < ram.n; i++) {
            if (ram.ino[i] != sb.st_ino)
                continue;
            char slot[4200];
            slot_path(i, slot, sizeof(slot));
            if (rename(path, slot) == 0) {
                ram.free[ram.nfree++] = i;
                return;
            }
            break;
        }
    }
    unlink(path);
}

void ram_close(void)
{
    free(ram.ino);
    free(ram.free);
    memset(&ram, 0, sizeof(ram));
}
