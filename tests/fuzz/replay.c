/* replay.c — runs a fuzz target over its committed corpus without libFuzzer.
 *
 * Linked with one tests/fuzz/fuzz_<name>.c into build/tests/test_fuzz_<name>
 * by gcc with the unit tests' sanitizers, so `make test` replays every corpus
 * file (tests/run_all.sh runs every build/tests/test_* program). With no
 * arguments it reads tests/fuzz/corpus/<name>/, <name> taken from its own
 * program name, relative to the current directory (the repository root when
 * run_all.sh runs it); arguments name other files or directories instead.
 *
 * Each file is fed once to LLVMFuzzerTestOneInput from a heap copy of exactly
 * its size (so ASan sees one byte read past the input). A file that returns
 * counts as passed; a crash ends the program (the sanitizer's report says
 * which file: it is printed before it runs). The last line is the summary
 * "N passed, N failed" (an unreadable file, or no file at all, is a failure).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/fuzz/fuzz.h"

/* Optional in a target, as in libFuzzer. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int passed, failed;

/* Reads a whole file into a malloc'd block of exactly its size (NULL for an empty file, *len 0). */
static int read_all(const char *path, uint8_t **out, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;
    int rc = -1;

    *out = NULL;
    *len = 0;
    if (fp == NULL)
        return -1;
    for (;;) {
        if (n == cap) {
            cap = cap ? 2 * cap : 4096;
            buf = xrealloc(buf, cap);
        }
        size_t r = fread(buf + n, 1, cap - n, fp);
        n += r;
        if (r == 0)
            break;
    }
    if (ferror(fp))
        goto out;
    if (n > 0) {
        *out = xmalloc(n);
        memcpy(*out, buf, n);
    }
    *len = n;
    rc = 0;
out:
    free(buf);
    fclose(fp);
    return rc;
}

static void run_file(const char *path)
{
    uint8_t *data;
    size_t len;
    if (read_all(path, &data, &len) != 0) {
        printf("FAIL %s: %s\n", path, strerror(errno));
        failed++;
        return;
    }
    printf("%s (%zu bytes)\n", path, len);
    fflush(stdout);
    (void)LLVMFuzzerTestOneInput(data, len);
    free(data);
    passed++;
}

static int skip_name(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

static void run_path(const char *path)
{
    struct stat st;
    struct dirent **names = NULL;
    if (stat(path, &st) != 0) {
        printf("FAIL %s: %s\n", path, strerror(errno));
        failed++;
        return;
    }
    if (!S_ISDIR(st.st_mode)) {
        run_file(path);
        return;
    }
    int n = scandir(path, &names, skip_name, alphasort);
    if (n < 0) {
        printf("FAIL %s: %s\n", path, strerror(errno));
        failed++;
        return;
    }
    if (n == 0) {
        printf("FAIL %s: empty corpus\n", path);
        failed++;
    }
    for (int i = 0; i < n; i++) {
        size_t l = strlen(path) + strlen(names[i]->d_name) + 2;
        char *f = xmalloc(l);
        snprintf(f, l, "%s/%s", path, names[i]->d_name);
        run_file(f);
        free(f);
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv)
{
    if (LLVMFuzzerInitialize)
        (void)LLVMFuzzerInitialize(&argc, &argv);
    if (argc > 1) {
        for (int i = 1; i < argc; i++)
            run_path(argv[i]);
    } else {
        const char *base = strrchr(argv[0], '/');
        base = base ? base + 1 : argv[0];
        const char *prefix = "test_fuzz_";
        if (strncmp(base, prefix, strlen(prefix)) != 0) {
            printf("FAIL: cannot tell the target from the program name '%s'\n", base);
            failed++;
        } else {
            char dir[512];
            snprintf(dir, sizeof(dir), "tests/fuzz/corpus/%s", base + strlen(prefix));
            run_path(dir);
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed ? 1 : 0;
}
