/* fuzz_config.c — the gateway's --config file parser (gateway/config.c).
 *
 * Input: the text of a config file ("name = value" lines, '#' comments). It
 * is written to a file in /dev/shm (or /tmp; the parser reads a path) and parsed with
 * `tgs3 serve --config FILE` over the defaults; a file that parses is then
 * put through the cross-option checks. The TGS3_* environment is cleared at
 * start so that only the file and the defaults count. Error messages go to
 * stderr, as tgs3 prints them.
 */
#include <stdio.h>
#include <unistd.h>

#include "gateway/gw.h"
#include "tests/fuzz/fuzz.h"

extern char **environ;

static char path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    for (;;) {
        char **e = environ;
        while (*e && strncmp(*e, "TGS3_", 5) != 0)
            e++;
        if (*e == NULL)
            break;
        char *name = xstrndup(*e, strcspn(*e, "="));
        unsetenv(name);
        free(name);
    }
    snprintf(path, sizeof(path), "%s/tgs3-fuzz-config.%ld", access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp",
             (long)getpid());
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gw_config cfg;
    FILE *fp = fopen(path, "wb");
    if (fp == NULL)
        return 0;
    if (fwrite(data, 1, size, fp) != size) {
        fclose(fp);
        return 0;
    }
    fclose(fp);

    char a0[] = "--config", *argv[] = {a0, path, NULL};
    gw_config_init(&cfg);
    int rc = gw_config_parse(&cfg, 2, argv);
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc == 0) {
        FUZZ_CHECK(cfg.listen != NULL && cfg.data_dir != NULL && cfg.region != NULL);
        (void)gw_config_check(&cfg);
    }
    gw_config_release(&cfg);
    unlink(path);
    return 0;
}
