/* methods.c — the Bot API methods of the emulator, its rate limits and fault dice.
 *
 * Each method reads struct emu_call's parameters and fills call->r: a result (status 200)
 * or an error with the exact description the real server uses (reference/botapi.md §4-6).
 * Sends (sendDocument, forwardMessage, copyMessage) pass two token buckets first:
 * per (bot, chat) per minute and per bot per second. Every configured chat is a channel where
 * every bot is an administrator with all rights.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "telegram/emulator/emu.h"

static struct emu_state *S;

/* ---- method table and counters ---- */

struct method {
    const char *name;
    void (*fn)(struct emu_call *c);
    uint64_t calls, errors;
};

static void m_get_me(struct emu_call *c);
static void m_send_document(struct emu_call *c);
static void m_get_file(struct emu_call *c);
static void m_delete_message(struct emu_call *c);
static void m_delete_messages(struct emu_call *c);
static void m_get_chat(struct emu_call *c);
static void m_pin(struct emu_call *c);
static void m_unpin(struct emu_call *c);
static void m_unpin_all(struct emu_call *c);
static void m_forward(struct emu_call *c);
static void m_copy(struct emu_call *c);
static void m_edit_caption(struct emu_call *c);
static void m_true(struct emu_call *c);
static void m_get_updates(struct emu_call *c);
static void m_webhook_info(struct emu_call *c);
static void m_get_chat_member(struct emu_call *c);

static struct method methods[] = {
    {"getMe", m_get_me, 0, 0},
    {"sendDocument", m_send_document, 0, 0},
    {"getFile", m_get_file, 0, 0},
    {"deleteMessage", m_delete_message, 0, 0},
    {"deleteMessages", m_delete_messages, 0, 0},
    {"getChat", m_get_chat, 0, 0},
    {"getChatMember", m_get_chat_member, 0, 0},
    {"pinChatMessage", m_pin, 0, 0},
    {"unpinChatMessage", m_unpin, 0, 0},
    {"unpinAllChatMessages", m_unpin_all, 0, 0},
    {"forwardMessage", m_forward, 0, 0},
    {"copyMessage", m_copy, 0, 0},
    {"editMessageCaption", m_edit_caption, 0, 0},
    {"getUpdates", m_get_updates, 0, 0},
    {"getWebhookInfo", m_webhook_info, 0, 0},
    {"deleteWebhook", m_true, 0, 0},
    {"logOut", m_true, 0, 0},
    {"close", m_true, 0, 0},
};

static struct method *find(const char *name)
{
    for (size_t i = 0; i < ARRAY_SIZE(methods); i++)
        if (strcasecmp(methods[i].name, name) == 0)
            return &methods[i];
    return NULL;
}

const char *methods_lookup(const char *name_lc)
{
    struct method *m = find(name_lc);
    return m ? m->name : NULL;
}

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

/* ---- rate limits: sliding windows ----
 *
 * Each limited key (a bot in a chat, a bot) keeps the times of its last N posts in a ring. A
 * post fits at time t when the N-th latest post is at least the window before t: so at most N
 * posts land in any window, bursts of N included, as Telegram allows short bursts. A post
 * that does not fit now is given the earliest time it does (its slot reserved at once, so
 * concurrent waiters queue in order); a wait up to --flood-wait-max comes back as latency (the
 * call runs again then, as TDLib re-sends a query after FLOOD_WAIT), a longer one as 429. */

struct window {
    int64_t bot, chat; /* chat 0 = the per-bot window */
    int64_t *t; /* ms, ring of the last cap post times, oldest at head */
    int cap, n, head;
};

static struct window *windows;
static size_t nwindows, windowcap;

static struct window *window_get(int64_t bot, int64_t chat, int cap)
{
    for (size_t i = 0; i < nwindows; i++)
        if (windows[i].bot == bot && windows[i].chat == chat)
            return &windows[i];
    if (nwindows == windowcap) {
        windowcap = windowcap ? windowcap * 2 : 16;
        windows = xrealloc(windows, windowcap * sizeof(*windows));
    }
    struct window *w = &windows[nwindows++];
    memset(w, 0, sizeof(*w));
    w->bot = bot;
    w->chat = chat;
    w->cap = cap;
    w->t = xcalloc((size_t)cap, sizeof(*w->t));
    return w;
}

/* Earliest time ≥ now a post fits in w (never before its latest post: the ring stays sorted). */
static int64_t window_fit(const struct window *w, int64_t span_ms, int64_t now)
{
    int64_t t = now;
    if (w->n > 0) {
        int64_t last = w->t[(w->head + w->n - 1) % w->cap];
        if (last > t)
            t = last;
    }
    if (w->n == w->cap && w->t[w->head] + span_ms > t)
        t = w->t[w->head] + span_ms;
    return t;
}

static void window_push(struct window *w, int64_t t)
{
    if (w->n == w->cap) {
        w->t[w->head] = t;
        w->head = (w->head + 1) % w->cap;
    } else {
        w->t[(w->head + w->n++) % w->cap] = t;
    }
}

