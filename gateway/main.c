/* main.c — the tgs3 program: sub-commands, start-up checks, the loop, shutdown.
 *
 * `tgs3 serve` opens the index, checks every bot (getMe) and every storage
 * chat (getChat) through the Bot API server, then serves S3 on --listen and
 * /metrics, /healthz, /readyz on --admin-listen.
 * SIGTERM/SIGINT: stop accepting, let requests in flight finish (at most
 * --shutdown-grace seconds), then stop the loop, the store thread and the
 * index. SIGHUP reopens --log-file (for logrotate).
 * Other sub-commands live in their own files; each is one line in main().
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gateway/engine/cache.h"
#include "gateway/engine/stripe.h"
#include "gateway/gw.h"

static void usage(FILE *fp)
{
    fprintf(fp, "tgs3 — an S3-compatible object store whose bytes live in Telegram\n\n"
                "usage: tgs3 <command> [options]\n\n"
                "commands:\n"
                "  serve     run the S3 gateway (tgs3 serve --help lists every option)\n"
                "  stats     index figures: buckets, objects, bytes, blocks per chat, GC backlog\n"
                "  gc        run the delete queue once, now\n"
                "  fsck      check the index against itself and Telegram (--repair fixes what it can)\n"
                "  scrub     read every shard back, verify it, queue the bad ones for repair\n"
                "  chat      chat retire ID: no new shards go to chat ID, its shards are rebuilt elsewhere\n"
                "  repair    rebuild the queued shards now, in the foreground (the gateway stopped)\n"
                "  snapshot  begin a new chain of the index in Telegram (a sealed copy, its manifest pinned)\n"
                "  recover   rebuild the data dir's index from Telegram (the pinned chain: snapshot + journal)\n"
                "  version   print the version\n");
}

static int mkdir_p(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(buf))
        return -1;
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] == '/' || buf[i] == '\0') {
            char c = buf[i];
            buf[i] = '\0';
            if (mkdir(buf, 0700) != 0 && errno != EEXIST)
                return -1;
            buf[i] = c;
        }
    }
    return 0;
}

/* ---- start-up checks ---------------------------------------------------------- *
 *
 * Every token must log in (getMe), every chat must exist (getChat), and every
 * bot must be an administrator of every chat with the rights to post and
 * delete (getChatMember): a block may go to any pair, and reads may go
 * through any bot. Messages name the bad token by its bot id only (the
 * secret after ':' never reaches a log) or the bad chat, and say what to do.
 */

struct checks {
    struct gw *gw;
    int pending;
    int failed;
    int phase2; /* the rights checks have been started */
};

struct check {
    struct checks *c;
    size_t bot, chat;
};

static struct check *check_new(struct checks *c, size_t bot, size_t chat)
{
    struct check *k = xcalloc(1, sizeof(*k));
    k->c = c;
    k->bot = bot;
    k->chat = chat;
    c->pending++;
    return k;
}

static void on_member(void *ud, const struct tg_result *res, const struct tg_chat_member *m);

/* A check ended: once tokens and chats are all fine, every bot's rights in
 * every chat are asked for (from inside the loop, like any other call). */
static void check_done(struct check *k)
{
    struct checks *c = k->c;
    struct gw *gw = c->gw;
    free(k);
    c->pending--;
    if (c->pending > 0 || c->failed || c->phase2)
        return;
    c->phase2 = 1;
    for (size_t b = 0; b < gw->n_bots; b++)
        for (size_t i = 0; i < gw->cfg.n_chat_ids; i++)
            tg_get_chat_member(gw->tg, gw->bots[b].token, gw->cfg.chat_ids[i], gw->bots[b].id, on_member,
                               check_new(c, b, i));
}

static void on_me(void *ud, const struct tg_result *res, const struct tg_bot_info *bot)
{
    struct check *k = ud;
    struct checks *c = k->c;
    struct gw_bot *b = &c->gw->bots[k->bot];
    if (res->status != TG_OK) {
        log_error("bot token %lld:… (--bot-token #%zu) was rejected by the Bot API server: %s (%s); check the "
                  "token with @BotFather (a token last used with api.telegram.org needs logOut there first)",
                  (long long)b->id, k->bot + 1, tg_status_name(res->status), res->description);
        c->failed = 1;
    } else if (bot->id != b->id) {
        log_error("bot token %lld:… (--bot-token #%zu) logged in as bot %lld: the token is malformed",
                  (long long)b->id, k->bot + 1, (long long)bot->id);
        c->failed = 1;
    } else {
        log_info("bot %lld (@%s) ready", (long long)bot->id, bot->username);
    }
    check_done(k);
}

