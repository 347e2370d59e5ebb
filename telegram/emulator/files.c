/* files.c — the file methods: sendDocument (an upload) and getFile (a download), and the
 * downloaded copies' --file-ttl.
 *
 * sendDocument takes a multipart file part (attach:// too), a file:// path (local mode), or
 * the file_id of a document the bot already has (no new upload); the bytes go to the
 * document store (docs.c) under DIR/cloud. getFile gives the bot its own copy under
 * DIR/<token>/documents (a hard link: the real server downloads the file there, §5.3) and
 * answers its absolute path (local mode) or the path relative to DIR/<token>, which
 * download.c serves (non-local mode). With --file-ttl, a FIFO of those copies is emptied by a
 * 1 s timer (files_expire).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "telegram/emulator/emu.h"

/* ---- downloaded copies and --file-ttl ---- */

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

void files_expire(void)
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

/* ---- sendDocument ---- */

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

static void send_document(struct emu_call *c)
{
    char *caption = NULL, *fname = NULL;
    int in = -1;
    struct emu_chat *ch = call_chat(c, "chat_id", "chat_id is empty");
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
        call_fail(c, 400, "Bad Request: there is no document in the request");
        goto out;
    }
    if (call_caption(c, &caption) < 0)
        goto out;
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
            call_fail(c, 400, "Bad Request: can't find real file path");
            goto out;
        }
        if (!S_ISREG(sb.st_mode)) {
            call_fail(c, 400, "Bad Request: file must be a regular file");
            goto out;
        }
        size = (int64_t)sb.st_size;
        fname = clean_filename(path);
    } else if (strncmp(doc->val, "http://", 7) == 0 || strncmp(doc->val, "https://", 8) == 0) {
        call_fail(c, 400, "Bad Request: wrong file identifier/HTTP URL specified");
        goto out;
    } else if (state_file_id_parse(c->st, doc->val, c->bot_id, &reuse) != 0) {
        call_fail(c, 400, "Bad Request: wrong remote file identifier specified: can't unserialize it");
        goto out;
    } else if (!state_doc_served(c->st, state_doc(c->st, reuse), c->bot_id)) {
        /* MEDIA_EMPTY (§4): the document is no longer served (a lost channel or message). */
        call_fail(c, 400, "Bad Request: wrong file identifier/HTTP URL specified");
        goto out;
    }
    if (!reuse) {
        if (size == 0) {
            call_fail(c, 400, "Bad Request: file must be non-empty");
            goto out;
        }
        if (!emu_cfg.local && size > EMU_CLOUD_MAX_UPLOAD) {
            call_fail(c, 413, "Request Entity Too Large");
            goto out;
        }
        if (size > EMU_LOCAL_MAX_FILE) {
            call_fail(c, 400, "Bad Request: FILE_PARTS_INVALID");
            goto out;
        }
    }
    if (!rate_ok(c, ch->id))
        goto out;
    if (!reuse) {
        uint64_t id = state_doc_reserve(c->st);
        char dst[4096];
        state_doc_path(c->st, id, dst, sizeof(dst));
        int rc = docs_store(in, in >= 0 ? NULL : doc->val, size, dst); /* docs.c: where Telegram's copy lives */
        if (rc != 0) {
            log_error("store %s: %s", dst, strerror(errno));
            unlink(dst);
            call_fail(c, 500, "Internal Server Error: can't upload the file");
            goto out;
        }
        state_doc_add(c->st, id, size, fname, mime_of(fname));
        reuse = id;
    }
    int64_t mid = state_msg_add(c->st, ch, reuse, caption, 0, 0, 0, 0);
    call_ok(c, call_msg_json(c, ch, mid));
out:
    if (in >= 0)
        close(in);
    free(caption);
    free(fname);
}

/* ---- getFile ---- */

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
    state_doc_path(c->st, d->id, src, sizeof(src));
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

static void get_file(struct emu_call *c)
{
    const char *fid = emu_param_str(&c->params, "file_id");
    uint64_t id;
    if (!fid || !*fid) {
        call_fail(c, 400, "Bad Request: file_id not specified");
        return;
    }
    if (state_file_id_parse(c->st, fid, c->bot_id, &id) != 0) {
        call_fail(c, 400, "Bad Request: invalid file_id");
        return;
    }
    struct emu_doc *d = state_doc(c->st, id);
    if (!emu_cfg.local && d->size > EMU_CLOUD_MAX_DOWNLOAD) {
        call_fail(c, 400, "Bad Request: file is too big");
        return;
    }
    char path[4096];
    if (!state_doc_served(c->st, d, c->bot_id)) {
        /* Its channel is gone, the bot was kicked from it, or its message was deleted. */
        call_fail(c, 400, "Bad Request: wrong file_id or the file is temporarily unavailable");
        return;
    }
    if (methods_roll(emu_cfg.fail_getfile)) {
        /* The server's own download from Telegram failed (§5.3): a client retries. */
        methods_count_fault("getfile");
        call_fail(c, 400, "Bad Request: wrong file_id or the file is temporarily unavailable");
        return;
    }
    if (materialise(c, d, path, sizeof(path)) != 0) {
        call_fail(c, 400, "Bad Request: wrong file_id or the file is temporarily unavailable");
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
    call_ok(c, o);
}


void files_release(void)
{
    for (size_t i = exphead; i < expn; i++)
        free(expq[i].path);
    free(expq);
    expq = NULL;
    expn = exphead = expcap = 0;
}

struct emu_method emu_file_methods[] = {
    {"sendDocument", send_document, 0, 0},
    {"getFile", get_file, 0, 0},
    {NULL, NULL, 0, 0},
};