/* Posts of w within the window ending at t (its newest entries). */
static int window_count(const struct window *w, int64_t span_ms, int64_t t)
{
    int c = 0;
    for (int i = 0; i < w->n; i++)
        if (w->t[(w->head + i) % w->cap] > t - span_ms)
            c++;
    return c;
}

/* Per (bot, chat) counters for the stats. chat 0 collects calls that name no chat. */
struct pair_stat {
    int64_t bot, chat;
    uint64_t posts;         /* posts made */
    uint64_t rate_limited;  /* 429s sent because a window was full for longer than --flood-wait-max */
    uint64_t injected_429;  /* 429s sent by --fail-429 */
    uint64_t flood_waits;   /* posts delayed as latency */
    uint64_t flood_wait_ms; /* ms of such delays */
    int peak_window;        /* most posts of this pair seen in one 60 s window (with --rate-chat) */
};
static struct pair_stat *pstats;
static size_t npstats, pstatcap;
static uint64_t n_injected_5xx, n_dropped, n_lost, n_getfile_failed;

static struct pair_stat *pair_stat(int64_t bot, int64_t chat)
{
    for (size_t i = 0; i < npstats; i++)
        if (pstats[i].bot == bot && pstats[i].chat == chat)
            return &pstats[i];
    if (npstats == pstatcap) {
        pstatcap = pstatcap ? pstatcap * 2 : 16;
        pstats = xrealloc(pstats, pstatcap * sizeof(*pstats));
    }
    struct pair_stat *p = &pstats[npstats++];
    memset(p, 0, sizeof(*p));
    p->bot = bot;
    p->chat = chat;
    return p;
}

void methods_count_fault(const char *what)
{
    if (strcmp(what, "dropped") == 0)
        n_dropped++;
    else if (strcmp(what, "lost") == 0)
        n_lost++;
}

#define CHAT_WINDOW_MS 60000
#define BOT_WINDOW_MS 1000

/* A post by bot into chat: 0 when it may go ahead now (its slot taken); > 0 ms when it was
 * given a later slot within --flood-wait-max (the caller runs the call again then); < 0 when
 * it must be refused with 429, -retry_after seconds. */
static int64_t rate_take(struct emu_call *c, int64_t chat)
{
    struct pair_stat *ps = pair_stat(c->bot_id, chat);
    if (c->reserved) {
        ps->posts++;
        return 0;
    }
    struct window *wc = emu_cfg.rate_chat > 0 ? window_get(c->bot_id, chat, emu_cfg.rate_chat) : NULL;
    struct window *wb = emu_cfg.rate_bot > 0 ? window_get(c->bot_id, 0, emu_cfg.rate_bot) : NULL;
    int64_t now = mono_ms(), t = now;
    if (wc) {
        int64_t f = window_fit(wc, CHAT_WINDOW_MS, now);
        t = f > t ? f : t;
    }
    if (wb) {
        int64_t f = window_fit(wb, BOT_WINDOW_MS, now);
        t = f > t ? f : t;
    }
    int64_t wait = t - now;
    if (wait > (int64_t)emu_cfg.flood_wait_max * 1000 - c->waited_ms) {
        ps->rate_limited++;
        int64_t s = (wait + 999) / 1000;
        return -(s < 1 ? 1 : s);
    }
    if (wc) {
        window_push(wc, t);
        int n = window_count(wc, CHAT_WINDOW_MS, t);
        if (n > ps->peak_window)
            ps->peak_window = n;
    }
    if (wb)
        window_push(wb, t);
    if (wait == 0) {
        ps->posts++;
        return 0;
    }
    ps->flood_waits++;
    ps->flood_wait_ms += (uint64_t)wait;
    return wait;
}

/* ---- downloaded files and --file-ttl ---- */

struct expiring {
    char *path;
    dev_t dev;
    ino_t ino;
    int64_t due_ms;
};
static struct expiring *expq; /* FIFO: due times grow */
static size_t expn, exphead, expcap;

static void expire_add(const char *path)
{
    struct stat sb;
    if (emu_cfg.file_ttl <= 0 || stat(path, &sb) != 0)
        return;
    if (exphead > 0 && exphead == expn) {
        expn = exphead = 0;
    }
    if (expn == expcap) {
        if (exphead > 0) {
            memmove(expq, expq + exphead, (expn - exphead) * sizeof(*expq));
            expn -= exphead;
            exphead = 0;
        }
        if (expn == expcap) {
            expcap = expcap ? expcap * 2 : 64;
            expq = xrealloc(expq, expcap * sizeof(*expq));
        }
    }
    struct expiring *e = &expq[expn++];
    e->path = xstrdup(path);
    e->dev = sb.st_dev;
    e->ino = sb.st_ino;
    e->due_ms = mono_ms() + (int64_t)emu_cfg.file_ttl * 1000;
}

void methods_expire_files(void)
{
    int64_t now = mono_ms();
    while (exphead < expn && expq[exphead].due_ms <= now) {
        struct expiring *e = &expq[exphead++];
        struct stat sb;
        /* The name may have been reused for another document since: only this copy goes. */
        if (stat(e->path, &sb) == 0 && sb.st_dev == e->dev && sb.st_ino == e->ino)
            unlink(e->path);
        free(e->path);
    }
}