/* A chat that refuses (deleted, banned, the bot kicked) does not stop a
 * gateway with redundancy while at least K chats answer: reads take the
 * shards in the others, new blocks go there. */
static int tolerate(struct checks *c, size_t chat, const struct tg_result *res)
{
    struct gw *gw = c->gw;
    int k = 1, m = 0;
    if (!tg_result_chat_refused(res) || blk_layout_parse(gw_config_redundancy(&gw->cfg), (int)gw->cfg.n_chat_ids, &k, &m) != 0)
        return 0;
    if (gw_chat_state(gw, chat) != GW_CHAT_OK)
        return 1; /* counted already (another bot's answer) */
    size_t refusing, lost;
    gw_chats_counters(gw, &refusing, &lost);
    /* Unprotected, or too few chats left to hold K shards of a new block: a configuration to fix. */
    if (m == 0 || (int)(gw->cfg.n_chat_ids - refusing - lost - 1) < k)
        return 0;
    gw_chat_refused(gw, chat, res->description);
    return 1;
}

static void on_chat(void *ud, const struct tg_result *res, const struct tg_chat_info *chat)
{
    struct check *k = ud;
    struct checks *c = k->c;
    int64_t id = c->gw->cfg.chat_ids[k->chat];
    if (res->status != TG_OK && tolerate(c, k->chat, res)) {
        log_warn("storage chat %lld (--chat-id #%zu): %s (%s); its shards are read from the other chats and "
                 "nothing new goes there until it answers again",
                 (long long)id, k->chat + 1, tg_status_name(res->status), res->description);
    } else if (res->status != TG_OK) {
        log_error("storage chat %lld (--chat-id #%zu): %s (%s); check the id (channels look like -100…) and add "
                  "bot %lld to the channel as an administrator",
                  (long long)id, k->chat + 1, tg_status_name(res->status), res->description,
                  (long long)c->gw->bots[k->bot].id);
        c->failed = 1;
    } else {
        if (strcmp(chat->type, "channel") != 0 && strcmp(chat->type, "supergroup") != 0)
            log_warn("storage chat %lld is a %s; a private channel is what tgs3 expects", (long long)id, chat->type);
        log_info("storage chat %lld (%s \"%s\") ready", (long long)chat->id, chat->type, chat->title);
    }
    check_done(k);
}

static void on_member(void *ud, const struct tg_result *res, const struct tg_chat_member *m)
{
    struct check *k = ud;
    struct checks *c = k->c;
    int64_t chat = c->gw->cfg.chat_ids[k->chat], bot = c->gw->bots[k->bot].id;
    if (gw_chat_state(c->gw, k->chat) != GW_CHAT_OK && (res->status == TG_OK || tolerate(c, k->chat, res))) {
        /* refusing already: nothing goes there */
    } else if (res->status != TG_OK && tolerate(c, k->chat, res)) {
        log_warn("bot %lld:… in storage chat %lld: %s; nothing new goes there until it answers again", (long long)bot,
                 (long long)chat, res->description);
    } else if (res->status != TG_OK) {
        log_error("bot %lld:… cannot read its rights in storage chat %lld: %s (%s); add it to the channel as an "
                  "administrator",
                  (long long)bot, (long long)chat, tg_status_name(res->status), res->description);
        c->failed = 1;
    } else if (strcmp(m->status, "administrator") != 0 && strcmp(m->status, "creator") != 0) {
        log_error("bot %lld:… is '%s' in storage chat %lld, not an administrator: promote it with the rights to "
                  "post, edit and delete messages",
                  (long long)bot, m->status, (long long)chat);
        c->failed = 1;
    } else if (!m->can_post_messages || !m->can_delete_messages) {
        log_error("bot %lld:… is an administrator of storage chat %lld without the right to %s messages: grant it",
                  (long long)bot, (long long)chat, !m->can_post_messages ? "post" : "delete");
        c->failed = 1;
    } else if (!m->can_edit_messages) {
        log_warn("bot %lld:… cannot edit messages in storage chat %lld (captions of old blocks cannot be updated)",
                 (long long)bot, (long long)chat);
    }
    check_done(k);
}

