/* fsck_chain.c — tgs3 fsck's check of the index's chain (chain.h): the index compared with what its
 * snapshot and journal in Telegram would rebuild.
 *
 * A dry run of tgs3 recover: the chain the index names (meta chain_id) is rebuilt from the chats'
 * pins into DATA_DIR/tmp/fsck-chain-PID.db (gw_recover_rebuild; nothing is dropped or recorded,
 * nothing installed), then compared with the index table by table, row by row (store_compare),
 * and the file removed. Left out: meta, chain_docs, chain_msgs and sweeps (the journal's own bookkeeping,
 * never in it), inflight (the rows of the chain's last documents' shards end after those documents
 * were taken, so no document carries their end) and SQLite's tables.
 *
 * After a clean shutdown (meta chain_clean = 1, and no tool wrote since: no unjournaled mark)
 * every change was posted, so the rebuild must equal the index: each difference is a problem.
 * Otherwise (a crash, the gateway running now, a tool's writes) the differences may be changes not
 * posted yet: they are reported as warnings. Skipped, and said so, with --journal-interval 0, when
 * the index has no chain, or without the key file.
 *
 * Threads: the tool's main thread, before fsck's own checks. The rebuild runs in a tool session of
 * its own whose store thread holds a scratch index (the reads may record file_ids there), so
 * nothing of this check writes to DATA_DIR/index.db; the index is read through a read-only
 * connection.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/safety/chain.h"

#define SHOW_MAX 20 /* differences printed one by one */

static const char *const SKIP[] = {"meta", "chain_docs", "chain_msgs", "sweeps", "inflight", NULL};

/* What the index says of its chain. */
struct local {
    struct store_chain ch;
    int64_t unjournaled;  /* ms of the first write no journal carries; 0: none */
    int64_t *chats;       /* the chats of the chain's manifest (malloc'd) */
    size_t n_chats;
};

/* Reads index's chain through a read-only connection: 0, or -1 (printed). */
static int local_read(const char *index, struct local *l)
{
    struct store *st = NULL;
    struct store_chain_ref *refs = NULL;
    struct chain_ref ref;
    size_t n = 0;
    enum store_status ss = store_open_readonly(index, &st);

    memset(l, 0, sizeof(*l));
    if (ss == STORE_OK)
        ss = store_chain_get(st, &l->ch);
    if (ss == STORE_OK)
        ss = store_changes_unjournaled(st, &l->unjournaled);
    if (ss == STORE_OK && l->ch.have)
        ss = store_chain_refs(st, l->ch.chain, 0, 0, 1, &refs, &n);
    if (ss == STORE_OK && n == 1 && chain_ref_decode(refs[0].ref, refs[0].len, &ref) == 0) {
        l->chats = xcalloc((size_t)ref.sp.n + 1, sizeof(*l->chats));
        for (int i = 0; i < ref.sp.n; i++)
            l->chats[l->n_chats++] = ref.sp.sh[i].chat_id;
    }
    store_chain_refs_free(refs, n);
    if (ss != STORE_OK)
        printf("chain: not checked: cannot read the index's chain: %s (%s)\n", store_status_name(ss),
               st != NULL ? store_errmsg(st) : "no index");
    store_close(st);
    return ss == STORE_OK ? 0 : -1;
}

/* Removes a database file and its companions. */
static void db_remove(const char *path)
{
    static const char *const tails[] = {"", "-wal", "-shm", "-journal"};
    char p[4400];
    for (size_t i = 0; i < ARRAY_SIZE(tails); i++) {
        snprintf(p, sizeof(p), "%s%s", path, tails[i]);
        unlink(p);
    }
}

/* Rebuilds chain ch into path in a tool session of its own (scratch index in dir): 0, or -1. gw is left as
 * it was: its keys stay, its loop, store and bots are closed again. */
static int rebuild(struct gw *gw, const unsigned char *chain, const char *dir, const char *path,
                   struct gw_recover_result *res)
{
    uv_loop_t loop;
    char *real_dir = gw->cfg.data_dir;
    int ret = -1;

    mkdir(dir, 0700);
    gw->cfg.data_dir = (char *)dir;
    int opened = gw_tool_open(gw, &loop, "fsck", 600000);
    gw->cfg.data_dir = real_dir;
    if (opened == 0 && gw->n_bots > 0)
        ret = gw_recover_rebuild(gw, "tgs3 fsck", chain, path, res);
    struct blk_keyring *keys = gw->keys; /* gw_tool_close frees them: fsck's own checks need them next */
    gw->keys = NULL;
    gw_tool_close(gw);
    gw->keys = keys;
    gw->loop = NULL;
    char p[4400];
    snprintf(p, sizeof(p), "%s/index.db", dir);
    db_remove(p);
    rmdir(dir);
    return ret;
}

