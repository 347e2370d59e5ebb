/* recover.c — tgs3 recover: the index rebuilt from its chain in Telegram (chain.h).
 *
 * DESIGN. It needs only the Bot API flags, the chats and the key file.
 *   1.-3. Pins, head, walk (recover_walk.c): every chat's pinned chain
 *      document is a candidate head; the newest that opens gives the chain,
 *      whose documents are then read once each through the references back
 *      that its journal documents carry, their plaintexts kept up to
 *      HOLD_MAX bytes in all.
 *   4. Snapshot: the manifest's blocks, BLOCK_READS at a time, each written
 *      on libuv's pool at its offset into the file being rebuilt (for the
 *      command DATA_DIR/index.db.recover), which must come out index_size bytes. A chain whose manifest or snapshot
 *      cannot be read gives way to the newest candidate of another chain.
 *   5. Journal: documents 1, 2, … applied in order (store_changes_apply) up
 *      to the first one missing (no ref learnt), unreadable, or that does not
 *      apply; the rest is reported, not applied.
 *   Steps 1-5 are gw_recover_rebuild (chain.h), which tgs3 fsck also runs
 *   into a temporary file to compare it with the index (fsck_chain.c).
 *   6. The command then settles the rebuilt file: each chat's sweep window
 *      is recorded (sweep.c: the ids where the lost run's posts that no
 *      applied document names can be; the gateway's stray probe deletes
 *      them); objects and parts whose bytes only the lost disk held
 *      (unposted packs) are dropped (store_drop_unposted); the chain's
 *      documents are recorded
 *      (store_chain_add: chain_docs, chain_msgs) so the gateway's next chain
 *      deletes them; the file becomes DATA_DIR/index.db. This tool's writes
 *      set the index's unjournaled mark, so the gateway started next begins
 *      a new chain.
 * The state of a run (struct rc) and the limits are in recover.h.
 *
 * Threads: the loop drives Telegram and the reads; the snapshot's file
 * writes run on the pool; the recovered index is opened and written on the
 * main thread once no read is in flight (a tool: its loop has nothing else
 * to serve meanwhile). The tool's own store thread holds a scratch index
 * (reader.c's file_id lookups), never the recovered one.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/safety/recover.h"

static const char USAGE[] =
    "usage: tgs3 recover --data-dir DIR --key-file FILE [--force] [serve options: --botapi-url, --bot-token "
    "(repeatable), --chat-id (repeatable), --mode …]\n\n"
    "Rebuilds DIR/index.db from the index's chain in Telegram: the newest chain document pinned in any of the "
    "chats (getChat), the snapshot its manifest names, then its journal documents in order up to the first "
    "one missing. Objects whose bytes never reached Telegram are dropped. Refuses to replace an existing "
    "index unless --force.\n"
    "Exit status: 0 recovered (a gap in the journal is reported), 1 nothing usable, 2 usage.";

/* ---- 4. the snapshot -------------------------------------------------------------- */

struct snap {
    struct rc *rc;
    const struct chain_manifest *mf;
    int fd;
    uint64_t *off;     /* offset of each block in the file */
    uint32_t next;     /* next block to read */
    uint32_t written;
    int inflight;      /* reads and writes outstanding */
    int failed;
};

struct wjob {
    uv_work_t work;
    struct snap *sn;
    uint32_t i;
    unsigned char *buf;
    size_t len;
    int err;           /* errno */
};

static void write_work(uv_work_t *w)
{
    struct wjob *j = w->data;
    j->err = pwrite_all(j->sn->fd, j->buf, j->len, (off_t)j->sn->off[j->i]) != 0 ? errno : 0;
}

static void after_write(uv_work_t *w, int status)
{
    struct wjob *j = w->data;
    struct snap *sn = j->sn;
    sn->inflight--;
    if (status != 0 || j->err != 0) {
        rc_warn(sn->rc, "cannot write snapshot block %u: %s\n", j->i,
                status != 0 ? "cancelled" : strerror(j->err));
        sn->failed = 1;
    } else {
        sn->written++;
    }
    free(j->buf);
    free(j);
}

