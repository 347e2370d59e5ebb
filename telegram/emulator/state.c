/* state.c — chats, messages, documents and pins, kept in memory and in a journal.
 *
 * DESIGN. Every mutation is one JSON line appended to DIR/state.jsonl (flushed, not fsynced)
 * and applied by the same function that replays it at start, so a restart rebuilds exactly the
 * state that was answered. Document bytes live in DIR/cloud/<doc id>, one plain file each,
 * exactly as uploaded; forwarded and copied messages share the document. A document's file is
 * removed when its last live message goes. Message ids are per chat and sequential from 2
 * (1 is the channel creation). file_ids encode (bot id, doc id) plus a check keyed with the
 * document's random secret, so a file_id works only for the bot it was given to.
 * Faults of /_emulator/ are journaled the same way: a banned chat, bots kicked from a chat,
 * and messages an admin deleted ("gone"): a document only such messages held keeps its
 * record (lost, its bytes removed), so its file_ids still parse but it is never served.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "telegram/emulator/emu.h"

#define FILE_ID_PREFIX "BQACAgIAAx0E"
#define FILE_ID_PAYLOAD 25 /* bytes: version, bot id, doc id, check */

static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t b64_encode(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = b64url[(acc >> bits) & 63];
        }
    }
    if (bits > 0)
        out[o++] = b64url[(acc << (6 - bits)) & 63];
    out[o] = '\0';
    return o;
}

/* Returns decoded length or -1. */
static long b64_decode(const char *in, unsigned char *out, size_t outsz)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (const char *p = in; *p; p++) {
        const char *f = strchr(b64url, *p);
        if (!f || *p == '\0')
            return -1;
        acc = (acc << 6) | (uint32_t)(f - b64url);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o == outsz)
                return -1;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return (long)o;
}

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static uint64_t file_check(const struct emu_doc *d, int64_t bot_id)
{
    return mix64(d->secret ^ mix64((uint64_t)bot_id ^ 0x5bd1e995ULL));
}

void state_file_id(const struct emu_doc *d, int64_t bot_id, char *out, size_t outsz)
{
    unsigned char raw[FILE_ID_PAYLOAD];
    char enc[64];
    raw[0] = 1;
    put64(raw + 1, (uint64_t)bot_id);
    put64(raw + 9, d->id);
    put64(raw + 17, file_check(d, bot_id));
    b64_encode(raw, sizeof(raw), enc);
    snprintf(out, outsz, "%s%s", FILE_ID_PREFIX, enc);
}

void state_file_unique_id(const struct emu_doc *d, char *out, size_t outsz)
{
    unsigned char raw[8];
    char enc[16];
    put64(raw, mix64(d->secret ^ 0xa5a5a5a5a5a5a5a5ULL));
    b64_encode(raw, sizeof(raw), enc);
    snprintf(out, outsz, "AgAD%s", enc);
}

int state_file_id_parse(struct emu_state *st, const char *s, int64_t bot_id, uint64_t *doc_id)
{
    size_t plen = strlen(FILE_ID_PREFIX);
    unsigned char raw[FILE_ID_PAYLOAD + 1];
    if (strncmp(s, FILE_ID_PREFIX, plen) != 0)
        return -1;
    if (b64_decode(s + plen, raw, sizeof(raw)) != FILE_ID_PAYLOAD || raw[0] != 1)
        return -1;
    uint64_t bot = get64(raw + 1), id = get64(raw + 9), check = get64(raw + 17);
    if (bot != (uint64_t)bot_id)
        return -2;
    struct emu_doc *d = state_doc(st, id);
    if (!d || file_check(d, bot_id) != check)
        return -2;
    *doc_id = id;
    return 0;
}

/* ---- in-memory structure ---- */

