/* test_gw_config.c — tgs3 serve options: defaults, the --config file, TGS3_* environment, flags,
 * their precedence, repeatable options per layer, and the errors that stop start-up. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gateway/gw.h"
#include "tests/unit/check.h"

static char dir[] = "/tmp/tgs3-config-test.XXXXXX";

/* Writes text to <dir>/name and returns the path (static buffer per call site: copy it). */
static const char *write_file(const char *name, const char *text)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    if (fp == NULL)
        abort();
    fputs(text, fp);
    fclose(fp);
    return path;
}

/* Parses argv (NULL-terminated) into a fresh config; returns gw_config_parse's result. */
static int parse(struct gw_config *cfg, const char **argv)
{
    int argc = 0;
    while (argv[argc] != NULL)
        argc++;
    gw_config_init(cfg);
    return gw_config_parse(cfg, argc, (char **)argv);
}

static void clear_env(void)
{
    static const char *vars[] = {"TGS3_CONFIG", "TGS3_REGION", "TGS3_BLOCK_SIZE", "TGS3_CHAT_ID", "TGS3_LISTEN",
                                 "TGS3_ADMIN_LISTEN", "TGS3_SHUTDOWN_GRACE", "TGS3_BOT_TOKEN", "TGS3_LOG_LEVEL"};
    for (size_t i = 0; i < ARRAY_SIZE(vars); i++)
        unsetenv(vars[i]);
}

static void test_defaults(void)
{
    struct gw_config cfg;
    const char *argv[] = {NULL};
    CHECK(parse(&cfg, argv) == 0);
    CHECK_STR(cfg.listen, "127.0.0.1:9000");
    CHECK_STR(cfg.admin_listen, "127.0.0.1:9001");
    CHECK(cfg.shutdown_grace_ms == 30000);
    CHECK(cfg.health_interval_ms == 5000);
    CHECK(cfg.block_size == 32 << 20); /* local mode */
    CHECK(cfg.max_upload_blocks == 4 && cfg.max_fetch_blocks == 4);
    CHECK(cfg.n_chat_ids == 0);
    gw_config_release(&cfg);
}

/* auto: the block size by the mode, the budgets 128 MiB of blocks (2 to 8); given ones stay. */
static void test_auto(void)
{
    struct gw_config cfg;
    CHECK(parse(&cfg, (const char *[]){"--mode", "cloud", NULL}) == 0);
    CHECK(cfg.block_size == 16 << 20 && cfg.max_upload_blocks == 8 && cfg.max_fetch_blocks == 8);
    gw_config_release(&cfg);
    CHECK(parse(&cfg, (const char *[]){"--block-size", "64M", NULL}) == 0);
    CHECK(cfg.max_upload_blocks == 2 && cfg.max_fetch_blocks == 2);
    gw_config_release(&cfg);
    CHECK(parse(&cfg, (const char *[]){"--block-size", "256M", "--max-fetch-blocks", "3", NULL}) == 0);
    CHECK(cfg.max_upload_blocks == 2 && cfg.max_fetch_blocks == 3);
    gw_config_release(&cfg);
    CHECK(parse(&cfg, (const char *[]){"--block-size", "256K", "--max-upload-blocks", "auto", NULL}) == 0);
    CHECK(cfg.max_upload_blocks == 8 && cfg.max_fetch_blocks == 8);
    gw_config_release(&cfg);
    CHECK(parse(&cfg, (const char *[]){"--block-size", "16M", "--mode", "local", NULL}) == 0);
    CHECK(cfg.block_size == 16 << 20 && cfg.max_upload_blocks == 8);
    gw_config_release(&cfg);
    CHECK(parse(&cfg, (const char *[]){"--max-upload-blocks", "autox", NULL}) != 0);
    gw_config_release(&cfg);
}

