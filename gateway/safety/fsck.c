/* fsck.c — `tgs3 fsck [--repair]`: the index checked against itself and against Telegram.
 *
 * Against itself (store_fsck_index): reference counts equal the extents
 * (and journal holds) naming each block, no extent names a missing block,
 * extents lie within their blocks, object sizes equal the sum of their
 * extents. Against Telegram: every block's document is fetched (through its
 * uploader bot, else another; a stripe rebuilt from any K good shards,
 * each shard authenticated), its size compared with the index, and it is
 * authenticated with the key file
 * (blk_open, or the keyed hash for unsealed blocks), a few at a time.
 * Against its chain (fsck_chain.c, first, while fsck has written nothing):
 * with the journal on, the index is compared with what its snapshot and
 * journal in Telegram would rebuild, table by table.
 * --repair sets reference counts to the truth and queues blocks nobody
 * references for deletion; missing or corrupt documents cannot be repaired
 * from here and are only reported. Exit status: 0 clean (or all repaired),
 * 1 problems remain, 2 bad usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "gateway/blocks/blk.h"
#include "gateway/engine/stripe.h"
#include "gateway/gw.h"
#include "gateway/safety/chain.h"

#define FSCK_PAGE 256
#define FSCK_PARALLEL 4

struct fsck {
    struct gw *gw;
    int repair;
    int64_t problems, repaired, checked;
    struct store_block *page;
    int64_t *ends; /* per page entry: for an unposted pack, the bytes its extents need */
    size_t n, next, running;
    int64_t after;
    int page_done; /* the last page was read */
    enum store_status st;
};

static void on_line(void *ud, const char *line)
{
    (void)ud;
    printf("index: %s\n", line);
}

struct fsck_fetch {
    struct fsck *f;
    struct store_block b;
};

static void start_more(struct fsck *f);

static void on_block(void *ud, const struct tg_result *res, unsigned char *data, size_t len)
{
    struct fsck_fetch *x = ud;
    struct fsck *f = x->f;
    struct store_block *b = &x->b;
    f->running--;
    f->checked++;
    if (res->status != TG_OK) {
        printf("telegram: block %lld (message %lld/%lld): %s (%s)\n", (long long)b->id, (long long)b->chat_id,
               (long long)b->message_id, tg_status_name(res->status), res->description);
        f->problems++;
    } else if ((int64_t)len != b->stored_size) {
        printf("telegram: block %lld (message %lld/%lld): %zu bytes, index says %lld\n", (long long)b->id,
               (long long)b->chat_id, (long long)b->message_id, len, (long long)b->stored_size);
        f->problems++;
    } else if (f->gw->keys != NULL) {
        size_t off, plen;
        enum blk_status s = gw_block_open(f->gw->keys, b, data, len, &off, &plen);
        if (s != BLK_OK) {
            printf("telegram: block %lld (message %lld/%lld): %s\n", (long long)b->id, (long long)b->chat_id,
                   (long long)b->message_id, blk_status_name(s));
            f->problems++;
        }
    }
    if (data) {
        secure_zero(data, len);
        bigbuf_free(data);
    }
    free(x);
    start_more(f);
}

static void page_run(struct store *st, void *arg)
{
    struct fsck *f = arg;
    free(f->page);
    f->page = NULL;
    free(f->ends);
    f->ends = NULL;
    f->st = store_block_page(st, f->after, FSCK_PAGE, &f->page, &f->n);
    f->next = 0;
    if (f->st == STORE_OK && f->n > 0) {
        f->ends = xcalloc(f->n, sizeof(*f->ends));
        for (size_t i = 0; i < f->n && f->st == STORE_OK; i++)
            if (f->page[i].chat_id == 0)
                f->st = store_block_extent_end(st, f->page[i].id, &f->ends[i]);
    }
    if (f->st == STORE_OK && f->n > 0)
        f->after = f->page[f->n - 1].id;
    if (f->st != STORE_OK || f->n < FSCK_PAGE)
        f->page_done = 1;
}

static void page_done(void *arg)
{
    struct fsck *f = arg;
    if (f->st != STORE_OK) {
        printf("index: cannot read blocks: %s\n", store_status_name(f->st));
        f->problems++;
    }
    f->running--; /* the page read counted as running */
    start_more(f);
}