static struct emu_chat *chat_get(struct emu_state *st, int64_t id, int create)
{
    for (size_t i = 0; i < st->nchats; i++)
        if (st->chats[i].id == id)
            return &st->chats[i];
    if (!create)
        return NULL;
    st->chats = xrealloc(st->chats, (st->nchats + 1) * sizeof(*st->chats));
    struct emu_chat *c = &st->chats[st->nchats++];
    memset(c, 0, sizeof(*c));
    c->id = id;
    c->msgcap = 64;
    c->msgs = xcalloc(c->msgcap, sizeof(*c->msgs));
    c->nmsgs = 2;
    c->msgs[1].exists = 1; /* channel creation */
    c->msgs[1].service = 1;
    return c;
}

struct emu_chat *state_chat(struct emu_state *st, int64_t id)
{
    struct emu_chat *c = chat_get(st, id, 0);
    return c && c->configured ? c : NULL;
}

struct emu_msg *state_msg(struct emu_chat *c, int64_t id)
{
    if (id <= 0 || (uint64_t)id >= c->nmsgs)
        return NULL;
    struct emu_msg *m = &c->msgs[id];
    return m->exists && !m->deleted ? m : NULL;
}

struct emu_doc *state_doc(struct emu_state *st, uint64_t id)
{
    return id < st->ndocs ? st->docs[id] : NULL;
}

void state_doc_path(const struct emu_state *st, uint64_t id, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s/cloud/%" PRIu64, st->dir, id);
}

/* Frees d's getFile copies: the list, and with remove_files the files too. */
static void links_free(struct emu_doc *d, int remove_files)
{
    struct emu_link *l = d->links;
    while (l) {
        struct emu_link *next = l->next;
        struct stat sb; /* only if the name is still this copy, not a later download's */
        if (remove_files && stat(l->path, &sb) == 0 && sb.st_ino == l->ino && sb.st_dev == l->dev)
            unlink(l->path);
        free(l->token);
        free(l->path);
        free(l);
        l = next;
    }
    d->links = NULL;
}

/* Removes d's bytes and copies but keeps d, lost: its file_ids still parse, and name a
 * document Telegram no longer serves. */
static void doc_lose(struct emu_state *st, struct emu_doc *d)
{
    char path[4096];
    state_doc_path(st, d->id, path, sizeof(path));
    docs_remove(path);
    links_free(d, 1);
    d->lost = 1;
}

static void doc_free(struct emu_state *st, struct emu_doc *d, int remove_files)
{
    if (!d)
        return;
    if (remove_files)
        doc_lose(st, d);
    else
        links_free(d, 0);
    free(d->name);
    free(d->mime);
    free(d);
}

static void journal(struct emu_state *st, json_t *rec)
{
    if (!st->replaying && st->journal) {
        char *line = json_dumps(rec, JSON_COMPACT);
        if (line) {
            fputs(line, st->journal);
            fputc('\n', st->journal);
            fflush(st->journal);
            free(line);
        }
    }
    json_decref(rec);
}

static void docs_grow(struct emu_state *st, uint64_t id)
{
    if (id < st->ndocs)
        return;
    size_t n = (size_t)id + 1;
    size_t cap = 16;
    while (cap < n)
        cap *= 2;
    st->docs = xrealloc(st->docs, cap * sizeof(*st->docs));
    memset(st->docs + st->ndocs, 0, (cap - st->ndocs) * sizeof(*st->docs));
    st->ndocs = n;
}

uint64_t state_doc_reserve(struct emu_state *st)
{
    uint64_t id = st->ndocs ? st->ndocs : 1;
    docs_grow(st, id);
    return id;
}

static void apply_doc(struct emu_state *st, uint64_t id, int64_t size, uint64_t secret, const char *name,
                      const char *mime)
{
    docs_grow(st, id);
    doc_free(st, st->docs[id], 0);
    struct emu_doc *d = xcalloc(1, sizeof(*d));
    d->id = id;
    d->size = size;
    d->secret = secret;
    d->name = name ? xstrdup(name) : NULL;
    d->mime = mime ? xstrdup(mime) : NULL;
    st->docs[id] = d;
}