static void test_file(void)
{
    struct gw_config cfg;
    char path[512];
    snprintf(path, sizeof(path), "%s",
             write_file("a.conf", "# comment line\r\n"
                                  "\n"
                                  "   region = eu-west-1   \n"
                                  "--block-size=8M\n"
                                  "chat-id = -1001\n"
                                  "chat-id = -1002\r\n"
                                  "log-file = \"/var/log/tgs3 log\"\n"
                                  "shutdown-grace = 7\n"
                                  "admin-listen = off\n"));
    const char *argv[] = {"--config", path, NULL};
    CHECK(parse(&cfg, argv) == 0);
    CHECK_STR(cfg.region, "eu-west-1");
    CHECK(cfg.block_size == 8 << 20);
    CHECK(cfg.n_chat_ids == 2 && cfg.chat_ids[0] == -1001 && cfg.chat_ids[1] == -1002);
    CHECK_STR(cfg.log_file, "/var/log/tgs3 log");
    CHECK(cfg.shutdown_grace_ms == 7000);
    CHECK_STR(cfg.admin_listen, "off");
    gw_config_release(&cfg);

    /* TGS3_CONFIG names the file too. */
    setenv("TGS3_CONFIG", path, 1);
    const char *none[] = {NULL};
    CHECK(parse(&cfg, none) == 0);
    CHECK_STR(cfg.region, "eu-west-1");
    gw_config_release(&cfg);
    unsetenv("TGS3_CONFIG");

    /* --config=FILE form */
    char eq[600];
    snprintf(eq, sizeof(eq), "--config=%s", path);
    const char *argv2[] = {eq, NULL};
    CHECK(parse(&cfg, argv2) == 0);
    CHECK(cfg.n_chat_ids == 2);
    gw_config_release(&cfg);
}

static void test_precedence(void)
{
    struct gw_config cfg;
    char path[512];
    snprintf(path, sizeof(path), "%s",
             write_file("p.conf", "region = file\nblock-size = 8M\nlisten = 127.0.0.1:1\nchat-id = -1\nchat-id = -2\n"));

    /* file < environment < flag, option by option */
    setenv("TGS3_REGION", "env", 1);
    setenv("TGS3_BLOCK_SIZE", "4M", 1);
    const char *argv[] = {"--config", path, "--block-size", "2M", NULL};
    CHECK(parse(&cfg, argv) == 0);
    CHECK_STR(cfg.region, "env");
    CHECK(cfg.block_size == 2 << 20);
    CHECK_STR(cfg.listen, "127.0.0.1:1");
    gw_config_release(&cfg);
    unsetenv("TGS3_REGION");
    unsetenv("TGS3_BLOCK_SIZE");

    /* A layer that gives a repeatable option replaces the lower layers' list. */
    CHECK(parse(&cfg, (const char *[]){"--config", path, NULL}) == 0);
    CHECK(cfg.n_chat_ids == 2);
    gw_config_release(&cfg);
    setenv("TGS3_CHAT_ID", "-5,-6,-7", 1);
    CHECK(parse(&cfg, (const char *[]){"--config", path, NULL}) == 0);
    CHECK(cfg.n_chat_ids == 3 && cfg.chat_ids[0] == -5 && cfg.chat_ids[2] == -7);
    gw_config_release(&cfg);
    CHECK(parse(&cfg, (const char *[]){"--config", path, "--chat-id", "-8", "--chat-id=-9", NULL}) == 0);
    CHECK(cfg.n_chat_ids == 2 && cfg.chat_ids[0] == -8 && cfg.chat_ids[1] == -9);
    gw_config_release(&cfg);
    unsetenv("TGS3_CHAT_ID");

    /* Later flags win over earlier ones. */
    CHECK(parse(&cfg, (const char *[]){"--region", "a", "--region", "b", NULL}) == 0);
    CHECK_STR(cfg.region, "b");
    gw_config_release(&cfg);
}

