/* cmd_stats.c — `tgs3 stats`: what the index holds, read-only, safe beside a running gateway.
 *
 * Opens <data-dir>/index.db read-only (WAL lets it read the last committed
 * state while `tgs3 serve` writes) and prints buckets, objects and bytes,
 * blocks and messages per storage chat, unfinished multipart uploads,
 * the delete-queue backlog, stripe health and the repair queue, and what
 * the block cache directory holds.
 * --data-dir comes from the flag, TGS3_DATA_DIR, or the default ./data;
 * --cache-dir from the flag, TGS3_CACHE_DIR, or DATA_DIR/cache.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gateway/gw.h"

static void stats_usage(FILE *fp)
{
    fprintf(fp, "usage: tgs3 stats [--data-dir DIR] [--cache-dir DIR]\n\n"
                "Prints what the index in DIR (default $TGS3_DATA_DIR or ./data) and the block cache\n"
                "(default DIR/cache) hold. Read-only: safe while tgs3 serve runs.\n");
}

static void human(int64_t n, char *out, size_t outsz)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)n;
    size_t u = 0;
    while (v >= 1024.0 && u + 1 < ARRAY_SIZE(units)) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(out, outsz, "%lld B", (long long)n);
    else
        snprintf(out, outsz, "%.1f %s", v, units[u]);
}

/* Files and bytes directly inside dir; -1 files when it cannot be read. */
static void dir_usage(const char *dir, int64_t *files, int64_t *bytes)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4096];
    struct stat sb;

    *files = 0;
    *bytes = 0;
    if (d == NULL) {
        *files = -1;
        return;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        int pl = snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (pl > 0 && (size_t)pl < sizeof(path) && stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
            (*files)++;
            *bytes += (int64_t)sb.st_size;
        }
    }
    closedir(d);
}

int gw_cmd_stats(int argc, char **argv)
{
    const char *dir = getenv("TGS3_DATA_DIR");
    const char *cache_dir = getenv("TGS3_CACHE_DIR");
    char cache_path[4096];
    int64_t cache_files, cache_bytes;
    struct store *st = NULL;
    struct store_stats s;
    struct store_chat_stats *chats = NULL;
    struct store_bucket_stats *buckets = NULL;
    size_t n_chats = 0, n_buckets = 0;
    char path[4096], h1[32], h2[32];
    enum store_status ss;
    int rc = 1;

    if (dir == NULL || *dir == '\0')
        dir = "./data";
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            stats_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--data-dir") && i + 1 < argc) {
            dir = argv[++i];
        } else if (!strncmp(argv[i], "--data-dir=", 11)) {
            dir = argv[i] + 11;
        } else if (!strcmp(argv[i], "--cache-dir") && i + 1 < argc) {
            cache_dir = argv[++i];
        } else if (!strncmp(argv[i], "--cache-dir=", 12)) {
            cache_dir = argv[i] + 12;
        } else {
            fprintf(stderr, "tgs3 stats: unexpected argument '%s'\n\n", argv[i]);
            stats_usage(stderr);
            return 2;
        }
    }
    snprintf(path, sizeof(path), "%s/index.db", dir);
    ss = store_open_readonly(path, &st);
    if (ss != STORE_OK) {
        fprintf(stderr, "tgs3 stats: cannot open the index %s: %s\n", path, store_status_name(ss));
        goto out;
    }
    ss = store_stats_get(st, &s);
    if (ss == STORE_OK)
        ss = store_stats_buckets(st, &buckets, &n_buckets);
    if (ss == STORE_OK)
        ss = store_stats_chats(st, &chats, &n_chats);
    if (ss != STORE_OK) {
        fprintf(stderr, "tgs3 stats: cannot read %s: %s (%s)\n", path, store_status_name(ss), store_errmsg(st));
        goto out;
    }
    human(s.bytes, h1, sizeof(h1));
    human(s.block_bytes, h2, sizeof(h2));
    printf("index        %s\n", path);
    printf("buckets      %lld\n", (long long)s.buckets);
    printf("objects      %lld\n", (long long)s.objects);
    printf("bytes        %lld (%s)\n", (long long)s.bytes, h1);
    printf("blocks       %lld (%lld bytes stored, %s)\n", (long long)s.blocks, (long long)s.block_bytes, h2);
    printf("uploads      %lld unfinished multipart uploads\n", (long long)s.uploads);
    printf("gc backlog   %lld messages waiting for deletion\n", (long long)s.gc_pending);
    struct store_stats_extra x;
    if (store_stats_extra(st, &x) == STORE_OK) {
        printf("unreclaimable %lld messages Telegram would no longer delete\n", (long long)x.unreclaimable);
        printf("in flight    %lld blocks being posted (or left by a crash: swept at the next start)\n",
               (long long)x.inflight);
        printf("packs        %lld blocks shared by several objects (packed small objects, dedup), "
               "%lld not posted yet\n",
               (long long)x.shared_blocks, (long long)x.unposted);
    }
    struct store_stripe_counts sc;
    int64_t rep_shards = 0, rep_blocks = 0;
    if (store_stripe_counts(st, &sc) == STORE_OK && store_repair_backlog(st, &rep_shards, &rep_blocks) == STORE_OK)
        printf("stripes      %lld healthy, %lld degraded (readable, not whole), %lld lost (fewer than K shards); "
               "%lld blocks unprotected (one document); repair queue %lld shards of %lld blocks\n",
               (long long)sc.healthy, (long long)sc.degraded, (long long)sc.lost, (long long)sc.unprotected,
               (long long)rep_shards, (long long)rep_blocks);
    if (cache_dir != NULL && *cache_dir != '\0')
        snprintf(cache_path, sizeof(cache_path), "%s", cache_dir);
    else
        snprintf(cache_path, sizeof(cache_path), "%s/cache", dir);
    dir_usage(cache_path, &cache_files, &cache_bytes);
    human(cache_bytes, h1, sizeof(h1));
    if (cache_files < 0)
        printf("cache        none at %s\n", cache_path);
    else
        printf("cache        %lld blocks, %lld bytes (%s) in %s\n", (long long)cache_files, (long long)cache_bytes, h1,
               cache_path);
    for (size_t i = 0; i < n_buckets; i++) {
        human(buckets[i].bytes, h1, sizeof(h1));
        printf("bucket %-40s %lld objects, %lld bytes (%s)\n", buckets[i].name, (long long)buckets[i].objects,
               (long long)buckets[i].bytes, h1);
    }
    for (size_t i = 0; i < n_chats; i++) {
        human(chats[i].bytes, h1, sizeof(h1));
        if (chats[i].chat_id == 0) {
            printf("not posted yet: %lld blocks, %lld bytes (%s) (packs filling in the spool)\n",
                   (long long)chats[i].blocks, (long long)chats[i].bytes, h1);
            continue;
        }
        printf("chat %lld: %lld blocks (messages), %lld bytes (%s), %lld bot(s), %lld messages to delete, "
               "highest message id %lld\n",
               (long long)chats[i].chat_id, (long long)chats[i].blocks, (long long)chats[i].bytes, h1,
               (long long)chats[i].bots, (long long)chats[i].gc_pending, (long long)chats[i].top_message_id);
    }
    rc = 0;
out:
    free(chats);
    free(buckets);
    store_close(st);
    fflush(stdout);
    return rc;
}