static void on_block(struct gw *gw, const struct chain_ref *ref, unsigned char *plain, size_t len, const char *err,
                     void *ud)
{
    struct snap *sn = ud;
    uint32_t i = (uint32_t)(-1 - ref->seq);
    if (plain == NULL || len != (size_t)ref->plain_len) {
        rc_warn(sn->rc, "snapshot block %u of chain %s %s\n", i, sn->rc->chain_hex,
                plain == NULL ? (err != NULL ? err : "cannot be read") : "has another length than its manifest says");
        sn->inflight--;
        sn->failed = 1;
        return;
    }
    struct wjob *j = xcalloc(1, sizeof(*j));
    j->sn = sn;
    j->i = i;
    j->buf = xmalloc(len ? len : 1);
    memcpy(j->buf, plain, len);
    j->len = len;
    j->work.data = j;
    if (uv_queue_work(gw->loop, &j->work, write_work, after_write) != 0) {
        write_work(&j->work);
        after_write(&j->work, 0);
    }
}

/* Writes the snapshot mf names into fd: 0, or -1 (reported). */
static int snapshot_write(struct rc *rc, const struct chain_manifest *mf, int fd)
{
    struct snap sn = {.rc = rc, .mf = mf, .fd = fd};
    uint64_t at = 0;
    int ret = -1;

    if (mf->n_blocks == 0 || mf->index_size == 0) {
        rc_warn(rc, "the manifest of chain %s names an empty snapshot\n", rc->chain_hex);
        return -1;
    }
    sn.off = xcalloc(mf->n_blocks, sizeof(*sn.off));
    for (uint32_t i = 0; i < mf->n_blocks; i++) {
        const struct chain_ref *b = &mf->blocks[i];
        if (b->seq != -1 - (int64_t)i || (uint64_t)b->plain_len > mf->index_size - at) {
            rc_warn(rc, "the manifest of chain %s: block %u does not fit its snapshot\n",
                    rc->chain_hex, i);
            goto out;
        }
        sn.off[i] = at;
        at += (uint64_t)b->plain_len;
    }
    if (at != mf->index_size) {
        rc_warn(rc, "the manifest of chain %s: its blocks hold %" PRIu64 " bytes, not %" PRIu64 "\n",
                rc->chain_hex, at, mf->index_size);
        goto out;
    }
    for (;;) {
        while (!sn.failed && sn.inflight < BLOCK_READS && sn.next < mf->n_blocks) {
            sn.inflight++;
            chain_read_start(rc->gw, &mf->blocks[sn.next++], on_block, &sn);
        }
        if (sn.inflight == 0 && (sn.failed || sn.written == mf->n_blocks))
            break;
        uv_run(rc->gw->loop, UV_RUN_ONCE);
    }
    if (sn.failed)
        goto out;
    struct stat sb;
    if (fsync(fd) != 0 || fstat(fd, &sb) != 0 || (uint64_t)sb.st_size != mf->index_size) {
        rc_warn(rc, "the snapshot file is not %" PRIu64 " bytes on disk: %s\n", mf->index_size,
                strerror(errno));
        goto out;
    }
    ret = 0;
out:
    free(sn.off);
    return ret;
}

/* ---- 5. the journal, 6. what the recovered index records ----------------------------- */

