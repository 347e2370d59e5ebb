/* admin.c — /_emulator/...: the emulator's own surface for tests and benchmarks.
 *
 * Not Bot API: these answers get no latency and no faults. Run-time faults of a channel, for
 * tests of a store that must survive losing one (POST; parameters in the query string or a
 * form body, all required, all integers):
 *   /_emulator/ban?chat=ID              the channel is gone (deleted or banned): every method
 *                                       naming it answers 400 "Bad Request: chat not found";
 *                                       getFile of documents only it holds answers 400 "Bad
 *                                       Request: wrong file_id or the file is temporarily
 *                                       unavailable", their /file/ downloads 404
 *   /_emulator/unban?chat=ID            undoes it (a transient outage)
 *   /_emulator/kick?chat=ID&bot=BOTID   that bot was kicked: its methods naming the chat answer
 *                                       403 "Forbidden: bot was kicked from the channel chat",
 *                                       its getFile and downloads fail as above; other bots are
 *                                       unaffected
 *   /_emulator/unkick?chat=ID&bot=BOTID undoes it
 *   /_emulator/delete?chat=ID&message=MID   an admin deleted the message: it is gone for every
 *                                       method ("message to copy not found", ...), and getFile
 *                                       of its document fails as above unless another live
 *                                       message holds it
 *   /_emulator/corrupt?chat=ID&message=MID  the message's document is damaged in place (16
 *                                       bytes in its middle flipped, size unchanged): getFile
 *                                       and downloads succeed with other bytes
 * Each answers {"ok":true}, or 400 {"ok":false,"error_code":400,"description":"Bad Request:
 * ..."} for a missing, unknown or bad parameter, 405 for a GET. Bans and kicks are journaled
 * with the state (state.c) and survive a restart; /_emulator/stats lists them.
 *   /_emulator/stats                    counters (methods.c), "banned" chats, "kicked" pairs
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "telegram/emulator/emu.h"

static struct emu_state *S;
static uint64_t n_deleted, n_corrupted;

/* The parameters of a fault, resolved. */
struct fault {
    struct emu_chat *chat;
    int64_t bot, message;
};

static const char *do_ban(const struct fault *f)
{
    state_ban(S, f->chat, 1);
    return NULL;
}

static const char *do_unban(const struct fault *f)
{
    state_ban(S, f->chat, 0);
    return NULL;
}

static const char *do_kick(const struct fault *f)
{
    state_kick(S, f->chat, f->bot, 1);
    return NULL;
}

static const char *do_unkick(const struct fault *f)
{
    state_kick(S, f->chat, f->bot, 0);
    return NULL;
}

static const char *do_delete(const struct fault *f)
{
    state_msg_remove(S, f->chat, f->message);
    n_deleted++;
    return NULL;
}

static const char *do_corrupt(const struct fault *f)
{
    const struct emu_doc *d = state_doc(S, state_msg(f->chat, f->message)->doc);
    if (!d)
        return "Bad Request: the message holds no document";
    if (state_doc_damage(S, d) != 0)
        return "Bad Request: the document's bytes could not be damaged";
    n_corrupted++;
    return NULL;
}

static const struct endpoint {
    const char *name; /* after /_emulator/ */
    int bot, message; /* takes these besides chat */
    const char *(*fn)(const struct fault *f); /* NULL, or the description of a 400 */
} endpoints[] = {
    {"ban", 0, 0, do_ban},       {"unban", 0, 0, do_unban},   {"kick", 1, 0, do_kick},
    {"unkick", 1, 0, do_unkick}, {"delete", 0, 1, do_delete}, {"corrupt", 0, 1, do_corrupt},
};

/* An integer parameter: NULL with *out set, or the description of a 400. */
static const char *int_param(const struct emu_params *p, const char *name, int64_t *out, char *err, size_t errsz)
{
    const char *s = emu_param_str(p, name);
    if (!s || !*s)
        snprintf(err, errsz, "Bad Request: parameter \"%s\" is required", name);
    else if (emu_parse_i64(s, out) != 0)
        snprintf(err, errsz, "Bad Request: parameter \"%s\" is not an integer", name);
    else
        return NULL;
    return err;
}