static int startup_checks(struct gw *gw)
{
    struct checks c = {.gw = gw};
    /* Phase 1: tokens and chats; phase 2, when those are fine: each bot's rights in each chat. */
    for (size_t i = 0; i < gw->n_bots; i++)
        tg_get_me(gw->tg, gw->bots[i].token, on_me, check_new(&c, i, 0));
    for (size_t i = 0; i < gw->cfg.n_chat_ids; i++)
        tg_get_chat(gw->tg, gw->bots[0].token, gw->cfg.chat_ids[i], on_chat, check_new(&c, 0, i));
    gw_wake_start(gw);
    while (c.pending > 0)
        uv_run(gw->loop, UV_RUN_ONCE);
    gw_wake_stop(gw);
    return c.failed ? -1 : 0;
}

/* ---- shutdown ---------------------------------------------------------------- */

static uv_signal_t sig_term, sig_int, sig_hup;
static uv_timer_t drain_timer;
static int64_t drain_deadline;

static void on_drain(uv_timer_t *t)
{
    struct gw *gw = t->data;
    /* Requests being processed, and requests whose body is still arriving (h2o
     * hands a request over only once its body is complete). */
    int receiving = gw_server_receiving(gw);
    if ((gw->active > 0 || receiving > 0) && mono_ms() < drain_deadline)
        return;
    if (gw->active == 0 && receiving == 0 && !gw_journal_drained(gw))
        return; /* the index's last changes on their way to Telegram */
    if (gw->active > 0 || receiving > 0)
        log_warn("shutdown: %d requests still running, %d connections holding request bytes, after %lld s; "
                 "stopping anyway",
                 gw->active,
                 receiving, (long long)(gw->cfg.shutdown_grace_ms / 1000));
    uv_timer_stop(t);
    uv_stop(gw->loop);
}

static void on_signal(uv_signal_t *s, int signum)
{
    struct gw *gw = s->data;
    if (gw->stopping)
        return;
    log_info("signal %d: no new connections; finishing %d requests (%d still receiving their body)", signum,
             gw->active, gw_intake_arriving());
    gw->stopping = 1;
    gw_server_stop_accepting(gw);
    drain_deadline = mono_ms() + gw->cfg.shutdown_grace_ms;
    uv_timer_start(&drain_timer, on_drain, 0, 100);
}