/* Applies documents 1, 2, … onto st up to the first that is missing, unreadable or does not apply. */
static void journal_apply(struct rc *rc, struct store *st)
{
    char err[400], when[64];
    for (int64_t s = 1; s <= rc->head; s++) {
        struct doc *d = &rc->docs[s];
        const char *why = NULL;
        size_t len = 0;
        int owned = 0;
        unsigned char *plain = NULL;
        err[0] = '\0';
        if (d->ref == NULL)
            why = "is missing";
        else if (d->state != D_READ || (plain = rc_doc_plain(rc, s, &len, &owned, err, sizeof(err))) == NULL)
            why = "is unreadable";
        else if (rc_journal_check(rc, s, plain, len, err, sizeof(err)) != 0)
            why = "is unreadable";
        else {
            enum store_status ss = store_changes_apply(st, rc->jd->changes, rc->jd->changes_len);
            if (ss != STORE_OK) {
                snprintf(err, sizeof(err), "%s: %s", store_status_name(ss), store_errmsg(st));
                why = "does not apply";
            } else {
                rc->applied = s;
                rc->last_ms = rc->jd->created_ms;
            }
        }
        if (owned)
            free(plain);
        rc_doc_drop(rc, s);
        if (why != NULL) {
            rc_ms_text(rc->last_ms, when, sizeof(when));
            fprintf(stderr,
                    "tgs3 recover: journal document %lld of chain %s %s: recovered up to document %lld (time %s)\n",
                    (long long)s, rc->chain_hex, why, (long long)(s - 1), when);
            if (err[0] != '\0')
                rc_warn(rc, "  (%s)\n", err);
            rc_warn(rc, "documents %lld..%lld are not applied; if a chat was only unreachable, run "
                            "recover again (--force) before starting the gateway: its next chain deletes them\n",
                    (long long)s, (long long)rc->head);
            return;
        }
    }
}

/* Adds one document of the chain to chain_docs/chain_msgs; extra pins (copies of the head) add their messages. */
static enum store_status record_doc(struct rc *rc, struct store *st, const struct chain_ref *r, size_t bytes)
{
    struct store_chain_msg *msgs = xcalloc((size_t)r->sp.n + rc->n_pins + 1, sizeof(*msgs));
    int n = 0;
    size_t len = 0;
    unsigned char *enc = chain_ref_encode(r, &len);
    for (int i = 0; i < r->sp.n; i++)
        msgs[n++] = (struct store_chain_msg){r->sp.sh[i].chat_id, r->sp.sh[i].message_id, r->sp.sh[i].bot_id};
    for (size_t i = 0; r->seq == rc->head && i < rc->n_pins; i++) {
        const struct pin *p = &rc->pins[i];
        if (p->seq == r->seq && memcmp(p->chain, rc->chain, CHAIN_ID_LEN) == 0)
            msgs[n++] = (struct store_chain_msg){p->chat_id, p->message_id, rc->gw->bots[p->bot].id};
    }
    struct store_chain_doc d = {.chain = rc->chain, .seq = r->seq, .ref = enc, .ref_len = len, .bytes = bytes,
                                .msgs = msgs, .n_msgs = n, .keys = NULL, .n_keys = 0};
    enum store_status ss = store_chain_add(st, &d, now_ms());
    free(enc);
    free(msgs);
    return ss;
}

/* Every document of the chain this tool knows of (the snapshot's blocks, the manifest, the journal). */
static enum store_status record_chain(struct rc *rc, struct store *st, const struct chain_manifest *mf)
{
    struct chain_ref ref;
    enum store_status ss = store_tx_begin(st);
    for (uint32_t i = 0; ss == STORE_OK && i < mf->n_blocks; i++)
        ss = record_doc(rc, st, &mf->blocks[i], 0);
    for (int64_t s = 0; ss == STORE_OK && s <= rc->head; s++) {
        const struct doc *d = &rc->docs[s];
        if (d->ref != NULL && chain_ref_decode(d->ref, d->ref_len, &ref) == 0)
            ss = record_doc(rc, st, &ref, s > 0 ? (size_t)ref.plain_len : 0);
    }
    if (ss == STORE_OK)
        ss = store_tx_commit(st);
    else
        store_tx_rollback(st);
    return ss;
}