/* Checks and resolves e's parameters into *f: NULL, or the description of a 400. */
static const char *resolve(const struct endpoint *e, const struct emu_params *p, struct fault *f, char *err,
                           size_t errsz)
{
    int64_t chat = 0;
    for (size_t i = 0; i < p->n; i++) {
        const char *n = p->v[i].name;
        if (strcmp(n, "chat") != 0 && !(e->bot && strcmp(n, "bot") == 0) &&
            !(e->message && strcmp(n, "message") == 0)) {
            snprintf(err, errsz, "Bad Request: unknown parameter \"%.64s\"", n);
            return err;
        }
    }
    if (int_param(p, "chat", &chat, err, errsz))
        return err;
    f->chat = state_chat(S, chat);
    if (!f->chat) {
        snprintf(err, errsz, "Bad Request: chat %" PRId64 " is not one of the emulator's chats (--chat)", chat);
        return err;
    }
    if (e->bot && int_param(p, "bot", &f->bot, err, errsz))
        return err;
    if (e->bot && f->bot <= 0)
        return "Bad Request: parameter \"bot\" is not a bot id";
    if (e->message && int_param(p, "message", &f->message, err, errsz))
        return err;
    if (e->message && (f->message <= 1 || !state_msg(f->chat, f->message)))
        return "Bad Request: no such message in the chat";
    return NULL;
}

static void serve_fault(h2o_req_t *req, const struct endpoint *e)
{
    struct emu_params p;
    struct emu_bare bare = {0, NULL};
    struct fault f = {NULL, 0, 0};
    char err[256];
    if (!h2o_memis(req->method.base, req->method.len, H2O_STRLIT("POST"))) {
        serve_send_json_now(req, 405, serve_error_doc(405, "Method Not Allowed: use POST", 0));
        return;
    }
    if (emu_params_parse(req, &p, &bare) != 0) {
        req->res.status = bare.status;
        req->res.reason = bare.reason;
        h2o_send_inline(req, "", 0);
        return;
    }
    const char *bad = resolve(e, &p, &f, err, sizeof(err));
    if (!bad)
        bad = e->fn(&f);
    if (bad) {
        serve_send_json_now(req, 400, serve_error_doc(400, bad, 0));
        return;
    }
    log_debug("/_emulator/%s chat %" PRId64 " bot %" PRId64 " message %" PRId64, e->name, f.chat->id, f.bot,
             f.message);
    serve_send_json_now(req, 200, json_pack("{s:b}", "ok", 1));
}

/* methods_stats plus the faults of this surface. */
static json_t *stats(void)
{
    json_t *o = methods_stats(), *banned = json_array(), *kicked = json_array();
    for (size_t i = 0; i < S->nchats; i++) {
        const struct emu_chat *c = &S->chats[i];
        if (!c->configured)
            continue;
        if (c->banned)
            json_array_append_new(banned, json_integer(c->id));
        for (size_t k = 0; k < c->nkicked; k++)
            json_array_append_new(kicked, json_pack("{s:I,s:I}", "chat", (json_int_t)c->id, "bot",
                                                    (json_int_t)c->kicked[k]));
    }
    json_object_set_new(o, "banned", banned);
    json_object_set_new(o, "kicked", kicked);
    json_t *faults = json_object_get(o, "faults");
    json_object_set_new(faults, "deleted", json_integer((json_int_t)n_deleted));
    json_object_set_new(faults, "corrupted", json_integer((json_int_t)n_corrupted));
    return o;
}

void admin_init(struct emu_state *st)
{
    S = st;
}

void admin_serve(h2o_req_t *req, const char *path, size_t len)
{
    const char *name = path + 11; /* after "/_emulator/" */
    size_t nlen = len - 11;
    if (nlen == 5 && memcmp(name, "stats", 5) == 0) {
        serve_send_json_now(req, 200, stats());
        return;
    }
    for (size_t i = 0; i < ARRAY_SIZE(endpoints); i++) {
        if (strlen(endpoints[i].name) == nlen && memcmp(name, endpoints[i].name, nlen) == 0) {
            serve_fault(req, &endpoints[i]);
            return;
        }
    }
    serve_send_json_now(req, 404, serve_error_doc(404, "Not Found", 0));
}