/* ---- replies ---- */

static void fail(struct emu_call *c, int status, const char *fmt, ...) PRINTF_LIKE(3, 4);
static void fail(struct emu_call *c, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->r.desc, sizeof(c->r.desc), fmt, ap);
    va_end(ap);
    c->r.status = status;
}

static void ok(struct emu_call *c, json_t *result)
{
    c->r.status = 200;
    c->r.result = result;
}

static void too_many(struct emu_call *c, int retry_after)
{
    fail(c, 429, "Too Many Requests: retry after %d", retry_after);
    c->r.retry_after = retry_after;
}

/* Applies rate_take's verdict: 1 when the post goes ahead now, else the reply is set. */
static int rate_ok(struct emu_call *c, int64_t chat)
{
    int64_t v = rate_take(c, chat);
    if (v == 0)
        return 1;
    if (v < 0)
        too_many(c, (int)-v);
    else
        c->r.defer_ms = v;
    return 0;
}

/* ---- parameter helpers ---- */

static int parse_i64(const char *s, int64_t *out)
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

/* Resolves a chat parameter; on failure fills the reply and returns NULL. */
static struct emu_chat *get_chat(struct emu_call *c, const char *param, const char *missing)
{
    const char *s = emu_param_str(&c->params, param);
    int64_t id;
    if (!s || !*s) {
        fail(c, 400, "Bad Request: %s", missing);
        return NULL;
    }
    struct emu_chat *ch = parse_i64(s, &id) == 0 ? state_chat(S, id) : NULL;
    if (!ch)
        fail(c, 400, "Bad Request: chat not found");
    return ch;
}

static int64_t get_msg_id(struct emu_call *c, const char *param)
{
    int64_t id = 0;
    if (parse_i64(emu_param_str(&c->params, param), &id) != 0)
        return 0;
    return id;
}

/* Decodes one UTF-8 code point at s; returns its length or 0 when invalid. */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t len;
    uint32_t v, min;
    if ((s[0] & 0xE0) == 0xC0) {
        len = 2;
        v = s[0] & 0x1Fu;
        min = 0x80;
    } else if ((s[0] & 0xF0) == 0xE0) {
        len = 3;
        v = s[0] & 0x0Fu;
        min = 0x800;
    } else if ((s[0] & 0xF8) == 0xF0) {
        len = 4;
        v = s[0] & 0x07u;
        min = 0x10000;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3Fu);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return len;
}

/* Caption rules (§5.2): UTF-8 only; control bytes become spaces, CR and U+2028..U+202E
 * vanish, surrounding whitespace is trimmed, at most 1024 code points. *out is NULL for an
 * empty caption, else malloc'ed. Returns NULL or an error description. */
static const char *caption_normalise(const char *in, char **out)
{
    size_t n = strlen(in);
    *out = NULL;
    if (n > 32768)
        return "Bad Request: text is too long";
    const unsigned char *s = (const unsigned char *)in;
    char *buf = xmalloc(n + 1);
    size_t o = 0, cps = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = utf8_next(s + i, n - i, &cp);
        if (l == 0) {
            free(buf);
            return "Bad Request: strings must be encoded in UTF-8";
        }
        if (cp == '\r' || (cp >= 0x2028 && cp <= 0x202E)) {
            i += l;
            continue;
        }
        if (cp < 0x20 && cp != '\n')
            buf[o++] = ' ';
        else {
            memcpy(buf + o, s + i, l);
            o += l;
        }
        i += l;
    }
    size_t a = 0;
    while (a < o && (buf[a] == ' ' || buf[a] == '\n'))
        a++;
    while (o > a && (buf[o - 1] == ' ' || buf[o - 1] == '\n'))
        o--;
    for (size_t i = a; i < o; i++)
        if (((unsigned char)buf[i] & 0xC0) != 0x80)
            cps++;
    if (cps > EMU_CAPTION_MAX) {
        free(buf);
        return "Bad Request: message caption is too long";
    }
    if (o == a) {
        free(buf);
        return NULL;
    }
    memmove(buf, buf + a, o - a);
    buf[o - a] = '\0';
    *out = buf;
    return NULL;
}

/* ---- JSON shapes ---- */