void state_doc_add(struct emu_state *st, uint64_t id, int64_t size, const char *name, const char *mime)
{
    uint64_t secret;
    if (getrandom(&secret, sizeof(secret), 0) != (ssize_t)sizeof(secret))
        secret = mix64((uint64_t)now_ms() ^ id);
    char hex[17];
    snprintf(hex, sizeof(hex), "%016" PRIx64, secret);
    json_t *rec = json_pack("{s:s,s:I,s:I,s:s}", "t", "doc", "id", (json_int_t)id, "size", (json_int_t)size,
                            "secret", hex);
    if (name)
        json_object_set_new(rec, "name", json_string(name));
    if (mime)
        json_object_set_new(rec, "mime", json_string(mime));
    journal(st, rec);
    apply_doc(st, id, size, secret, name, mime);
}

static void chat_msgs_grow(struct emu_chat *c, size_t n)
{
    if (n <= c->msgcap)
        return;
    size_t cap = c->msgcap;
    while (cap < n)
        cap *= 2;
    c->msgs = xrealloc(c->msgs, cap * sizeof(*c->msgs));
    memset(c->msgs + c->msgcap, 0, (cap - c->msgcap) * sizeof(*c->msgs));
    c->msgcap = cap;
}

static void apply_msg(struct emu_state *st, struct emu_chat *c, int64_t id, int64_t date, uint64_t doc,
                      const char *caption, int64_t fwd_chat, int64_t fwd_id, int64_t fwd_date, int64_t pinned)
{
    if (id <= 1)
        return;
    chat_msgs_grow(c, (size_t)id + 1);
    if ((size_t)id >= c->nmsgs)
        c->nmsgs = (size_t)id + 1;
    struct emu_msg *m = &c->msgs[id];
    free(m->caption);
    memset(m, 0, sizeof(*m));
    m->exists = 1;
    m->date = date;
    m->caption = caption ? xstrdup(caption) : NULL;
    m->fwd_chat = fwd_chat;
    m->fwd_id = fwd_id;
    m->fwd_date = fwd_date;
    m->pinned = pinned;
    m->service = pinned > 0;
    struct emu_doc *d = state_doc(st, doc);
    if (d) {
        m->doc = doc;
        d->refs++;
        c->live_docs++;
        c->live_bytes += d->size;
    }
}

int64_t state_msg_add(struct emu_state *st, struct emu_chat *c, uint64_t doc, const char *caption,
                      int64_t fwd_chat, int64_t fwd_id, int64_t fwd_date, int64_t pinned)
{
    int64_t id = (int64_t)c->nmsgs;
    int64_t date = emu_now();
    json_t *rec = json_pack("{s:s,s:I,s:I,s:I}", "t", "msg", "chat", (json_int_t)c->id, "id", (json_int_t)id,
                            "date", (json_int_t)date);
    if (doc)
        json_object_set_new(rec, "doc", json_integer((json_int_t)doc));
    if (caption)
        json_object_set_new(rec, "caption", json_string(caption));
    if (fwd_chat) {
        json_object_set_new(rec, "fwd_chat", json_integer(fwd_chat));
        json_object_set_new(rec, "fwd_id", json_integer(fwd_id));
        json_object_set_new(rec, "fwd_date", json_integer(fwd_date));
    }
    if (pinned)
        json_object_set_new(rec, "pinned", json_integer(pinned));
    journal(st, rec);
    apply_msg(st, c, id, date, doc, caption, fwd_chat, fwd_id, fwd_date, pinned);
    return id;
}

static void pins_remove(struct emu_chat *c, int64_t id)
{
    size_t o = 0;
    for (size_t i = 0; i < c->npins; i++)
        if (c->pins[i] != id)
            c->pins[o++] = c->pins[i];
    c->npins = o;
}