static void on_hup(uv_signal_t *s, int signum)
{
    struct gw *gw = s->data;
    (void)signum;
    if (gw->cfg.log_file == NULL)
        return;
    if (log_open_file(gw->cfg.log_file) != 0)
        log_error("SIGHUP: cannot reopen log file %s; logging goes on to the old one", gw->cfg.log_file);
    else
        log_info("SIGHUP: log file reopened");
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

/* ---- serve ---------------------------------------------------------------------- */

/* Options, logging, the data dir and its lock, the index and the master key,
 * before the loop exists. 0 with *out the index; else -1 with *status the
 * exit status, everything opened here closed and the configuration released. */
static int serve_prepare(struct gw *gw, int argc, char **argv, struct store **out, int *status)
{
    int prc = gw_config_parse(&gw->cfg, argc, argv);
    if (prc != 0 || gw_config_check(&gw->cfg) != 0) {
        gw_config_release(&gw->cfg);
        *status = prc == 1 ? 0 : 2;
        return -1;
    }
    if (!strcmp(gw->cfg.log_level, "debug"))
        log_set_level(LOG_DEBUG);
    else if (!strcmp(gw->cfg.log_level, "warn"))
        log_set_level(LOG_WARN);
    else if (!strcmp(gw->cfg.log_level, "error"))
        log_set_level(LOG_ERROR);
    if (gw->cfg.log_file && log_open_file(gw->cfg.log_file) != 0) {
        fprintf(stderr, "tgs3: cannot open log file %s\n", gw->cfg.log_file);
        gw_config_release(&gw->cfg);
        *status = 2;
        return -1;
    }

    *status = 1;
    char path[4096];
    snprintf(path, sizeof(path), "%s/tmp", gw->cfg.data_dir);
    if (mkdir_p(gw->cfg.data_dir) != 0 || mkdir_p(path) != 0) {
        log_error("cannot create data dir %s: %s", gw->cfg.data_dir, strerror(errno));
        gw_config_release(&gw->cfg);
        return -1;
    }
    if (gw_data_dir_lock(gw->cfg.data_dir, "serve") != 0) {
        gw_config_release(&gw->cfg);
        return -1;
    }
    struct store *st = gw_setup_index(gw, "serve");
    if (st == NULL) {
        gw_config_release(&gw->cfg);
        return -1;
    }
    if (gw_keys_load(gw, 1) != 0 || gw_journal_prepare(gw, st) != 0) {
        store_close(st);
        gw_config_release(&gw->cfg);
        return -1;
    }
    *out = st;
    return 0;
}

/* On the loop, in order: the Bot API client, the start-up checks, the
 * scheduler, the stray plan (takes *unconfirmed, then NULL), the caches and
 * the packer, both listeners and the periodic jobs. 0, or -1 (logged): the
 * caller tears down whatever was started. */
static int serve_start(struct gw *gw, struct store_inflight **unconfirmed, size_t n_unconfirmed)
{
    /* Posts and reads each have their own budget; connections cover both, so
     * uploads can never hold every connection a read needs. A rate-limited
     * post comes back at once: the scheduler moves it to another pair. */
    if (gw_setup_client(gw, "serve", 600000, gw->cfg.max_upload_blocks + gw->cfg.max_fetch_blocks + 8, 1) != 0)
        return -1;
    if (startup_checks(gw) != 0) {
        log_error("start-up checks failed; not serving");
        return -1;
    }
    if (gw_setup_posting(gw) != 0)
        return -1;
    gw_strays_plan(gw, *unconfirmed, n_unconfirmed); /* before the packer resumes */
    *unconfirmed = NULL;
    gw_opened_init(gw);
    /* The upload budget's block buffers, faulted in before the first request (the cold first PUT). */
    bigbuf_prepare((size_t)gw->cfg.max_upload_blocks, gw_put_buffer_size(gw));
    if (gw_cache_start(gw) != 0 || gw_pack_start(gw) != 0)
        return -1;
    if (gw_server_start(gw) != 0)
        return -1;
    if (gw_admin_start(gw) != 0)
        return -1;
    gw_gc_start(gw);
    gw_compact_start(gw);
    gw_journal_start(gw);
    gw_strays_start(gw);
    gw_repair_start(gw);
    gw_scrub_start(gw, 0, NULL);
    gw_lifecycle_start(gw);
    return 0;
}

/* SIGTERM and SIGINT drain and stop, SIGHUP reopens the log file. */
static void signals_start(struct gw *gw)
{
    uv_signal_init(gw->loop, &sig_term);
    uv_signal_init(gw->loop, &sig_int);
    sig_term.data = sig_int.data = gw;
    uv_signal_start(&sig_term, on_signal, SIGTERM);
    uv_signal_start(&sig_int, on_signal, SIGINT);
    uv_signal_init(gw->loop, &sig_hup);
    sig_hup.data = gw;
    uv_signal_start(&sig_hup, on_hup, SIGHUP);
    uv_timer_init(gw->loop, &drain_timer);
    drain_timer.data = gw;
}

/* After the loop has stopped: the periodic jobs and the packer stop, the signal handles close. */
static void serve_stop(struct gw *gw)
{
    log_info("shutting down");
    gw_gc_stop(gw);
    gw_compact_stop(gw);
    gw_journal_stop(gw);
    gw_strays_stop(gw);
    gw_pack_stop(gw);
    uv_close((uv_handle_t *)&sig_term, NULL);
    uv_close((uv_handle_t *)&sig_int, NULL);
    uv_close((uv_handle_t *)&sig_hup, NULL);
    uv_close((uv_handle_t *)&drain_timer, NULL);
}

/* Undoes whatever serve started, in reverse, from any point after the loop
 * was initialised: what still waits fails, the store thread closes the
 * index, the loop drains and closes, and the configuration is released. */
static void serve_teardown(struct gw *gw)
{
    gw_lifecycle_stop(gw);
    gw_scrub_stop(gw);
    gw_repair_stop(gw);
    gw_strays_stop(gw); /* no-op unless start-up failed after the plan */
    gw_sched_stop(gw); /* blocks still waiting for a pair fail now */
    gw_chats_free(gw);
    gw_server_stop_accepting(gw);
    gw_admin_stop(gw);
    tg_client_free(gw->tg);
    gw->tg = NULL;
    gw_storeq_free(gw->storeq); /* closes the index */
    uv_run(gw->loop, UV_RUN_NOWAIT);
    if (gw->h2o_ctx.loop != NULL)
        gw_server_dispose(gw);
    gw_admin_dispose(gw);
    uv_walk(gw->loop, close_walk, NULL);
    uv_run(gw->loop, UV_RUN_DEFAULT);
    gw_cache_free(gw);
    gw_ec_free_all(gw);
    gw_opened_free(gw);
    gw_pack_free(gw);
    gw_journal_free(gw);
    bigbuf_drain(); /* idle block buffers */
    uv_loop_close(gw->loop);
    free(gw->bots);
    gw_keys_free(gw);
    gw_config_release(&gw->cfg);
}

static int serve(int argc, char **argv)
{
    struct gw gw;
    memset(&gw, 0, sizeof(gw));
    gw_config_init(&gw.cfg);
    int rc = 1;
    struct store *st = NULL;
    uv_loop_t loop;

    if (serve_prepare(&gw, argc, argv, &st, &rc) != 0)
        return rc;
    rc = 1;
    /* Before anything is posted: settles what a crash left in flight. */
    struct store_inflight *unconfirmed = NULL;
    size_t n_unconfirmed = 0;
    gw_journal_sweep(st, &unconfirmed, &n_unconfirmed);

    /* Hashing runs on libuv's pool; give it room beside curl's resolver threads. */
    setenv("UV_THREADPOOL_SIZE", "8", 0);
    /* Block buffers (MiBs, allocated on pool threads, freed on the loop) are
     * always mmap'd, so memory goes back to the system when they are freed:
     * glibc's sliding threshold would otherwise keep them in per-thread
     * arenas and RssAnon would stay at its highest. */
    mallopt(M_MMAP_THRESHOLD, 1 << 20);
    uv_loop_init(&loop);
    gw.loop = &loop;
    gw.storeq = gw_storeq_new(&gw, st);

    gw_setup_bots(&gw);
    if (serve_start(&gw, &unconfirmed, n_unconfirmed) != 0)
        goto out;
    signals_start(&gw);
    gw_storeq_defer_sync(gw.storeq); /* start-up is done with the store */
    signal(SIGPIPE, SIG_IGN);

    printf("tgs3 listening on %s (mode %s, block size %lld, %zu bot(s), %zu chat(s))\n", gw.cfg.listen,
           gw.cfg.mode == TG_MODE_LOCAL ? "local" : "cloud", (long long)gw.cfg.block_size, gw.n_bots,
           gw.cfg.n_chat_ids);
    fflush(stdout);
    uv_run(gw.loop, UV_RUN_DEFAULT);
    rc = 0;
    serve_stop(&gw);
out:
    free(unconfirmed);
    serve_teardown(&gw);
    fflush(stdout);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
        printf("tgs3 0.1\n");
        return 0;
    }
    if (!strcmp(argv[1], "serve"))
        return serve(argc - 2, argv + 2);
    if (!strcmp(argv[1], "stats"))
        return gw_cmd_stats(argc - 2, argv + 2);
    if (!strcmp(argv[1], "gc"))
        return gw_cmd_gc(argc - 2, argv + 2);
    if (!strcmp(argv[1], "scrub"))
        return gw_cmd_scrub(argc - 2, argv + 2);
    if (!strcmp(argv[1], "chat"))
        return gw_cmd_chat(argc - 2, argv + 2);
    if (!strcmp(argv[1], "repair"))
        return gw_cmd_repair(argc - 2, argv + 2);
    if (!strcmp(argv[1], "fsck"))
        return gw_cmd_fsck(argc - 2, argv + 2);
    if (!strcmp(argv[1], "snapshot"))
        return gw_cmd_snapshot(argc - 2, argv + 2);
    if (!strcmp(argv[1], "recover"))
        return gw_cmd_recover(argc - 2, argv + 2);
    fprintf(stderr, "tgs3: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
