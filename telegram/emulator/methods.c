/* methods.c — the Bot API methods: dispatch, fault dice, what every method shares, and the
 * local methods (getMe, getUpdates, getWebhookInfo, deleteWebhook, logOut, close).
 *
 * Each method reads struct emu_call's parameters and fills call->r: a result (status 200)
 * or an error with the exact description the real server uses (reference/botapi.md §4-6).
 * The methods live by concern, each file handing over a table of them: files.c
 * (sendDocument, getFile), messages.c (delete, forward, copy, edit), chats.c (getChat,
 * getChatMember, pins). Sends (sendDocument, forwardMessage, copyMessage) pass the flood
 * limits first (rate.c). Every configured chat is a channel where every bot is an
 * administrator with all rights. methods_call rolls --fail-429 and --fail-5xx before a method
 * runs; the dice are deterministic (--seed).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "telegram/emulator/emu.h"

static struct emu_state *S;
static uint64_t n_injected_5xx, n_dropped, n_lost, n_getfile_failed;

/* ---- deterministic dice (xorshift64*) ---- */

static uint64_t rng_state = 1;

int methods_roll(double p)
{
    if (p <= 0)
        return 0;
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    uint64_t x = rng_state * 0x2545F4914F6CDD1DULL;
    double u = (double)(x >> 11) / 9007199254740992.0; /* [0,1) */
    return u < p;
}

/* ---- replies and parameters, for every method ---- */

void call_fail(struct emu_call *c, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->r.desc, sizeof(c->r.desc), fmt, ap);
    va_end(ap);
    c->r.status = status;
}

void call_ok(struct emu_call *c, json_t *result)
{
    c->r.status = 200;
    c->r.result = result;
}

void call_too_many(struct emu_call *c, int retry_after)
{
    call_fail(c, 429, "Too Many Requests: retry after %d", retry_after);
    c->r.retry_after = retry_after;
}