static void test_errors(void)
{
    struct gw_config cfg;
    char path[512];
    static const char *bad[] = {
        "bogus-option = 1\n",           /* unknown name */
        "block-size = 12Q\n",           /* bad value */
        "region\n",                     /* no '=' */
        "region = a\nregion = b\n",     /* not repeatable, given twice */
        "config = /etc/other.conf\n",   /* no nesting */
        "max-upload-blocks = 0\n",      /* out of range */
        "mode = hybrid\n",              /* not a mode */
        "bot-token = not-a-token\n",    /* malformed secret */
    };
    for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
        snprintf(path, sizeof(path), "%s", write_file("bad.conf", bad[i]));
        int rc = parse(&cfg, (const char *[]){"--config", path, NULL});
        if (rc != -1)
            printf("FAIL: config line %s accepted\n", bad[i]);
        CHECK(rc == -1);
        gw_config_release(&cfg);
    }
    snprintf(path, sizeof(path), "%s/absent.conf", dir);
    CHECK(parse(&cfg, (const char *[]){"--config", path, NULL}) == -1);
    gw_config_release(&cfg);
    CHECK(parse(&cfg, (const char *[]){"--config", NULL}) == -1);
    gw_config_release(&cfg);
    CHECK(parse(&cfg, (const char *[]){"--no-such", "1", NULL}) == -1);
    gw_config_release(&cfg);
    CHECK(parse(&cfg, (const char *[]){"--shutdown-grace", "soon", NULL}) == -1);
    gw_config_release(&cfg);
    setenv("TGS3_SHUTDOWN_GRACE", "-1", 1);
    CHECK(parse(&cfg, (const char *[]){NULL}) == -1);
    gw_config_release(&cfg);
    unsetenv("TGS3_SHUTDOWN_GRACE");
}

static void test_check(void)
{
    struct gw_config cfg;
    const char *base[] = {"--access-key", "a", "--secret-key", "b", "--bot-token", "1:abc", "--chat-id", "-1",
                          NULL};
    CHECK(parse(&cfg, base) == 0);
    CHECK(gw_config_check(&cfg) == 0);
    gw_config_release(&cfg);
    const char *same[] = {"--access-key", "a", "--secret-key", "b", "--bot-token", "1:abc", "--chat-id", "-1",
                          "--listen", "127.0.0.1:7000", "--admin-listen", "127.0.0.1:7000", NULL};
    CHECK(parse(&cfg, same) == 0);
    CHECK(gw_config_check(&cfg) == -1);
    gw_config_release(&cfg);
    const char *noport[] = {"--access-key", "a", "--secret-key", "b", "--bot-token", "1:abc", "--chat-id", "-1",
                            "--admin-listen", "localhost", NULL};
    CHECK(parse(&cfg, noport) == 0);
    CHECK(gw_config_check(&cfg) == -1);
    gw_config_release(&cfg);
}

static void test_print(void)
{
    struct gw_config cfg;
    /* --print-config prints and asks the caller to exit 0 (stdout goes to the log). */
    CHECK(parse(&cfg, (const char *[]){"--region", "x", "--print-config", NULL}) == 1);
    gw_config_release(&cfg);
}

/* --sigv2 on|off: on by default, off from a flag, the environment or a file; nothing else. */
static void test_sigv2(void)
{
    struct gw_config cfg;
    CHECK(parse(&cfg, (const char *[]){NULL}) == 0);
    CHECK(cfg.sigv2 == 1);
    gw_config_release(&cfg);
    CHECK(parse(&cfg, (const char *[]){"--sigv2", "off", NULL}) == 0);
    CHECK(cfg.sigv2 == 0);
    gw_config_release(&cfg);
    CHECK(parse(&cfg, (const char *[]){"--sigv2=off", "--sigv2", "on", NULL}) == 0);
    CHECK(cfg.sigv2 == 1);
    gw_config_release(&cfg);
    setenv("TGS3_SIGV2", "off", 1);
    CHECK(parse(&cfg, (const char *[]){NULL}) == 0);
    CHECK(cfg.sigv2 == 0);
    gw_config_release(&cfg);
    unsetenv("TGS3_SIGV2");
    char path[512];
    snprintf(path, sizeof(path), "%s", write_file("s.conf", "sigv2 = off\n"));
    CHECK(parse(&cfg, (const char *[]){"--config", path, NULL}) == 0);
    CHECK(cfg.sigv2 == 0);
    gw_config_release(&cfg);
    CHECK(parse(&cfg, (const char *[]){"--sigv2", "maybe", NULL}) != 0);
    gw_config_release(&cfg);
    CHECK(parse(&cfg, (const char *[]){"--sigv2", NULL}) != 0); /* takes a value */
    gw_config_release(&cfg);
}

int main(void)
{
    if (mkdtemp(dir) == NULL)
        return 1;
    clear_env();
    test_defaults();
    test_auto();
    test_file();
    test_precedence();
    test_errors();
    test_check();
    test_print();
    test_sigv2();
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("note: could not remove %s\n", dir);
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed ? 1 : 0;
}