static json_t *chat_json(int64_t id)
{
    char title[64];
    snprintf(title, sizeof(title), "tgs3 %" PRId64, id);
    return json_pack("{s:I,s:s,s:s}", "id", (json_int_t)id, "title", title, "type", "channel");
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

static json_t *msg_json(struct emu_chat *ch, int64_t id, int64_t bot_id, int depth)
{
    struct emu_msg *m = &ch->msgs[id];
    json_t *o = json_object();
    json_object_set_new(o, "message_id", json_integer(id));
    json_object_set_new(o, "sender_chat", chat_json(ch->id));
    json_object_set_new(o, "chat", chat_json(ch->id));
    json_object_set_new(o, "date", json_integer(m->date));
    if (m->edit_date)
        json_object_set_new(o, "edit_date", json_integer(m->edit_date));
    if (m->fwd_chat) {
        json_object_set_new(o, "forward_origin",
                            json_pack("{s:s,s:o,s:I,s:I}", "type", "channel", "chat", chat_json(m->fwd_chat),
                                      "message_id", (json_int_t)m->fwd_id, "date", (json_int_t)m->fwd_date));
        json_object_set_new(o, "forward_from_chat", chat_json(m->fwd_chat));
        json_object_set_new(o, "forward_from_message_id", json_integer(m->fwd_id));
        json_object_set_new(o, "forward_date", json_integer(m->fwd_date));
    }
    struct emu_doc *d = state_doc(S, m->doc);
    if (d)
        json_object_set_new(o, "document", doc_json(d, bot_id));
    if (m->caption)
        json_object_set_new(o, "caption", json_string(m->caption));
    if (m->pinned && depth == 0 && state_msg(ch, m->pinned))
        json_object_set_new(o, "pinned_message", msg_json(ch, m->pinned, bot_id, 1));
    return o;
}

/* ---- methods ---- */

static void m_get_me(struct emu_call *c)
{
    char name[64], user[64];
    snprintf(name, sizeof(name), "tgs3 bot %" PRId64, c->bot_id);
    snprintf(user, sizeof(user), "tgs3_%" PRId64 "_bot", c->bot_id);
    ok(c, json_pack("{s:I,s:b,s:s,s:s,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b}", "id", (json_int_t)c->bot_id, "is_bot",
                    1, "first_name", name, "username", user, "can_join_groups", 1, "can_read_all_group_messages", 0,
                    "supports_inline_queries", 0, "supports_guest_queries", 0, "can_connect_to_business", 0,
                    "has_main_web_app", 0, "has_topics_enabled", 0, "allows_users_to_create_topics", 0,
                    "can_manage_bots", 0));
}

static void m_true(struct emu_call *c)
{
    ok(c, json_true());
}

static void m_get_updates(struct emu_call *c)
{
    ok(c, json_array());
}

static void m_webhook_info(struct emu_call *c)
{
    ok(c, json_pack("{s:s,s:b,s:i}", "url", "", "has_custom_certificate", 0, "pending_update_count", 0));
}

static const char *mime_of(const char *name)
{
    static const char *const table[][2] = {
        {"bin", "application/octet-stream"}, {"txt", "text/plain"}, {"json", "application/json"},
        {"pdf", "application/pdf"}, {"zip", "application/zip"}, {"gz", "application/gzip"},
        {"tar", "application/x-tar"}, {"jpg", "image/jpeg"}, {"jpeg", "image/jpeg"}, {"png", "image/png"},
        {"gif", "image/gif"}, {"mp4", "video/mp4"}, {"mp3", "audio/mpeg"}, {"html", "text/html"},
        {"xml", "application/xml"}, {"csv", "text/csv"}, {"db", "application/octet-stream"},
    };
    const char *dot = name ? strrchr(name, '.') : NULL;
    if (!dot)
        return NULL;
    for (size_t i = 0; i < ARRAY_SIZE(table); i++)
        if (strcasecmp(dot + 1, table[i][0]) == 0)
            return table[i][1];
    return NULL;
}

/* td's clean_filename, simplified: separators and control chars become spaces, surrounding
 * spaces and dots go, stem <= 64 and extension <= 16 bytes, empty becomes "file". */
static char *clean_filename(const char *in)
{
    const char *base = in ? in : "";
    const char *slash = strrchr(base, '/');
    if (slash)
        base = slash + 1;
    size_t n = strlen(base);
    char *s = xmalloc(n + 5);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)base[i];
        s[i] = (ch < 0x20 || strchr("<>:\"/\\|?*&`'", ch)) ? ' ' : (char)ch;
    }
    size_t a = 0, b = n;
    while (a < b && (s[a] == ' ' || s[a] == '.'))
        a++;
    while (b > a && (s[b - 1] == ' ' || s[b - 1] == '.'))
        b--;
    memmove(s, s + a, b - a);
    s[b - a] = '\0';
    char *dot = strrchr(s, '.');
    size_t stem = dot ? (size_t)(dot - s) : strlen(s);
    if (dot && strlen(dot + 1) > 16)
        dot[17] = '\0';
    if (stem > 64) {
        memmove(s + 64, s + stem, strlen(s + stem) + 1);
    }
    if (!*s)
        strcpy(s, "file");
    return s;
}

/* Local mode file:// → a path, as the real server parses it (§2). */
static char *file_uri_path(h2o_mem_pool_t *pool, const char *uri)
{
    const char *p = uri + 5; /* after "file:" */
    if (strncmp(p, "//localhost/", 12) == 0)
        p += 11;
    else if (strncmp(p, "//", 2) == 0)
        p += 1;
    return emu_url_decode(pool, p, strlen(p), NULL);
}