int emu_parse_i64(const char *s, int64_t *out)
{
    if (!s)
        return -1;
    while (*s == ' ')
        s++;
    if (!*s)
        return -1;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    while (*end == ' ')
        end++;
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

struct emu_chat *call_chat(struct emu_call *c, const char *param, const char *missing)
{
    const char *s = emu_param_str(&c->params, param);
    int64_t id;
    if (!s || !*s) {
        call_fail(c, 400, "Bad Request: %s", missing);
        return NULL;
    }
    struct emu_chat *ch = emu_parse_i64(s, &id) == 0 ? state_chat(c->st, id) : NULL;
    if (!ch || ch->banned) {
        call_fail(c, 400, "Bad Request: chat not found");
        return NULL;
    }
    if (state_kicked(ch, c->bot_id)) {
        call_fail(c, 403, "Forbidden: bot was kicked from the channel chat");
        return NULL;
    }
    return ch;
}

int64_t call_msg_id(struct emu_call *c, const char *param)
{
    int64_t id = 0;
    if (emu_parse_i64(emu_param_str(&c->params, param), &id) != 0)
        return 0;
    return id;
}

/* ---- JSON shapes ---- */

json_t *emu_chat_json(int64_t id)
{
    char title[64];
    snprintf(title, sizeof(title), "tgs3 %" PRId64, id);
    return json_pack("{s:I,s:s,s:s}", "id", (json_int_t)id, "title", title, "type", "channel");
}

json_t *emu_user_json(int64_t id)
{
    char name[64], user[64];
    snprintf(name, sizeof(name), "tgs3 bot %" PRId64, id);
    snprintf(user, sizeof(user), "tgs3_%" PRId64 "_bot", id);
    return json_pack("{s:I,s:b,s:s,s:s}", "id", (json_int_t)id, "is_bot", 1, "first_name", name, "username", user);
}

static json_t *doc_json(struct emu_doc *d, int64_t bot_id)
{
    char fid[128], uid[64];
    state_file_id(d, bot_id, fid, sizeof(fid));
    state_file_unique_id(d, uid, sizeof(uid));
    json_t *o = json_object();
    if (d->name)
        json_object_set_new(o, "file_name", json_string(d->name));
    if (d->mime)
        json_object_set_new(o, "mime_type", json_string(d->mime));
    json_object_set_new(o, "file_id", json_string(fid));
    json_object_set_new(o, "file_unique_id", json_string(uid));
    json_object_set_new(o, "file_size", json_integer(d->size));
    return o;
}

static json_t *msg_json(struct emu_state *st, struct emu_chat *ch, int64_t id, int64_t bot_id, int depth)
{
    struct emu_msg *m = &ch->msgs[id];
    json_t *o = json_object();
    json_object_set_new(o, "message_id", json_integer(id));
    json_object_set_new(o, "sender_chat", emu_chat_json(ch->id));
    json_object_set_new(o, "chat", emu_chat_json(ch->id));
    json_object_set_new(o, "date", json_integer(m->date));
    if (m->edit_date)
        json_object_set_new(o, "edit_date", json_integer(m->edit_date));
    if (m->fwd_chat) {
        json_object_set_new(o, "forward_origin",
                            json_pack("{s:s,s:o,s:I,s:I}", "type", "channel", "chat", emu_chat_json(m->fwd_chat),
                                      "message_id", (json_int_t)m->fwd_id, "date", (json_int_t)m->fwd_date));
        json_object_set_new(o, "forward_from_chat", emu_chat_json(m->fwd_chat));
        json_object_set_new(o, "forward_from_message_id", json_integer(m->fwd_id));
        json_object_set_new(o, "forward_date", json_integer(m->fwd_date));
    }
    struct emu_doc *d = state_doc(st, m->doc);
    if (d)
        json_object_set_new(o, "document", doc_json(d, bot_id));
    if (m->caption)
        json_object_set_new(o, "caption", json_string(m->caption));
    if (m->pinned && depth == 0 && state_msg(ch, m->pinned))
        json_object_set_new(o, "pinned_message", msg_json(st, ch, m->pinned, bot_id, 1));
    return o;
}


json_t *call_msg_json(struct emu_call *c, struct emu_chat *ch, int64_t id)
{
    return msg_json(c->st, ch, id, c->bot_id, 0);
}

/* ---- the local methods (answered by the server itself, §1.3) ---- */

static void get_me(struct emu_call *c)
{
    json_t *o = emu_user_json(c->bot_id);
    json_object_update_new(o, json_pack("{s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b}", "can_join_groups", 1,
                                        "can_read_all_group_messages", 0, "supports_inline_queries", 0,
                                        "supports_guest_queries", 0, "can_connect_to_business", 0,
                                        "has_main_web_app", 0, "has_topics_enabled", 0,
                                        "allows_users_to_create_topics", 0, "can_manage_bots", 0));
    call_ok(c, o);
}

static void answer_true(struct emu_call *c)
{
    call_ok(c, json_true());
}

static void get_updates(struct emu_call *c)
{
    call_ok(c, json_array());
}

static void get_webhook_info(struct emu_call *c)
{
    call_ok(c, json_pack("{s:s,s:b,s:i}", "url", "", "has_custom_certificate", 0, "pending_update_count", 0));
}

static struct emu_method local_methods[] = {
    {"getMe", get_me, 0, 0},
    {"getUpdates", get_updates, 0, 0},
    {"getWebhookInfo", get_webhook_info, 0, 0},
    {"deleteWebhook", answer_true, 0, 0},
    {"logOut", answer_true, 0, 0},
    {"close", answer_true, 0, 0},
    {NULL, NULL, 0, 0},
};

/* ---- dispatch ---- */

static struct emu_method *const tables[] = {local_methods, emu_file_methods, emu_message_methods,
                                            emu_chat_methods};

static struct emu_method *find(const char *name)
{
    for (size_t t = 0; t < ARRAY_SIZE(tables); t++)
        for (struct emu_method *m = tables[t]; m->name; m++)
            if (strcasecmp(m->name, name) == 0)
                return m;
    return NULL;
}

const char *methods_lookup(const char *name_lc)
{
    struct emu_method *m = find(name_lc);
    return m ? m->name : NULL;
}

void methods_init(struct emu_state *st)
{
    S = st;
    rng_state = emu_cfg.seed ? emu_cfg.seed : 0x9E3779B97F4A7C15ULL;
}

void methods_release(void)
{
    rate_release();
    files_release();
    S = NULL;
}

int methods_file_served(int64_t bot_id, const char *path, const struct stat *sb)
{
    if (!state_restricted(S))
        return 1; /* lost documents have no copies left */
    const struct emu_doc *d = state_doc_of_file(S, path, sb);
    return !d || state_doc_served(S, d, bot_id);
}

void methods_count_fault(const char *what)
{
    if (strcmp(what, "dropped") == 0)
        n_dropped++;
    else if (strcmp(what, "lost") == 0)
        n_lost++;
    else if (strcmp(what, "getfile") == 0)
        n_getfile_failed++;
}

/* The chat a call names, for the per-pair stats (0 when none or not a number). */
static int64_t named_chat(struct emu_call *c)
{
    int64_t id = 0;
    if (emu_parse_i64(emu_param_str(&c->params, "chat_id"), &id) != 0)
        return 0;
    return id;
}

void methods_call(const char *canonical, struct emu_call *call)
{
    struct emu_method *m = find(canonical);
    ASSERT(m != NULL);
    memset(&call->r, 0, sizeof(call->r));
    call->st = S;
    if (!call->reserved) {
        m->calls++;
        if (methods_roll(emu_cfg.fail_429)) {
            call_too_many(call, 1);
            rate_count_injected(call->bot_id, named_chat(call));
        } else if (methods_roll(emu_cfg.fail_5xx)) {
            call_fail(call, 500, "Internal Server Error: restart");
            n_injected_5xx++;
        } else {
            m->fn(call);
        }
    } else {
        m->fn(call);
    }
    if (call->r.defer_ms > 0)
        return; /* not answered yet */
    if (call->r.status != 200)
        m->errors++;
}

json_t *methods_stats(void)
{
    json_t *chats = json_object(), *ms = json_object();
    for (size_t i = 0; i < S->nchats; i++) {
        struct emu_chat *ch = &S->chats[i];
        if (!ch->configured)
            continue;
        char key[32];
        snprintf(key, sizeof(key), "%" PRId64, ch->id);
        json_object_set_new(chats, key,
                            json_pack("{s:I,s:I}", "messages", (json_int_t)ch->live_docs, "bytes",
                                      (json_int_t)ch->live_bytes));
    }
    for (size_t t = 0; t < ARRAY_SIZE(tables); t++) {
        for (const struct emu_method *m = tables[t]; m->name; m++) {
            if (m->calls)
                json_object_set_new(ms, m->name,
                                    json_pack("{s:I,s:I}", "calls", (json_int_t)m->calls, "errors",
                                              (json_int_t)m->errors));
        }
    }
    struct rate_totals tot;
    json_t *pairs = rate_stats(&tot);
    uint64_t limited = tot.rate_limited, injected = tot.injected_429, waits = tot.flood_waits,
             wait_ms = tot.flood_wait_ms;
    json_t *limits = json_pack("{s:i,s:i,s:i,s:I}", "rate_chat", emu_cfg.rate_chat, "rate_bot", emu_cfg.rate_bot,
                               "flood_wait_max", emu_cfg.flood_wait_max, "bandwidth", (json_int_t)emu_cfg.bandwidth);
    json_t *faults = json_pack("{s:I,s:I,s:I,s:I,s:I}", "429", (json_int_t)injected, "5xx",
                               (json_int_t)n_injected_5xx, "dropped", (json_int_t)n_dropped, "lost",
                               (json_int_t)n_lost, "getfile", (json_int_t)n_getfile_failed);
    return json_pack("{s:o,s:o,s:o,s:o,s:o,s:I,s:I,s:I,s:I}", "chats", chats, "methods", ms, "pairs", pairs,
                     "limits", limits, "faults", faults, "too_many", (json_int_t)(limited + injected),
                     "rate_limited", (json_int_t)limited, "flood_waits", (json_int_t)waits, "flood_wait_ms",
                     (json_int_t)wait_ms);
}