static void start_more(struct fsck *f)
{
    struct gw *gw = f->gw;
    while (f->running < FSCK_PARALLEL && f->next < f->n) {
        struct fsck_fetch *x = xcalloc(1, sizeof(*x));
        x->f = f;
        int64_t end = f->ends != NULL ? f->ends[f->next] : 0;
        x->b = f->page[f->next++];
        if (x->b.chat_id == 0) {
            /* A pack of small objects still in the spool: posted by the gateway
             * when it runs. Its objects were fsync'd there before they were
             * acknowledged, so the file holds every byte they name. */
            char path[4352];
            struct stat sb;
            printf("note: block %lld is a pack not posted yet (in DATA_DIR/spool)\n", (long long)x->b.id);
            if (end > 0 && (gw_pack_path(gw, x->b.id, path, sizeof(path)) != 0 || stat(path, &sb) != 0 ||
                            (int64_t)sb.st_size < end)) {
                printf("spool: pack %lld: objects name %lld bytes, its spool file holds %lld\n", (long long)x->b.id,
                       (long long)end, gw_pack_path(gw, x->b.id, path, sizeof(path)) == 0 && stat(path, &sb) == 0
                                           ? (long long)sb.st_size
                                           : -1LL);
                f->problems++;
            }
            free(x);
            continue;
        }
        /* One document through its uploader (or another bot), or a stripe from any K good shards. */
        f->running++;
        gw_block_read_start(gw, &x->b, on_block, x);
    }
    if (f->running == 0 && f->next >= f->n && !f->page_done) {
        f->running++;
        gw_store_call(gw, page_run, page_done, f);
    }
}

struct index_job {
    struct fsck *f;
    enum store_status st;
};

static void index_run(struct store *st, void *arg)
{
    struct index_job *j = arg;
    j->st = store_fsck_index(st, j->f->repair, now_ms(), on_line, NULL, &j->f->problems, &j->f->repaired);
}

static void index_done(void *arg)
{
    struct index_job *j = arg;
    j->f->running--;
}

int gw_cmd_fsck(int argc, char **argv)
{
    struct gw gw;
    uv_loop_t loop;
    struct fsck f;
    int rc = 1, repair = 0;
    memset(&f, 0, sizeof(f));
    static const char *const own[] = {"--repair", NULL};
    int prc = gw_tool_args(&gw, argc, argv,
                           "usage: tgs3 fsck [--repair] --data-dir DIR [--key-file FILE] [serve options: --botapi-url, "
                           "--bot-token, --mode …]\n\nChecks the index against itself and every block against "
                           "Telegram (present, recorded size, authentic); with the journal on (--journal-interval > 0), "
                           "compares the index with what its chain in Telegram would rebuild (run it with the gateway "
                           "stopped cleanly: then they must be equal). --repair fixes reference counts and queues "
                           "unreferenced blocks for deletion. Exit 0 clean, 1 problems remain.",
                           own, &repair);
    if (prc >= 0)
        return prc;
    if (repair && gw_data_dir_lock(gw.cfg.data_dir, "fsck") != 0) {
        rc = 2;
        goto out;
    }
    if (gw_keys_load(&gw, 0) != 0)
        printf("note: no key file; documents are checked for presence and size only\n");
    int64_t chain_problems = gw_fsck_chain(&gw);
    if (gw_tool_open(&gw, &loop, "fsck", 600000) != 0)
        goto out;
    f.gw = &gw;
    f.repair = repair;
    struct index_job j = {.f = &f};
    f.running = 1;
    gw_store_call(&gw, index_run, index_done, &j);
    while (f.running > 0)
        uv_run(gw.loop, UV_RUN_ONCE);
    if (j.st != STORE_OK) {
        printf("index: check failed: %s\n", store_status_name(j.st));
        goto out;
    }
    int64_t index_problems = f.problems;
    if (gw.n_bots == 0)
        printf("note: no --bot-token: blocks are not checked in Telegram\n");
    else
        start_more(&f);
    while (f.running > 0)
        uv_run(gw.loop, UV_RUN_ONCE);
    int64_t remaining = f.problems - f.repaired + chain_problems;
    printf("fsck: %lld index problems (%lld repaired), %lld blocks checked in Telegram, %lld problems there, "
           "%lld with the chain; %s\n",
           (long long)index_problems, (long long)f.repaired, (long long)f.checked,
           (long long)(f.problems - index_problems), (long long)chain_problems, remaining == 0 ? "clean" : "NOT clean");
    rc = remaining == 0 ? 0 : 1;
out:
    free(f.page);
    free(f.ends);
    gw_tool_close(&gw);
    gw_config_release(&gw.cfg);
    fflush(stdout);
    return rc;
}