static int copy_file(int in, int out, int64_t size)
{
    off_t off = 0;
    while (off < size) {
        size_t want = (size_t)(size - off) > (1u << 30) ? (1u << 30) : (size_t)(size - off);
        ssize_t n = sendfile(out, in, &off, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
    }
    return 0;
}

static void m_send_document(struct emu_call *c)
{
    char *caption = NULL, *fname = NULL;
    int in = -1;
    struct emu_chat *ch = get_chat(c, "chat_id", "chat_id is empty");
    if (!ch)
        goto out;
    const struct emu_param *doc = emu_param_get(&c->params, "document");
    if (doc && !doc->is_file && strncmp(doc->val, "attach://", 9) == 0) {
        const char *want = doc->val + 9;
        doc = NULL;
        for (size_t i = 0; i < c->params.n && !doc; i++)
            if (c->params.v[i].is_file && strcmp(c->params.v[i].name, want) == 0)
                doc = &c->params.v[i];
    }
    if (!doc) {
        fail(c, 400, "Bad Request: there is no document in the request");
        goto out;
    }
    const char *cap = emu_param_str(&c->params, "caption");
    if (cap) {
        const char *err = caption_normalise(cap, &caption);
        if (err) {
            fail(c, 400, "%s", err);
            goto out;
        }
    }
    uint64_t reuse = 0;
    const char *path = NULL;
    int64_t size = 0;
    if (doc->is_file) {
        size = (int64_t)doc->len;
        fname = clean_filename(doc->filename);
    } else if (emu_cfg.local && strncmp(doc->val, "file:", 5) == 0) {
        path = file_uri_path(&c->req->pool, doc->val);
        struct stat sb;
        in = open(path, O_RDONLY | O_CLOEXEC);
        if (in < 0 || fstat(in, &sb) != 0) {
            fail(c, 400, "Bad Request: can't find real file path");
            goto out;
        }
        if (!S_ISREG(sb.st_mode)) {
            fail(c, 400, "Bad Request: file must be a regular file");
            goto out;
        }
        size = (int64_t)sb.st_size;
        fname = clean_filename(path);
    } else if (strncmp(doc->val, "http://", 7) == 0 || strncmp(doc->val, "https://", 8) == 0) {
        fail(c, 400, "Bad Request: wrong file identifier/HTTP URL specified");
        goto out;
    } else if (state_file_id_parse(S, doc->val, c->bot_id, &reuse) != 0) {
        fail(c, 400, "Bad Request: wrong remote file identifier specified: can't unserialize it");
        goto out;
    }
    if (!reuse) {
        if (size == 0) {
            fail(c, 400, "Bad Request: file must be non-empty");
            goto out;
        }
        if (!emu_cfg.local && size > EMU_CLOUD_MAX_UPLOAD) {
            fail(c, 413, "Request Entity Too Large");
            goto out;
        }
        if (size > EMU_LOCAL_MAX_FILE) {
            fail(c, 400, "Bad Request: FILE_PARTS_INVALID");
            goto out;
        }
    }
    if (!rate_ok(c, ch->id))
        goto out;
    if (!reuse) {
        uint64_t id = state_doc_reserve(S);
        char dst[4096];
        state_doc_path(S, id, dst, sizeof(dst));
        int rc = docs_store(in, in >= 0 ? NULL : doc->val, size, dst); /* docs.c: where Telegram's copy lives */
        if (rc != 0) {
            log_error("store %s: %s", dst, strerror(errno));
            unlink(dst);
            fail(c, 500, "Internal Server Error: can't upload the file");
            goto out;
        }
        state_doc_add(S, id, size, fname, mime_of(fname));
        reuse = id;
    }
    int64_t mid = state_msg_add(S, ch, reuse, caption, 0, 0, 0, 0);
    ok(c, msg_json(ch, mid, c->bot_id, 0));
out:
    if (in >= 0)
        close(in);
    free(caption);
    free(fname);
}

static int mkdir_p(const char *path)
{
    if (mkdir(path, 0750) == 0 || errno == EEXIST)
        return 0;
    return -1;
}

/* Gives the bot its own copy (a hard link) of the document, as getFile downloads it. */
static int materialise(struct emu_call *c, struct emu_doc *d, char *out, size_t outsz)
{
    char src[4096], dir[3072];
    state_doc_path(S, d->id, src, sizeof(src));
    struct stat ssb, lsb;
    if (stat(src, &ssb) != 0)
        return -1;
    for (struct emu_link *l = d->links; l; l = l->next) {
        if (strcmp(l->token, c->token) == 0 && stat(l->path, &lsb) == 0 && lsb.st_ino == ssb.st_ino &&
            lsb.st_dev == ssb.st_dev) {
            snprintf(out, outsz, "%s", l->path);
            return 0; /* downloaded before: its --file-ttl runs from then */
        }
    }
    snprintf(dir, sizeof(dir), "%s/%s", emu_cfg.dir, c->token);
    if (mkdir_p(dir) != 0)
        return -1;
    snprintf(dir, sizeof(dir), "%s/%s/documents", emu_cfg.dir, c->token);
    if (mkdir_p(dir) != 0)
        return -1;
    for (unsigned n = 0; n < 1000000; n++) {
        snprintf(out, outsz, "%s/file_%u", dir, n);
        if (link(src, out) == 0) {
            state_doc_link_add(d, c->token, out);
            expire_add(out);
            return 0;
        }
        if (errno == EEXIST)
            continue;
        /* Another file system: copy. */
        int ifd = open(src, O_RDONLY | O_CLOEXEC);
        int ofd = open(out, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        int rc = ifd >= 0 && ofd >= 0 ? copy_file(ifd, ofd, d->size) : -1;
        if (ifd >= 0)
            close(ifd);
        if (ofd >= 0)
            close(ofd);
        if (rc != 0) {
            if (ofd >= 0)
                unlink(out);
            if (errno == EEXIST)
                continue;
            return -1;
        }
        state_doc_link_add(d, c->token, out);
        expire_add(out);
        return 0;
    }
    return -1;
}

static void m_get_file(struct emu_call *c)
{
    const char *fid = emu_param_str(&c->params, "file_id");
    uint64_t id;
    if (!fid || !*fid) {
        fail(c, 400, "Bad Request: file_id not specified");
        return;
    }
    if (state_file_id_parse(S, fid, c->bot_id, &id) != 0) {
        fail(c, 400, "Bad Request: invalid file_id");
        return;
    }
    struct emu_doc *d = state_doc(S, id);
    if (!emu_cfg.local && d->size > EMU_CLOUD_MAX_DOWNLOAD) {
        fail(c, 400, "Bad Request: file is too big");
        return;
    }
    char path[4096];
    if (methods_roll(emu_cfg.fail_getfile)) {
        /* The server's own download from Telegram failed (§5.3): a client retries. */
        n_getfile_failed++;
        fail(c, 400, "Bad Request: wrong file_id or the file is temporarily unavailable");
        return;
    }
    if (materialise(c, d, path, sizeof(path)) != 0) {
        fail(c, 400, "Bad Request: wrong file_id or the file is temporarily unavailable");
        return;
    }
    json_t *o = json_object();
    char fidbuf[128], uid[64];
    state_file_id(d, c->bot_id, fidbuf, sizeof(fidbuf));
    state_file_unique_id(d, uid, sizeof(uid));
    json_object_set_new(o, "file_id", json_string(fidbuf));
    json_object_set_new(o, "file_unique_id", json_string(uid));
    json_object_set_new(o, "file_size", json_integer(d->size));
    if (emu_cfg.local) {
        json_object_set_new(o, "file_path", json_string(path));
        /* The local server answers once it has downloaded the file from Telegram. */
        if (emu_cfg.bandwidth > 0)
            c->r.delay_ms = d->size * 1000 / emu_cfg.bandwidth;
    } else {
        const char *rel = strrchr(path, '/');
        char relbuf[128];
        snprintf(relbuf, sizeof(relbuf), "documents/%s", rel + 1);
        json_object_set_new(o, "file_path", json_string(relbuf));
    }
    ok(c, o);
}

static int deletable(struct emu_chat *ch, int64_t id)
{
    struct emu_msg *m = state_msg(ch, id);
    if (!m || id <= 1)
        return 0;
    return emu_now() < m->date + EMU_DELETE_WINDOW;
}

static void m_delete_message(struct emu_call *c)
{
    struct emu_chat *ch = get_chat(c, "chat_id", "chat identifier is not specified");
    if (!ch)
        return;
    int64_t id = get_msg_id(c, "message_id");
    if (id <= 0) {
        fail(c, 400, "Bad Request: message identifier is not specified");
        return;
    }
    if (!state_msg(ch, id)) {
        fail(c, 400, "Bad Request: message to delete not found");
        return;
    }
    if (!deletable(ch, id)) {
        fail(c, 400, "Bad Request: message can't be deleted");
        return;
    }
    state_msg_delete(S, ch, id);
    ok(c, json_true());
}

static void m_delete_messages(struct emu_call *c)
{
    struct emu_chat *ch = get_chat(c, "chat_id", "chat identifier is not specified");
    json_t *arr = NULL;
    if (!ch)
        goto out;
    const char *s = emu_param_str(&c->params, "message_ids");
    if (!s || !*s) {
        fail(c, 400, "Bad Request: message identifiers are not specified");
        goto out;
    }
    json_error_t err;
    arr = json_loads(s, JSON_DECODE_ANY, &err);
    if (!json_is_array(arr)) {
        fail(c, 400, "Bad Request: expected an Array of message identifiers");
        goto out;
    }
    size_t n = json_array_size(arr);
    if (n == 0) {
        fail(c, 400, "Bad Request: message identifiers are not specified");
        goto out;
    }
    if (n > 100) {
        fail(c, 400, "Bad Request: too many message identifiers specified");
        goto out;
    }
    int64_t ids[100];
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, i);
        int64_t id = 0;
        if (json_is_integer(v))
            id = (int64_t)json_integer_value(v);
        else if (!json_is_string(v) || parse_i64(json_string_value(v), &id) != 0) {
            fail(c, 400, "Bad Request: can't parse message identifier as a Number");
            goto out;
        }
        if (id <= 0) {
            fail(c, 400, "Bad Request: invalid message identifier specified");
            goto out;
        }
        ids[i] = id;
    }
    for (size_t i = 0; i < n; i++) {
        if (state_msg(ch, ids[i]) && !deletable(ch, ids[i])) {
            fail(c, 400, "Bad Request: message can't be deleted");
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (state_msg(ch, ids[i]))
            state_msg_delete(S, ch, ids[i]);
    ok(c, json_true());
out:
    json_decref(arr);
}

static void m_get_chat(struct emu_call *c)
{
    struct emu_chat *ch = get_chat(c, "chat_id", "chat_id is empty");
    if (!ch)
        return;
    json_t *o = chat_json(ch->id);
    if (ch->npins)
        json_object_set_new(o, "pinned_message", msg_json(ch, ch->pins[ch->npins - 1], c->bot_id, 0));
    json_object_set_new(o, "max_reaction_count", json_integer(11));
    json_object_set_new(o, "accent_color_id", json_integer((json_int_t)((uint64_t)(-ch->id) % 7)));
    ok(c, o);
}

/* Every bot is an administrator of every configured chat, with the rights a storage channel needs. */
static void m_get_chat_member(struct emu_call *c)
{
    struct emu_chat *ch = get_chat(c, "chat_id", "chat_id is empty");
    if (!ch)
        return;
    int64_t uid = get_msg_id(c, "user_id");
    if (uid <= 0) {
        fail(c, 400, "Bad Request: invalid user_id specified");
        return;
    }
    char name[64], user[64];
    snprintf(name, sizeof(name), "tgs3 bot %" PRId64, uid);
    snprintf(user, sizeof(user), "tgs3_%" PRId64 "_bot", uid);
    json_t *u = json_pack("{s:I,s:b,s:s,s:s}", "id", (json_int_t)uid, "is_bot", 1, "first_name", name, "username",
                          user);
    ok(c, json_pack("{s:s,s:o,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b}", "status", "administrator", "user", u,
                    "can_be_edited", 0, "is_anonymous", 0, "can_manage_chat", 1, "can_delete_messages", 1,
                    "can_manage_video_chats", 0, "can_restrict_members", 0, "can_promote_members", 0,
                    "can_change_info", 0, "can_invite_users", 1, "can_post_messages", 1, "can_edit_messages", 1,
                    "can_post_stories", 0));
}

static void m_pin(struct emu_call *c)
{
    struct emu_chat *ch = get_chat(c, "chat_id", "chat_id is empty");
    if (!ch)
        return;
    int64_t id = get_msg_id(c, "message_id");
    if (!state_msg(ch, id) || id <= 1) {
        fail(c, 400, "Bad Request: message to pin not found");
        return;
    }
    state_pin(S, ch, id);
    state_msg_add(S, ch, 0, NULL, 0, 0, 0, id);
    ok(c, json_true());
}

static void m_unpin(struct emu_call *c)
{
    struct emu_chat *ch = get_chat(c, "chat_id", "chat_id is empty");
    if (!ch)
        return;
    const char *s = emu_param_str(&c->params, "message_id");
    if (s && *s) {
        int64_t id = get_msg_id(c, "message_id");
        if (!state_msg(ch, id)) {
            fail(c, 400, "Bad Request: message to unpin not found");
            return;
        }
        state_unpin(S, ch, id);
    } else if (ch->npins) {
        state_unpin(S, ch, ch->pins[ch->npins - 1]);
    }
    ok(c, json_true());
}

static void m_unpin_all(struct emu_call *c)
{
    struct emu_chat *ch = get_chat(c, "chat_id", "chat_id is empty");
    if (!ch)
        return;
    while (ch->npins)
        state_unpin(S, ch, ch->pins[ch->npins - 1]);
    ok(c, json_true());
}

/* Shared by forwardMessage and copyMessage: resolves target, source and the rate limit. */
static struct emu_msg *resend_source(struct emu_call *c, struct emu_chat **to, struct emu_chat **from,
                                     int64_t *src_id, const char *what)
{
    *to = get_chat(c, "chat_id", "chat_id is empty");
    if (!*to)
        return NULL;
    const char *fs = emu_param_str(&c->params, "from_chat_id");
    if (!fs || !*fs) {
        fail(c, 400, "Bad Request: parameter \"from_chat_id\" is required");
        return NULL;
    }
    *from = get_chat(c, "from_chat_id", "chat_id is empty");
    if (!*from)
        return NULL;
    *src_id = get_msg_id(c, "message_id");
    struct emu_msg *m = state_msg(*from, *src_id);
    if (!m || *src_id <= 1) {
        fail(c, 400, "Bad Request: message to %s not found", what);
        return NULL;
    }
    if (m->service) {
        fail(c, 400, "Bad Request: message can't be %s", strcmp(what, "copy") == 0 ? "copied" : "forwarded");
        return NULL;
    }
    return m;
}

static void m_forward(struct emu_call *c)
{
    struct emu_chat *to, *from;
    int64_t src;
    struct emu_msg *m = resend_source(c, &to, &from, &src, "forward");
    if (!m)
        return;
    if (!rate_ok(c, to->id))
        return;
    int64_t fchat = m->fwd_chat ? m->fwd_chat : from->id;
    int64_t fid = m->fwd_chat ? m->fwd_id : src;
    int64_t fdate = m->fwd_chat ? m->fwd_date : m->date;
    char *cap = m->caption ? xstrdup(m->caption) : NULL;
    int64_t id = state_msg_add(S, to, m->doc, cap, fchat, fid, fdate, 0);
    free(cap);
    ok(c, msg_json(to, id, c->bot_id, 0));
}

static void m_copy(struct emu_call *c)
{
    struct emu_chat *to, *from;
    int64_t src;
    char *caption = NULL;
    struct emu_msg *m = resend_source(c, &to, &from, &src, "copy");
    if (!m)
        return;
    const char *cap = emu_param_str(&c->params, "caption");
    if (cap) {
        const char *err = caption_normalise(cap, &caption);
        if (err) {
            fail(c, 400, "%s", err);
            return;
        }
    } else if (m->caption) {
        caption = xstrdup(m->caption);
    }
    if (!rate_ok(c, to->id)) {
        free(caption);
        return;
    }
    int64_t id = state_msg_add(S, to, m->doc, caption, 0, 0, 0, 0);
    free(caption);
    ok(c, json_pack("{s:I}", "message_id", (json_int_t)id));
}

static void m_edit_caption(struct emu_call *c)
{
    char *caption = NULL;
    struct emu_chat *ch = get_chat(c, "chat_id", "chat_id is empty");
    if (!ch)
        return;
    int64_t id = get_msg_id(c, "message_id");
    struct emu_msg *m = state_msg(ch, id);
    if (!m || id <= 1) {
        fail(c, 400, "Bad Request: message to edit not found");
        return;
    }
    if (m->service) {
        fail(c, 400, "Bad Request: there is no caption in the message to edit");
        return;
    }
    const char *cap = emu_param_str(&c->params, "caption");
    if (cap) {
        const char *err = caption_normalise(cap, &caption);
        if (err) {
            fail(c, 400, "%s", err);
            return;
        }
    }
    if ((!caption && !m->caption) || (caption && m->caption && strcmp(caption, m->caption) == 0)) {
        free(caption);
        fail(c, 400,
             "Bad Request: message is not modified: specified new message content and reply markup are exactly "
             "the same as a current content and reply markup of the message");
        return;
    }
    state_msg_edit(S, ch, id, caption);
    free(caption);
    ok(c, msg_json(ch, id, c->bot_id, 0));
}

/* ---- entry points ---- */

void methods_init(struct emu_state *st)
{
    S = st;
    rng_state = emu_cfg.seed ? emu_cfg.seed : 0x9E3779B97F4A7C15ULL;
}

void methods_release(void)
{
    for (size_t i = 0; i < nwindows; i++)
        free(windows[i].t);
    free(windows);
    windows = NULL;
    nwindows = windowcap = 0;
    free(pstats);
    pstats = NULL;
    npstats = pstatcap = 0;
    for (size_t i = exphead; i < expn; i++)
        free(expq[i].path);
    free(expq);
    expq = NULL;
    expn = exphead = expcap = 0;
    S = NULL;
}

/* The chat a call names, for the per-pair stats (0 when none or not a number). */
static int64_t call_chat(struct emu_call *c)
{
    int64_t id = 0;
    if (parse_i64(emu_param_str(&c->params, "chat_id"), &id) != 0)
        return 0;
    return id;
}

void methods_call(const char *canonical, struct emu_call *call)
{
    struct method *m = find(canonical);
    ASSERT(m != NULL);
    memset(&call->r, 0, sizeof(call->r));
    if (!call->reserved) {
        m->calls++;
        if (methods_roll(emu_cfg.fail_429)) {
            too_many(call, 1);
            pair_stat(call->bot_id, call_chat(call))->injected_429++;
        } else if (methods_roll(emu_cfg.fail_5xx)) {
            fail(call, 500, "Internal Server Error: restart");
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
    for (size_t i = 0; i < ARRAY_SIZE(methods); i++) {
        if (!methods[i].calls)
            continue;
        json_object_set_new(ms, methods[i].name,
                            json_pack("{s:I,s:I}", "calls", (json_int_t)methods[i].calls, "errors",
                                      (json_int_t)methods[i].errors));
    }
    json_t *pairs = json_array();
    uint64_t limited = 0, injected = 0, waits = 0, wait_ms = 0;
    for (size_t i = 0; i < npstats; i++) {
        struct pair_stat *p = &pstats[i];
        json_array_append_new(pairs, json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:i}", "bot", (json_int_t)p->bot,
                                               "chat", (json_int_t)p->chat, "posts", (json_int_t)p->posts,
                                               "too_many", (json_int_t)(p->rate_limited + p->injected_429),
                                               "rate_limited", (json_int_t)p->rate_limited, "injected_429",
                                               (json_int_t)p->injected_429, "flood_waits",
                                               (json_int_t)p->flood_waits, "flood_wait_ms",
                                               (json_int_t)p->flood_wait_ms, "peak_60s", p->peak_window));
        limited += p->rate_limited;
        injected += p->injected_429;
        waits += p->flood_waits;
        wait_ms += p->flood_wait_ms;
    }
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