struct report {
    const char *prefix; /* "" or "warning: " */
    size_t shown;
};

static void on_diff(void *ud, const char *table, const char *key, enum store_compare_side side)
{
    struct report *r = ud;
    const char *what = side == STORE_CMP_ONLY_A   ? "only in the index"
                       : side == STORE_CMP_ONLY_B ? "only in what Telegram would rebuild"
                       : side == STORE_CMP_DIFFERS ? "differs"
                                                   : "has other columns in what Telegram would rebuild";
    printf("chain: %s%s %s: %s\n", r->prefix, table, key != NULL ? key : "(the whole table)", what);
    r->shown++;
}

int64_t gw_fsck_chain(struct gw *gw)
{
    struct local l;
    struct gw_recover_result res;
    char index[4200], dir[4200], path[4200] = "", err[300], hex[2 * CHAIN_ID_LEN + 1];
    int64_t problems = 0, n_diff = 0;
    int64_t *own_chats = NULL;
    struct report rep = {.prefix = ""};
    int clean;

    memset(&res, 0, sizeof(res));
    if (gw->cfg.journal_interval_ms <= 0) {
        printf("chain: not checked: the journal is off (--journal-interval 0)\n");
        return 0;
    }
    snprintf(index, sizeof(index), "%s/index.db", gw->cfg.data_dir);
    if (local_read(index, &l) != 0)
        return 0;
    if (!l.ch.have) {
        printf("chain: not checked: the index has no chain in Telegram yet\n");
        goto out;
    }
    hex_encode(l.ch.chain, CHAIN_ID_LEN, hex);
    if (gw->keys == NULL || gw->cfg.n_bot_tokens == 0) {
        printf("chain: not checked: reading chain %s needs the key file and a bot token\n", hex);
        goto out;
    }
    if (gw->cfg.n_chat_ids == 0) { /* the chats the manifest went to: each holds a pin of the chain */
        if (l.n_chats == 0) {
            printf("chain: not checked: no --chat-id given and the index records no chat of chain %s\n", hex);
            goto out;
        }
        own_chats = l.chats;
        l.chats = NULL;
        gw->cfg.chat_ids = own_chats;
        gw->cfg.n_chat_ids = l.n_chats;
    }
    clean = l.ch.clean && l.unjournaled == 0;
    rep.prefix = clean ? "" : "warning: ";
    if (!clean)
        printf("chain: warning: %s: the comparison may show changes not posted yet (reported, not counted)\n",
               !l.ch.clean ? "the gateway did not stop cleanly, or runs now"
                           : "a tool changed the index since the chain's last document");
    printf("chain: rebuilding chain %s (document %lld recorded last) from Telegram to compare\n", hex,
           (long long)l.ch.seq);
    snprintf(dir, sizeof(dir), "%s/tmp", gw->cfg.data_dir);
    mkdir(dir, 0700);
    snprintf(path, sizeof(path), "%s/tmp/fsck-chain-%d.db", gw->cfg.data_dir, (int)getpid());
    snprintf(dir, sizeof(dir), "%s/tmp/fsck-%d", gw->cfg.data_dir, (int)getpid());
    if (rebuild(gw, l.ch.chain, dir, path, &res) != 0) {
        printf("chain: chain %s cannot be rebuilt from Telegram\n", hex);
        problems = 1;
        goto out;
    }
    if (res.applied != l.ch.seq)
        printf("chain: %sTelegram gives documents up to %lld, the index recorded %lld\n", rep.prefix,
               (long long)res.applied, (long long)l.ch.seq);
    if (store_compare(index, path, SKIP, SHOW_MAX, on_diff, &rep, &n_diff, err, sizeof(err)) != STORE_OK) {
        printf("chain: cannot compare the index with the rebuild: %s\n", err);
        problems = 1;
        goto out;
    }
    if (n_diff == 0) {
        printf("chain: the index matches what Telegram holds (chain %s, %lld documents)\n", hex,
               (long long)res.applied + 1);
    } else {
        if ((size_t)n_diff > rep.shown)
            printf("chain: … and %lld more\n", (long long)(n_diff - (int64_t)rep.shown));
        printf("chain: %s%lld difference(s) between the index and what Telegram would rebuild\n", rep.prefix,
               (long long)n_diff);
        if (clean)
            problems = n_diff;
    }
out:
    if (path[0] != '\0')
        db_remove(path); /* always: whatever the rebuild left */
    gw_recover_result_release(&res);
    if (own_chats != NULL) {
        gw->cfg.chat_ids = NULL;
        gw->cfg.n_chat_ids = 0;
        free(own_chats);
    }
    free(l.chats);
    return problems;
}