static void apply_pin(struct emu_chat *c, int64_t id)
{
    pins_remove(c, id);
    if (c->npins == c->pincap) {
        c->pincap = c->pincap ? c->pincap * 2 : 8;
        c->pins = xrealloc(c->pins, c->pincap * sizeof(*c->pins));
    }
    c->pins[c->npins++] = id;
}

/* A deletion by the bot (lose 0): a document no message holds any more goes with its
 * file_ids. One by an admin (lose 1, /_emulator/delete): the document stays known, lost. */
static void apply_delete(struct emu_state *st, struct emu_chat *c, int64_t id, int lose)
{
    struct emu_msg *m = state_msg(c, id);
    if (!m || id <= 1)
        return;
    m->deleted = 1;
    free(m->caption);
    m->caption = NULL;
    pins_remove(c, id);
    struct emu_doc *d = state_doc(st, m->doc);
    if (d) {
        c->live_docs--;
        c->live_bytes -= d->size;
        if (--d->refs > 0)
            return;
        if (lose) {
            doc_lose(st, d);
        } else {
            doc_free(st, d, 1);
            st->docs[m->doc] = NULL;
        }
    }
}

static json_t *rec_ref(const char *t, const struct emu_chat *c, int64_t id)
{
    return json_pack("{s:s,s:I,s:I}", "t", t, "chat", (json_int_t)c->id, "id", (json_int_t)id);
}

void state_msg_delete(struct emu_state *st, struct emu_chat *c, int64_t id)
{
    journal(st, rec_ref("del", c, id));
    apply_delete(st, c, id, 0);
}

void state_msg_remove(struct emu_state *st, struct emu_chat *c, int64_t id)
{
    journal(st, rec_ref("gone", c, id));
    apply_delete(st, c, id, 1);
}

static void apply_edit(struct emu_chat *c, int64_t id, const char *caption, int64_t edit_date)
{
    struct emu_msg *m = state_msg(c, id);
    if (!m)
        return;
    free(m->caption);
    m->caption = caption ? xstrdup(caption) : NULL;
    m->edit_date = edit_date;
}

void state_msg_edit(struct emu_state *st, struct emu_chat *c, int64_t id, const char *caption)
{
    int64_t now = emu_now();
    json_t *rec = rec_ref("edit", c, id);
    if (caption)
        json_object_set_new(rec, "caption", json_string(caption));
    json_object_set_new(rec, "edit_date", json_integer(now));
    journal(st, rec);
    apply_edit(c, id, caption, now);
}

void state_pin(struct emu_state *st, struct emu_chat *c, int64_t id)
{
    journal(st, rec_ref("pin", c, id));
    apply_pin(c, id);
}

void state_unpin(struct emu_state *st, struct emu_chat *c, int64_t id)
{
    journal(st, rec_ref("unpin", c, id));
    pins_remove(c, id);
}

void state_doc_link_add(struct emu_doc *d, const char *token, const char *path)
{
    struct emu_link *l = xcalloc(1, sizeof(*l));
    struct stat sb;
    l->token = xstrdup(token);
    l->path = xstrdup(path);
    if (stat(path, &sb) == 0) {
        l->dev = sb.st_dev;
        l->ino = sb.st_ino;
    }
    l->next = d->links;
    d->links = l;
}

/* ---- faults: a lost channel, a kicked bot, damaged bytes ---- */

int state_kicked(const struct emu_chat *c, int64_t bot)
{
    for (size_t i = 0; i < c->nkicked; i++)
        if (c->kicked[i] == bot)
            return 1;
    return 0;
}

static void apply_kick(struct emu_chat *c, int64_t bot, int kicked)
{
    if (kicked == state_kicked(c, bot))
        return;
    if (!kicked) {
        size_t o = 0;
        for (size_t i = 0; i < c->nkicked; i++)
            if (c->kicked[i] != bot)
                c->kicked[o++] = c->kicked[i];
        c->nkicked = o;
        return;
    }
    if (c->nkicked == c->kickcap) {
        c->kickcap = c->kickcap ? c->kickcap * 2 : 4;
        c->kicked = xrealloc(c->kicked, c->kickcap * sizeof(*c->kicked));
    }
    c->kicked[c->nkicked++] = bot;
}