/* Removes path's WAL and shared-memory files (a stale WAL would be replayed onto another database). */
static void unlink_sidecars(const char *path)
{
    char side[4300];
    snprintf(side, sizeof(side), "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof(side), "%s-shm", path);
    unlink(side);
}

/* The head is open: walk the chain, write its snapshot into part, apply its journal.
 * 0 when part holds the rebuilt index (closed), rc->mf its manifest; -1 (reported) when this chain gives
 * nothing usable. */
static int chain_rebuild(struct rc *rc, const char *part)
{
    struct store *st = NULL;
    char err[400], when[64];
    size_t len = 0;
    int owned = 0, fd = -1, ret = -1;
    unsigned char *plain = NULL;

    rc_walk(rc);
    /* 4. the manifest and its snapshot */
    if (rc->docs[0].ref == NULL) {
        rc_warn(rc, "no document read names the manifest of chain %s\n", rc->chain_hex);
        goto out;
    }
    plain = rc_doc_plain(rc, 0, &len, &owned, err, sizeof(err));
    if (plain == NULL || rc_manifest_check(rc, plain, len, &rc->mf, err, sizeof(err)) != 0) {
        rc_warn(rc, "the manifest of chain %s %s\n", rc->chain_hex, err);
        goto out;
    }
    rc->have_mf = 1;
    if (owned)
        free(plain);
    plain = NULL;
    rc_doc_drop(rc, 0);
    rc_ms_text(rc->mf.created_ms, when, sizeof(when));
    printf("chain %s: snapshot of %s, %" PRIu64 " bytes in %u blocks\n", rc->chain_hex, when, rc->mf.index_size,
           rc->mf.n_blocks);
    unlink(part);
    unlink_sidecars(part);
    fd = open(part, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc_warn(rc, "cannot create %s: %s\n", part, strerror(errno));
        goto out;
    }
    if (snapshot_write(rc, &rc->mf, fd) != 0)
        goto out;
    close(fd);
    fd = -1;
    rc->last_ms = rc->mf.created_ms;
    rc->n_blocks = rc->mf.n_blocks;
    rc->index_size = rc->mf.index_size;

    /* 5. the journal */
    enum store_status ss = store_open(part, &st);
    if (ss != STORE_OK) {
        rc_warn(rc, "the snapshot of chain %s does not open as an index: %s\n", rc->chain_hex,
                store_status_name(ss));
        goto out;
    }
    journal_apply(rc, st);
    ret = 0;
out:
    if (owned)
        free(plain);
    if (fd >= 0)
        close(fd);
    store_close(st);
    return ret;
}

int gw_recover_rebuild(struct gw *gw, const char *who, const unsigned char *chain, const char *path,
                       struct gw_recover_result *out)
{
    struct rc *rc = xcalloc(1, sizeof(*rc));
    unsigned char (*failed)[CHAIN_ID_LEN] = NULL;
    size_t n_failed = 0, tried = 0;
    int ret = -1;

    memset(out, 0, sizeof(*out));
    out->rc = rc;
    rc->gw = gw;
    rc->who = who;
    rc->head = rc->cursor = -1;
    rc->jd = xmalloc(sizeof(*rc->jd));
    if (chain != NULL)
        hex_encode(chain, CHAIN_ID_LEN, rc->chain_hex);

    /* 1. every chat's pin */
    rc_ask_chats(rc);
    if (rc->n_pins == 0) {
        rc_warn(rc, "no chat holds a pinned chain document: nothing to recover from\n");
        goto out;
    }
    failed = xcalloc(rc->n_pins, sizeof(*failed));
    /* 2.-5. the newest head that opens, and its chain; a chain that gives nothing makes way for an older one */
    for (size_t i = 0; i < rc->n_pins; i++) {
        const struct pin *p = &rc->pins[i];
        int skip = chain != NULL && memcmp(chain, p->chain, CHAIN_ID_LEN) != 0;
        for (size_t f = 0; f < n_failed; f++)
            skip |= memcmp(failed[f], p->chain, CHAIN_ID_LEN) == 0;
        if (skip)
            continue;
        tried++;
        if (rc_head_open(rc, p) != 0) {
            rc_chain_reset(rc);
            continue;
        }
        printf("head: document %lld of chain %s, pinned in chat %lld\n", (long long)rc->head, rc->chain_hex,
               (long long)p->chat_id);
        if (chain_rebuild(rc, path) == 0) {
            ret = 0;
            break;
        }
        memcpy(failed[n_failed++], p->chain, CHAIN_ID_LEN);
        rc_chain_reset(rc);
        unlink(path);
        unlink_sidecars(path);
        rc_warn(rc, "chain %s gives no usable index; trying an older pin\n", rc->chain_hex);
    }
    if (ret != 0) {
        if (tried == 0 && chain != NULL)
            rc_warn(rc, "no chat holds a pinned document of chain %s\n", rc->chain_hex);
        goto out;
    }
    memcpy(out->chain, rc->chain, CHAIN_ID_LEN);
    memcpy(out->chain_hex, rc->chain_hex, sizeof(out->chain_hex));
    out->head = rc->head;
    out->applied = rc->applied;
    out->last_ms = rc->last_ms;
    out->gap = rc->applied < rc->head;
    out->n_blocks = rc->n_blocks;
    out->index_size = rc->index_size;
out:
    free(failed);
    return ret;
}

void gw_recover_result_release(struct gw_recover_result *r)
{
    if (r->rc == NULL)
        return;
    rc_chain_reset(r->rc);
    free(r->rc->pins);
    free(r->rc->jd);
    free(r->rc);
    r->rc = NULL;
}

/* 6. The rebuilt index at part, settled: the sweep windows, what only the lost disk held dropped, the chain's documents
 * recorded, the totals printed. 0, or -1 (reported). */
static int settle(struct rc *rc, const char *part)
{
    struct store *st = NULL;
    struct store_stats stats;
    char when[64];
    int ret = -1;
    int64_t objects = 0, parts = 0, packs = 0;
    enum store_status ss = store_open(part, &st);

    if (ss != STORE_OK) {
        rc_warn(rc, "the rebuilt index does not open: %s\n", store_status_name(ss));
        goto out;
    }
    /* where the lost run's posts can be, before its unposted packs go (they lower the floor) */
    gw_sweep_record(rc->gw, st);
    ss = store_drop_unposted(st, now_ms(), &objects, &parts, &packs);
    if (ss != STORE_OK) {
        rc_warn(rc, "cannot drop the objects of unposted packs: %s (%s)\n", store_status_name(ss),
                store_errmsg(st));
        goto out;
    }
    if (objects > 0 || parts > 0 || packs > 0)
        printf("dropped %lld objects and %lld multipart parts whose bytes never reached Telegram (%lld packs of "
               "small objects only the lost disk held)\n",
               (long long)objects, (long long)parts, (long long)packs);
    ss = record_chain(rc, st, &rc->mf);
    if (ss != STORE_OK) {
        rc_warn(rc, "cannot record the chain's documents: %s (%s)\n", store_status_name(ss), store_errmsg(st));
        goto out;
    }
    ss = store_stats_get(st, &stats);
    if (ss != STORE_OK) {
        rc_warn(rc, "the recovered index cannot be read: %s\n", store_status_name(ss));
        goto out;
    }
    rc_ms_text(rc->last_ms, when, sizeof(when));
    printf("recovered chain %s: the snapshot and %lld of %lld journal documents, as of %s\n", rc->chain_hex,
           (long long)rc->applied, (long long)rc->head, when);
    printf("%lld buckets, %lld objects, %lld bytes in %lld blocks\n", (long long)stats.buckets,
           (long long)stats.objects, (long long)stats.bytes, (long long)stats.blocks);
    ret = 0;
out:
    store_close(st);
    return ret;
}

/* ---- the command ------------------------------------------------------------------ */

static void remove_scratch(const char *dir)
{
    static const char *const names[] = {"index.db", "index.db-wal", "index.db-shm"};
    char p[4200];
    if (dir[0] == '\0')
        return;
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        unlink(p);
    }
    rmdir(dir);
}

