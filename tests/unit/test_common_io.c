/* test_common_io.c — whole-buffer file I/O and the file lock of common/. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/common.h"
#include "tests/unit/check.h"

static char dir[] = "/tmp/tgs3-io-XXXXXX";

static void test_pwrite_pread(void)
{
    char path[64];
    snprintf(path, sizeof(path), "%s/f", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    CHECK(fd >= 0);
    size_t n = (size_t)3 << 20;
    unsigned char *a = xmalloc(n), *b = xmalloc(n + 100);
    for (size_t i = 0; i < n; i++)
        a[i] = (unsigned char)(i * 7 + 3);
    CHECK(pwrite_all(fd, a, n, 100) == 0);
    /* At an offset, and past the end: what is there, no more. */
    CHECK(pread_full(fd, b, n, 100) == (ssize_t)n && memcmp(a, b, n) == 0);
    CHECK(pread_full(fd, b, n + 100, 100) == (ssize_t)n);
    CHECK(pread_full(fd, b, 10, (off_t)(n + 100)) == 0);
    CHECK(pread_full(fd, b, 100, 0) == 100 && b[0] == 0 && b[99] == 0); /* the hole before the data */
    close(fd);
    /* A closed descriptor: -1 with errno. */
    errno = 0;
    CHECK(pwrite_all(fd, a, 1, 0) == -1 && errno == EBADF);
    errno = 0;
    CHECK(pread_full(fd, b, 1, 0) == -1 && errno == EBADF);
    free(a);
    free(b);
    unlink(path);
}

static void test_lock(void)
{
    char path[64];
    snprintf(path, sizeof(path), "%s/lock", dir);
    int fd = lock_file(path);
    CHECK(fd >= 0);
    /* Another process is refused at once while this one holds it... */
    pid_t pid = fork();
    if (pid == 0)
        _exit(lock_file(path) < 0 && errno == EWOULDBLOCK ? 0 : 1);
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* ...and gets it once it is released. */
    close(fd);
    pid = fork();
    if (pid == 0)
        _exit(lock_file(path) >= 0 ? 0 : 1);
    CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    unlink(path);
}

int main(void)
{
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    test_pwrite_pread();
    test_lock();
    rmdir(dir);
    return check_summary();
}
