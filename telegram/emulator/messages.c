/* messages.c — the message methods: deleteMessage(s), forwardMessage, copyMessage,
 * editMessageCaption, and the caption rules sendDocument shares.
 *
 * A forward or a copy is a new post that holds the same document (no upload), so it passes
 * the rate limits (rate.c) as sendDocument does; a forward keeps the origin of the first post.
 * Errors carry the real server's descriptions (reference/botapi.md §5.5, §5.8, §5.9).
 */
#include <stdlib.h>
#include <string.h>

#include "telegram/emulator/emu.h"

/* ---- captions ---- */

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

int call_caption(struct emu_call *c, char **out)
{
    const char *cap = emu_param_str(&c->params, "caption");
    *out = NULL;
    if (!cap)
        return 0;
    const char *err = caption_normalise(cap, out);
    if (err) {
        call_fail(c, 400, "%s", err);
        return -1;
    }
    return 1;
}

/* ---- deleteMessage(s) ---- */

/* Bots delete channel posts for 48 h only, never message 1 (the channel creation), §5.5. */
static int deletable(struct emu_chat *ch, int64_t id)
{
    struct emu_msg *m = state_msg(ch, id);
    if (!m || id <= 1)
        return 0;
    return emu_now() < m->date + EMU_DELETE_WINDOW;
}

static void delete_message(struct emu_call *c)
{
    struct emu_chat *ch = call_chat(c, "chat_id", "chat identifier is not specified");
    if (!ch)
        return;
    int64_t id = call_msg_id(c, "message_id");
    if (id <= 0) {
        call_fail(c, 400, "Bad Request: message identifier is not specified");
        return;
    }
    if (!state_msg(ch, id)) {
        call_fail(c, 400, "Bad Request: message to delete not found");
        return;
    }
    if (!deletable(ch, id)) {
        call_fail(c, 400, "Bad Request: message can't be deleted");
        return;
    }
    state_msg_delete(c->st, ch, id);
    call_ok(c, json_true());
}

static void delete_messages(struct emu_call *c)
{
    struct emu_chat *ch = call_chat(c, "chat_id", "chat identifier is not specified");
    json_t *arr = NULL;
    if (!ch)
        goto out;
    const char *s = emu_param_str(&c->params, "message_ids");
    if (!s || !*s) {
        call_fail(c, 400, "Bad Request: message identifiers are not specified");
        goto out;
    }
    json_error_t err;
    arr = json_loads(s, JSON_DECODE_ANY, &err);
    if (!json_is_array(arr)) {
        call_fail(c, 400, "Bad Request: expected an Array of message identifiers");
        goto out;
    }
    size_t n = json_array_size(arr);
    if (n == 0) {
        call_fail(c, 400, "Bad Request: message identifiers are not specified");
        goto out;
    }
    if (n > 100) {
        call_fail(c, 400, "Bad Request: too many message identifiers specified");
        goto out;
    }
    int64_t ids[100];
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(arr, i);
        int64_t id = 0;
        if (json_is_integer(v))
            id = (int64_t)json_integer_value(v);
        else if (!json_is_string(v) || emu_parse_i64(json_string_value(v), &id) != 0) {
            call_fail(c, 400, "Bad Request: can't parse message identifier as a Number");
            goto out;
        }
        if (id <= 0) {
            call_fail(c, 400, "Bad Request: invalid message identifier specified");
            goto out;
        }
        ids[i] = id;
    }
    for (size_t i = 0; i < n; i++) {
        if (state_msg(ch, ids[i]) && !deletable(ch, ids[i])) {
            call_fail(c, 400, "Bad Request: message can't be deleted");
            goto out;
        }
    }
    for (size_t i = 0; i < n; i++)
        if (state_msg(ch, ids[i]))
            state_msg_delete(c->st, ch, ids[i]);
    call_ok(c, json_true());
out:
    json_decref(arr);
}

/* ---- forwardMessage, copyMessage, editMessageCaption ---- */

/* Shared by forwardMessage and copyMessage: resolves target, source and the rate limit. */
static struct emu_msg *resend_source(struct emu_call *c, struct emu_chat **to, struct emu_chat **from,
                                     int64_t *src_id, const char *what)
{
    *to = call_chat(c, "chat_id", "chat_id is empty");
    if (!*to)
        return NULL;
    const char *fs = emu_param_str(&c->params, "from_chat_id");
    if (!fs || !*fs) {
        call_fail(c, 400, "Bad Request: parameter \"from_chat_id\" is required");
        return NULL;
    }
    *from = call_chat(c, "from_chat_id", "chat_id is empty");
    if (!*from)
        return NULL;
    *src_id = call_msg_id(c, "message_id");
    struct emu_msg *m = state_msg(*from, *src_id);
    if (!m || *src_id <= 1) {
        call_fail(c, 400, "Bad Request: message to %s not found", what);
        return NULL;
    }
    if (m->service) {
        call_fail(c, 400, "Bad Request: message can't be %s", strcmp(what, "copy") == 0 ? "copied" : "forwarded");
        return NULL;
    }
    return m;
}

static void forward_message(struct emu_call *c)
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
    int64_t id = state_msg_add(c->st, to, m->doc, cap, fchat, fid, fdate, 0);
    free(cap);
    call_ok(c, call_msg_json(c, to, id));
}

static void copy_message(struct emu_call *c)
{
    struct emu_chat *to, *from;
    int64_t src;
    char *caption = NULL;
    struct emu_msg *m = resend_source(c, &to, &from, &src, "copy");
    if (!m)
        return;
    int given = call_caption(c, &caption);
    if (given < 0)
        return;
    if (!given && m->caption)
        caption = xstrdup(m->caption);
    if (!rate_ok(c, to->id)) {
        free(caption);
        return;
    }
    int64_t id = state_msg_add(c->st, to, m->doc, caption, 0, 0, 0, 0);
    free(caption);
    call_ok(c, json_pack("{s:I}", "message_id", (json_int_t)id));
}

static void edit_caption(struct emu_call *c)
{
    char *caption = NULL;
    struct emu_chat *ch = call_chat(c, "chat_id", "chat_id is empty");
    if (!ch)
        return;
    int64_t id = call_msg_id(c, "message_id");
    struct emu_msg *m = state_msg(ch, id);
    if (!m || id <= 1) {
        call_fail(c, 400, "Bad Request: message to edit not found");
        return;
    }
    if (m->service) {
        call_fail(c, 400, "Bad Request: there is no caption in the message to edit");
        return;
    }
    if (call_caption(c, &caption) < 0)
        return;
    if ((!caption && !m->caption) || (caption && m->caption && strcmp(caption, m->caption) == 0)) {
        free(caption);
        call_fail(c, 400,
             "Bad Request: message is not modified: specified new message content and reply markup are exactly "
             "the same as a current content and reply markup of the message");
        return;
    }
    state_msg_edit(c->st, ch, id, caption);
    free(caption);
    call_ok(c, call_msg_json(c, ch, id));
}

struct emu_method emu_message_methods[] = {
    {"deleteMessage", delete_message, 0, 0},
    {"deleteMessages", delete_messages, 0, 0},
    {"forwardMessage", forward_message, 0, 0},
    {"copyMessage", copy_message, 0, 0},
    {"editMessageCaption", edit_caption, 0, 0},
    {NULL, NULL, 0, 0},
};