void state_ban(struct emu_state *st, struct emu_chat *c, int banned)
{
    json_t *rec = json_pack("{s:s,s:I}", "t", banned ? "ban" : "unban", "chat", (json_int_t)c->id);
    journal(st, rec);
    c->banned = banned != 0;
}

void state_kick(struct emu_state *st, struct emu_chat *c, int64_t bot, int kicked)
{
    json_t *rec = json_pack("{s:s,s:I,s:I}", "t", kicked ? "kick" : "unkick", "chat", (json_int_t)c->id, "bot",
                            (json_int_t)bot);
    journal(st, rec);
    apply_kick(c, bot, kicked);
}

int state_restricted(const struct emu_state *st)
{
    for (size_t i = 0; i < st->nchats; i++)
        if (st->chats[i].banned || st->chats[i].nkicked > 0)
            return 1;
    return 0;
}

int state_doc_served(const struct emu_state *st, const struct emu_doc *d, int64_t bot)
{
    if (d->lost)
        return 0;
    if (!state_restricted(st))
        return d->refs > 0; /* every live message is in a chat the bot sees */
    for (size_t i = 0; i < st->nchats; i++) {
        const struct emu_chat *c = &st->chats[i];
        if (c->banned || state_kicked(c, bot))
            continue;
        for (size_t j = 2; j < c->nmsgs; j++)
            if (c->msgs[j].exists && !c->msgs[j].deleted && c->msgs[j].doc == d->id)
                return 1;
    }
    return 0;
}

struct emu_doc *state_doc_of_file(const struct emu_state *st, const char *path, const struct stat *sb)
{
    char cloud[4096];
    struct stat csb;
    for (size_t i = 0; i < st->ndocs; i++) {
        struct emu_doc *d = st->docs[i];
        if (!d || d->lost)
            continue;
        for (const struct emu_link *l = d->links; l; l = l->next)
            if (strcmp(l->path, path) == 0)
                return d;
        state_doc_path(st, d->id, cloud, sizeof(cloud));
        if (stat(cloud, &csb) == 0 && csb.st_dev == sb->st_dev && csb.st_ino == sb->st_ino)
            return d;
    }
    return NULL;
}

int state_doc_damage(const struct emu_state *st, const struct emu_doc *d)
{
    char cloud[4096];
    struct stat csb, lsb;
    state_doc_path(st, d->id, cloud, sizeof(cloud));
    if (stat(cloud, &csb) != 0 || docs_damage(cloud) != 0)
        return -1;
    /* A hard-linked getFile copy is the same file; one copied across file systems is not. */
    for (const struct emu_link *l = d->links; l; l = l->next)
        if (stat(l->path, &lsb) == 0 && (lsb.st_dev != csb.st_dev || lsb.st_ino != csb.st_ino))
            docs_damage(l->path);
    return 0;
}

/* ---- replay ---- */