/* part becomes path: the old index's WAL and shared memory go first, part's WAL (if SQLite left one) follows it. */
static int install(const char *part, const char *path)
{
    char from[4300], to[4300];
    unlink_sidecars(path);
    if (rename(part, path) != 0) {
        fprintf(stderr, "tgs3 recover: cannot rename %s: %s\n", part, strerror(errno));
        return -1;
    }
    snprintf(from, sizeof(from), "%s-wal", part);
    snprintf(to, sizeof(to), "%s-wal", path);
    if (rename(from, to) != 0 && errno != ENOENT) {
        fprintf(stderr, "tgs3 recover: cannot rename %s: %s\n", from, strerror(errno));
        return -1;
    }
    snprintf(from, sizeof(from), "%s-shm", part);
    unlink(from);
    return 0;
}

int gw_cmd_recover(int argc, char **argv)
{
    static const char *const own[] = {"--force", NULL};
    int own_set[1] = {0};
    struct gw gw;
    uv_loop_t loop;
    struct gw_recover_result res;
    int status = 1;
    char path[4096], part[4200] = "", tmp[4096] = "", scratch[4096];

    memset(&res, 0, sizeof(res));
    int prc = gw_tool_args(&gw, argc, argv, USAGE, own, own_set);
    if (prc >= 0)
        return prc;
    if (gw.cfg.n_bot_tokens == 0 || gw.cfg.n_chat_ids == 0) {
        fprintf(stderr, "tgs3 recover: give --bot-token and --chat-id as for tgs3 serve\n");
        gw_config_release(&gw.cfg);
        return 2;
    }
    snprintf(path, sizeof(path), "%s/index.db", gw.cfg.data_dir);
    snprintf(part, sizeof(part), "%s.recover", path);
    struct stat sb;
    if (stat(path, &sb) == 0 && !own_set[0]) {
        fprintf(stderr, "tgs3 recover: %s exists; move it away or give --force\n", path);
        gw_config_release(&gw.cfg);
        return 2;
    }
    if (gw_keys_load(&gw, 0) != 0) {
        fprintf(stderr, "tgs3 recover: the key file is needed (--key-file FILE)\n");
        goto out;
    }
    mkdir(gw.cfg.data_dir, 0700);
    if (gw_data_dir_lock(gw.cfg.data_dir, "recover") != 0)
        goto out;
    snprintf(scratch, sizeof(scratch), "%s/tmp", gw.cfg.data_dir);
    mkdir(scratch, 0700);
    /* The tool's store thread gets a scratch index; the recovered one is written beside the real one. */
    snprintf(tmp, sizeof(tmp), "%s/tmp/recover-%d", gw.cfg.data_dir, (int)getpid());
    mkdir(tmp, 0700);
    char *real_dir = gw.cfg.data_dir;
    gw.cfg.data_dir = tmp;
    int opened = gw_tool_open(&gw, &loop, "recover", 600000);
    gw.cfg.data_dir = real_dir;
    if (opened != 0 || gw.n_bots == 0)
        goto out;

    /* 1.-5. the rebuild; 6. what it records; the file becomes the index */
    if (gw_recover_rebuild(&gw, "tgs3 recover", NULL, part, &res) == 0 && settle(res.rc, part) == 0)
        status = install(part, path) == 0 ? 0 : 1;
    if (status != 0) {
        unlink(part);
        unlink_sidecars(part);
        fprintf(stderr, "tgs3 recover: no index recovered\n");
        goto out;
    }
    printf("recovered %s\n", path);
    if (gw.cfg.key_file != NULL)
        printf("start the gateway with --key-file %s (it begins a new chain at once)\n", gw.cfg.key_file);
out:
    gw_recover_result_release(&res);
    gw_tool_close(&gw);
    remove_scratch(tmp);
    gw_config_release(&gw.cfg);
    fflush(stdout);
    return status;
}