static int64_t jint(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void replay_one(struct emu_state *st, json_t *rec)
{
    const char *t = jstr(rec, "t");
    if (!t)
        return;
    if (strcmp(t, "doc") == 0) {
        const char *hex = jstr(rec, "secret");
        uint64_t secret = hex ? strtoull(hex, NULL, 16) : 0;
        apply_doc(st, (uint64_t)jint(rec, "id"), jint(rec, "size"), secret, jstr(rec, "name"), jstr(rec, "mime"));
        return;
    }
    struct emu_chat *c = chat_get(st, jint(rec, "chat"), 1);
    int64_t id = jint(rec, "id");
    if (strcmp(t, "msg") == 0)
        apply_msg(st, c, id, jint(rec, "date"), (uint64_t)jint(rec, "doc"), jstr(rec, "caption"),
                  jint(rec, "fwd_chat"), jint(rec, "fwd_id"), jint(rec, "fwd_date"), jint(rec, "pinned"));
    else if (strcmp(t, "del") == 0)
        apply_delete(st, c, id, 0);
    else if (strcmp(t, "gone") == 0)
        apply_delete(st, c, id, 1);
    else if (strcmp(t, "ban") == 0 || strcmp(t, "unban") == 0)
        c->banned = strcmp(t, "ban") == 0;
    else if (strcmp(t, "kick") == 0 || strcmp(t, "unkick") == 0)
        apply_kick(c, jint(rec, "bot"), strcmp(t, "kick") == 0);
    else if (strcmp(t, "edit") == 0)
        apply_edit(c, id, jstr(rec, "caption"), jint(rec, "edit_date"));
    else if (strcmp(t, "pin") == 0)
        apply_pin(c, id);
    else if (strcmp(t, "unpin") == 0)
        pins_remove(c, id);
}

/* Drops unreferenced documents (but the lost ones) and stray files in cloud/ (a crash
 * between write and journal). */
static void sweep(struct emu_state *st)
{
    for (size_t i = 0; i < st->ndocs; i++) {
        if (st->docs[i] && st->docs[i]->refs == 0 && !st->docs[i]->lost) {
            doc_free(st, st->docs[i], 1);
            st->docs[i] = NULL;
        }
    }
    char path[4096];
    snprintf(path, sizeof(path), "%s/cloud", st->dir);
    DIR *dir = opendir(path);
    if (!dir)
        return;
    struct dirent *de;
    while ((de = readdir(dir)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char *end;
        unsigned long long id = strtoull(de->d_name, &end, 10);
        if (*end == '\0' && state_doc(st, id))
            continue;
        char full[4096 + 256];
        snprintf(full, sizeof(full), "%s/%s", path, de->d_name);
        unlink(full);
    }
    closedir(dir);
}

int state_open(struct emu_state *st, const char *dir, const int64_t *chats, size_t nchats)
{
    memset(st, 0, sizeof(*st));
    st->dir = xstrdup(dir);
    char path[4096];
    snprintf(path, sizeof(path), "%s/cloud", dir);
    if (mkdir(path, 0750) != 0 && errno != EEXIST) {
        log_error("mkdir %s: %s", path, strerror(errno));
        return -1;
    }
    for (size_t i = 0; i < nchats; i++)
        chat_get(st, chats[i], 1)->configured = 1;
    snprintf(path, sizeof(path), "%s/state.jsonl", dir);
    FILE *f = fopen(path, "r");
    int need_nl = 0;
    if (f) {
        char *line = NULL;
        size_t cap = 0;
        ssize_t n = 0;
        int torn = 0;
        st->replaying = 1;
        while ((n = getline(&line, &cap, f)) > 0) {
            torn = line[n - 1] != '\n';
            json_error_t err;
            json_t *rec = json_loads(line, 0, &err);
            if (rec) {
                replay_one(st, rec);
                json_decref(rec);
            }
        }
        st->replaying = 0;
        free(line);
        fclose(f);
        if (torn)
            need_nl = 1;
    }
    sweep(st);
    st->journal = fopen(path, "a");
    if (!st->journal) {
        log_error("open %s: %s", path, strerror(errno));
        return -1;
    }
    if (need_nl) /* a torn last line must not swallow the next record */
        fputc('\n', st->journal);
    return 0;
}

void state_close(struct emu_state *st)
{
    if (st->journal)
        fclose(st->journal);
    for (size_t i = 0; i < st->ndocs; i++)
        doc_free(st, st->docs[i], 0);
    free(st->docs);
    for (size_t i = 0; i < st->nchats; i++) {
        struct emu_chat *c = &st->chats[i];
        for (size_t j = 0; j < c->nmsgs; j++)
            free(c->msgs[j].caption);
        free(c->msgs);
        free(c->pins);
        free(c->kicked);
    }
    free(st->chats);
    free(st->dir);
    memset(st, 0, sizeof(*st));
}
