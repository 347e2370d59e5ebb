/* xml.c — the one escaping XML writer and the expat request-body parsers.
 *
 * The writer appends to a bounded dbuf and remembers the first overflow, so
 * handlers build a whole document and check once at s3_xml_end. The parsers
 * are namespace-agnostic (they match local names, ignoring any "prefix:"),
 * refuse DOCTYPE declarations (no entity tricks), bound the body size, the
 * text of each element and the number of items, and map every failure to
 * MalformedXML unless a more precise S3 error exists.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#include "s3/s3_int.h"

#define S3_XMLNS "http://s3.amazonaws.com/doc/2006-03-01/"
#define MAX_DEPTH 8
#define MAX_TEXT 4096 /* bytes of character data per element */

/* ---- writer ------------------------------------------------------------------ */

/* Length of the UTF-8 sequence at s (at most len bytes), and its code point;
 * 0 when the bytes there are not well-formed UTF-8. */
static size_t utf8_char(const char *s, size_t len, unsigned long *cp)
{
    unsigned char c = (unsigned char)s[0];
    size_t n = c < 0x80 ? 1 : c < 0xc0 ? 0 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : c < 0xf8 ? 4 : 0;
    if (n == 0 || n > len || !s3_utf8_valid(s, n))
        return 0;
    unsigned long v = n == 1 ? c : n == 2 ? c & 0x1fu : n == 3 ? c & 0x0fu : c & 0x07u;
    for (size_t k = 1; k < n; k++)
        v = v << 6 | ((unsigned char)s[k] & 0x3fu);
    *cp = v;
    return n;
}

/* XML 1.0 §2.2 Char, for code points that are valid UTF-8 (no surrogates). */
static int xml_char(unsigned long cp)
{
    if (cp < 0x20)
        return cp == '\t' || cp == '\n' || cp == '\r';
    return cp != 0xfffe && cp != 0xffff;
}

int s3_xml_text_ok(const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned long cp;
        size_t n = utf8_char(s + i, len - i, &cp);
        if (n == 0 || !xml_char(cp))
            return 0;
        i += n;
    }
    return 1;
}

/* The escaper behind s3_xml_escape; -1 when out is full (out then holds a prefix). */
static int escape(struct dbuf *out, const char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        size_t j = i, n = 0;
        unsigned long cp = 0;
        while (j < len) {
            unsigned char c = (unsigned char)s[j];
            if (c == '&' || c == '<' || c == '>' || c == '"' || c == '\'' || c < 0x20 || c == 0x7f)
                break;
            if (c < 0x80) {
                j++;
                continue;
            }
            n = utf8_char(s + j, len - j, &cp);
            if (n == 0 || !xml_char(cp))
                break;
            j += n;
        }
        if (j > i && dbuf_add(out, s + i, j - i) != 0)
            return -1;
        if (j >= len)
            break;
        const char *e;
        size_t skip = 1;
        switch (s[j]) {
        case '&': e = "&amp;"; break;
        case '<': e = "&lt;"; break;
        case '>': e = "&gt;"; break;
        case '"': e = "&quot;"; break;
        case '\'': e = "&apos;"; break;
        case '\t': e = "&#9;"; break;
        case '\n': e = "&#10;"; break; /* S3, "XML related object key constraints" */
        case '\r': e = "&#13;"; break; /* a literal CR would be read back as LF */
        case 0x7f: e = "&#127;"; break;
        default:
            /* Not representable in XML 1.0, not even as a reference: the
             * replacement character keeps the document well-formed. */
            e = "&#65533;";
            if ((unsigned char)s[j] >= 0x80 && n > 0)
                skip = n; /* U+FFFE, U+FFFF: the whole sequence */
            break;
        }
        if (dbuf_adds(out, e) != 0)
            return -1;
        i = j + skip;
    }
    return 0;
}

void s3_xml_escape(struct dbuf *out, const char *s, size_t len)
{
    (void)escape(out, s, len);
}

static void put(struct s3_xml *x, const char *s, size_t n)
{
    if (!x->failed && dbuf_add(x->out, s, n) != 0)
        x->failed = 1;
}

static void puts_(struct s3_xml *x, const char *s)
{
    put(x, s, strlen(s));
}

static void text(struct s3_xml *x, const char *s, size_t n)
{
    if (!x->failed && escape(x->out, s, n) != 0)
        x->failed = 1;
}

void s3_xml_begin(struct s3_xml *x, struct dbuf *out, const char *root)
{
    x->out = out;
    x->failed = 0;
    puts_(x, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<");
    puts_(x, root);
    puts_(x, " xmlns=\"" S3_XMLNS "\">");
}

void s3_xml_open(struct s3_xml *x, const char *name)
{
    put(x, "<", 1);
    puts_(x, name);
    put(x, ">", 1);
}

void s3_xml_close(struct s3_xml *x, const char *name)
{
    put(x, "</", 2);
    puts_(x, name);
    put(x, ">", 1);
}

void s3_xml_elemn(struct s3_xml *x, const char *name, const char *t, size_t len)
{
    s3_xml_open(x, name);
    text(x, t, len);
    s3_xml_close(x, name);
}

void s3_xml_elem(struct s3_xml *x, const char *name, const char *t)
{
    s3_xml_elemn(x, name, t ? t : "", t ? strlen(t) : 0);
}

void s3_xml_elem_i64(struct s3_xml *x, const char *name, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof(num), "%lld", (long long)v);
    s3_xml_elemn(x, name, num, (size_t)n);
}

int s3_xml_end(struct s3_xml *x, const char *root)
{
    s3_xml_close(x, root);
    return x->failed ? -1 : 0;
}

/* ---- parsers ----------------------------------------------------------------- */

struct pctx;
typedef void (*on_end_fn)(struct pctx *c, const char *name);

struct pctx {
    XML_Parser p;
    const char *root; /* expected root local name */
    const char *stack[MAX_DEPTH];
    char names[MAX_DEPTH][48];
    int depth;
    struct dbuf text; /* character data of the innermost element */
    enum s3_err err;  /* first error, S3E_OK while fine */
    on_end_fn on_end;
    on_end_fn on_start;
    void *ud;
};

static const char *local_name(const char *n)
{
    const char *c = strrchr(n, ':');
    return c ? c + 1 : n;
}

static void fail(struct pctx *c, enum s3_err e)
{
    if (c->err == S3E_OK)
        c->err = e;
    XML_StopParser(c->p, XML_FALSE);
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct pctx *c = ud;
    (void)atts;
    if (c->err != S3E_OK)
        return;
    const char *ln = local_name(name);
    if (c->depth >= MAX_DEPTH || strlen(ln) >= sizeof(c->names[0])) {
        fail(c, S3E_MALFORMED_XML);
        return;
    }
    if (c->depth == 0 && strcmp(ln, c->root) != 0) {
        fail(c, S3E_MALFORMED_XML);
        return;
    }
    memcpy(c->names[c->depth], ln, strlen(ln) + 1); /* length checked above */
    c->stack[c->depth] = c->names[c->depth];
    c->depth++;
    dbuf_reset(&c->text);
    if (c->on_start)
        c->on_start(c, ln);
}

static void XMLCALL on_chars(void *ud, const XML_Char *s, int len)
{
    struct pctx *c = ud;
    if (c->err != S3E_OK)
        return;
    if (dbuf_add(&c->text, s, (size_t)len) != 0)
        fail(c, S3E_MALFORMED_XML);
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    struct pctx *c = ud;
    if (c->err != S3E_OK)
        return;
    c->on_end(c, local_name(name));
    c->depth--;
    dbuf_reset(&c->text);
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
                               int has_internal_subset)
{
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal_subset;
    fail(ud, S3E_MALFORMED_XML);
}

/* Is the element being closed at path parent/…/name? depth counts the root as 1. */
static int at(const struct pctx *c, int depth, const char *parent, const char *name)
{
    if (c->depth != depth || strcmp(c->stack[depth - 1], name) != 0)
        return 0;
    return parent == NULL || (depth >= 2 && strcmp(c->stack[depth - 2], parent) == 0);
}

static const char *ctext(struct pctx *c)
{
    return c->text.ptr ? c->text.ptr : "";
}

/* Trimmed copy of the current text. Returns -1 if it does not fit. */
static int ctext_trim(struct pctx *c, char *out, size_t outsz)
{
    const char *s = ctext(c);
    size_t n = c->text.len;
    while (n && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) {
        s++;
        n--;
    }
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        n--;
    if (n >= outsz)
        return -1;
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

static enum s3_err run(struct pctx *c, const char *body, size_t len, int empty_ok)
{
    enum s3_err err = S3E_OK;
    size_t i = 0;

    if (len > S3_MAX_XML_BODY)
        return S3E_MALFORMED_XML;
    while (i < len && (body[i] == ' ' || body[i] == '\t' || body[i] == '\r' || body[i] == '\n'))
        i++;
    if (i == len)
        return empty_ok ? S3E_OK : S3E_MALFORMED_XML;

    c->p = XML_ParserCreate(NULL);
    ASSERT(c->p != NULL);
    dbuf_init(&c->text, MAX_TEXT);
    XML_SetUserData(c->p, c);
    XML_SetElementHandler(c->p, on_start, on_end);
    XML_SetCharacterDataHandler(c->p, on_chars);
    XML_SetStartDoctypeDeclHandler(c->p, on_doctype);
    if (XML_Parse(c->p, body, (int)len, XML_TRUE) != XML_STATUS_OK)
        err = c->err != S3E_OK ? c->err : S3E_MALFORMED_XML;
    else
        err = c->err;
    XML_ParserFree(c->p);
    dbuf_release(&c->text);
    return err;
}

/* CompleteMultipartUpload */

struct complete_st {
    struct s3_complete_part *parts;
    size_t n, cap;
    int have_num, have_etag;
};

static void strip_etag(const char *in, char *out, size_t outsz, int *ok)
{
    size_t n = strlen(in);
    const char *s = in;
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
        s++;
        n -= 2;
    }
    if (n >= outsz || n == 0) {
        *ok = 0;
        return;
    }
    memcpy(out, s, n);
    out[n] = '\0';
    *ok = 1;
}

static void complete_start(struct pctx *c, const char *name)
{
    struct complete_st *st = c->ud;
    if (c->depth == 2 && strcmp(name, "Part") == 0) {
        if (st->n >= S3_MAX_PARTS) {
            fail(c, S3E_MALFORMED_XML);
            return;
        }
        if (st->n == st->cap) {
            st->cap = st->cap ? st->cap * 2 : 16;
            st->parts = xrealloc(st->parts, st->cap * sizeof(*st->parts));
        }
        memset(&st->parts[st->n], 0, sizeof(st->parts[0]));
        st->have_num = st->have_etag = 0;
    }
}

static void complete_end(struct pctx *c, const char *name)
{
    struct complete_st *st = c->ud;
    char tmp[128];
    (void)name;
    if (at(c, 3, "Part", "PartNumber")) {
        char *end;
        if (ctext_trim(c, tmp, sizeof(tmp)) != 0 || tmp[0] < '0' || tmp[0] > '9') {
            fail(c, S3E_MALFORMED_XML);
            return;
        }
        long v = strtol(tmp, &end, 10);
        if (*end != '\0' || v < 1 || v > S3_MAX_PARTS) {
            fail(c, S3E_INVALID_PART);
            return;
        }
        st->parts[st->n].part_number = (int)v;
        st->have_num = 1;
    } else if (at(c, 3, "Part", "ETag")) {
        int ok;
        if (ctext_trim(c, tmp, sizeof(tmp)) != 0) {
            fail(c, S3E_INVALID_PART);
            return;
        }
        strip_etag(tmp, st->parts[st->n].etag, sizeof(st->parts[0].etag), &ok);
        if (!ok) {
            fail(c, S3E_INVALID_PART);
            return;
        }
        st->have_etag = 1;
    } else if (c->depth == 3 && strcmp(c->stack[1], "Part") == 0 && s3_checksum_alg_of_xml(c->stack[2]) != NULL) {
        /* <ChecksumCRC32>… of a part: one algorithm per part, a base64 value. */
        struct s3_complete_part *p = &st->parts[st->n];
        const char *alg = s3_checksum_alg_of_xml(c->stack[2]);
        if ((p->ck_alg[0] != '\0' && strcmp(p->ck_alg, alg) != 0) ||
            ctext_trim(c, p->ck_value, sizeof(p->ck_value)) != 0 || p->ck_value[0] == '\0') {
            fail(c, S3E_INVALID_PART);
            return;
        }
        snprintf(p->ck_alg, sizeof(p->ck_alg), "%s", alg);
    } else if (at(c, 2, NULL, "Part")) {
        if (!st->have_num || !st->have_etag) {
            fail(c, S3E_MALFORMED_XML);
            return;
        }
        st->n++;
    }
}

enum s3_err s3_xml_parse_complete(const char *body, size_t len, struct s3_complete_part **parts, size_t *n)
{
    struct complete_st st = {0};
    struct pctx c = {.root = "CompleteMultipartUpload", .on_end = complete_end, .on_start = complete_start, .ud = &st};
    enum s3_err err = run(&c, body, len, 0);
    *parts = NULL;
    *n = 0;
    if (err == S3E_OK && st.n == 0)
        err = S3E_MALFORMED_XML;
    if (err != S3E_OK) {
        free(st.parts);
        return err;
    }
    *parts = st.parts;
    *n = st.n;
    return S3E_OK;
}

/* Delete */

struct delete_st {
    struct s3_delete_key *keys;
    size_t n, cap;
    int quiet;
    char *cur, *cur_etag, *cur_version;
};

static void delete_start(struct pctx *c, const char *name)
{
    struct delete_st *st = c->ud;
    if (c->depth == 2 && strcmp(name, "Object") == 0) {
        free(st->cur);
        free(st->cur_etag);
        free(st->cur_version);
        st->cur = NULL;
        st->cur_etag = NULL;
        st->cur_version = NULL;
    }
}

static void delete_end(struct pctx *c, const char *name)
{
    struct delete_st *st = c->ud;
    (void)name;
    if (at(c, 3, "Object", "Key")) {
        free(st->cur);
        st->cur = xstrndup(ctext(c), c->text.len); /* keys are verbatim: no trimming */
    } else if (at(c, 3, "Object", "ETag")) {
        char tmp[128];
        if (ctext_trim(c, tmp, sizeof(tmp)) != 0) {
            fail(c, S3E_MALFORMED_XML);
            return;
        }
        free(st->cur_etag);
        st->cur_etag = xstrdup(tmp);
    } else if (at(c, 3, "Object", "VersionId")) {
        char tmp[128];
        if (ctext_trim(c, tmp, sizeof(tmp)) != 0) {
            fail(c, S3E_MALFORMED_XML);
            return;
        }
        free(st->cur_version);
        st->cur_version = xstrdup(tmp);
    } else if (at(c, 2, NULL, "Quiet")) {
        char tmp[16];
        if (ctext_trim(c, tmp, sizeof(tmp)) != 0) {
            fail(c, S3E_MALFORMED_XML);
            return;
        }
        st->quiet = strcmp(tmp, "true") == 0 || strcmp(tmp, "True") == 0 || strcmp(tmp, "TRUE") == 0;
    } else if (at(c, 2, NULL, "Object")) {
        if (st->cur == NULL || st->n >= S3_MAX_DELETE_KEYS) {
            fail(c, S3E_MALFORMED_XML);
            return;
        }
        if (st->n == st->cap) {
            st->cap = st->cap ? st->cap * 2 : 16;
            st->keys = xrealloc(st->keys, st->cap * sizeof(*st->keys));
        }
        st->keys[st->n].key = st->cur;
        st->keys[st->n].version = st->cur_version;
        st->keys[st->n++].etag = st->cur_etag;
        st->cur = NULL;
        st->cur_etag = NULL;
        st->cur_version = NULL;
    }
}

void s3_delete_keys_free(struct s3_delete_key *keys, size_t n)
{
    if (keys == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(keys[i].key);
        free(keys[i].etag);
        free(keys[i].version);
    }
    free(keys);
}

enum s3_err s3_xml_parse_delete(const char *body, size_t len, struct s3_delete_key **keys, size_t *n, int *quiet)
{
    struct delete_st st = {0};
    struct pctx c = {.root = "Delete", .on_end = delete_end, .on_start = delete_start, .ud = &st};
    enum s3_err err = run(&c, body, len, 0);
    free(st.cur);
    free(st.cur_etag);
    free(st.cur_version);
    *keys = NULL;
    *n = 0;
    *quiet = 0;
    if (err == S3E_OK && st.n == 0)
        err = S3E_MALFORMED_XML;
    if (err != S3E_OK) {
        s3_delete_keys_free(st.keys, st.n);
        return err;
    }
    *keys = st.keys;
    *n = st.n;
    *quiet = st.quiet;
    return S3E_OK;
}

/* CreateBucketConfiguration */

struct create_st {
    char *location;
    size_t size;
};

static void create_end(struct pctx *c, const char *name)
{
    struct create_st *st = c->ud;
    (void)name;
    if (at(c, 2, NULL, "LocationConstraint") && ctext_trim(c, st->location, st->size) != 0)
        fail(c, S3E_INVALID_ARGUMENT);
}

enum s3_err s3_xml_parse_create_bucket(const char *body, size_t len, char *location, size_t location_size)
{
    struct create_st st = {location, location_size};
    struct pctx c = {.root = "CreateBucketConfiguration", .on_end = create_end, .ud = &st};
    if (location_size)
        location[0] = '\0';
    enum s3_err err = run(&c, body, len, 1);
    if (err != S3E_OK && location_size)
        location[0] = '\0';
    return err;
}

/* Tagging */

struct tagging_st {
    struct s3_tag *tags;
    size_t max, n;
    int have_key, have_value;
    struct s3_tag cur;
};

static void tagging_start(struct pctx *c, const char *name)
{
    struct tagging_st *st = c->ud;
    if (c->depth == 3 && strcmp(name, "Tag") == 0) {
        memset(&st->cur, 0, sizeof(st->cur));
        st->have_key = st->have_value = 0;
    }
}

static void tagging_end(struct pctx *c, const char *name)
{
    struct tagging_st *st = c->ud;
    (void)name;
    if (at(c, 4, "Tag", "Key")) {
        if (c->text.len >= sizeof(st->cur.key) || c->text.len == 0) {
            fail(c, S3E_INVALID_ARGUMENT);
            return;
        }
        memcpy(st->cur.key, ctext(c), c->text.len + 1);
        st->have_key = 1;
    } else if (at(c, 4, "Tag", "Value")) {
        if (c->text.len >= sizeof(st->cur.value)) {
            fail(c, S3E_INVALID_ARGUMENT);
            return;
        }
        memcpy(st->cur.value, ctext(c), c->text.len + 1);
        st->have_value = 1;
    } else if (at(c, 3, "TagSet", "Tag")) {
        if (!st->have_key) {
            fail(c, S3E_MALFORMED_XML);
            return;
        }
        if (st->n >= st->max) {
            fail(c, S3E_BAD_REQUEST); /* "Object tags cannot be greater than 10" */
            return;
        }
        for (size_t i = 0; i < st->n; i++) {
            if (strcmp(st->tags[i].key, st->cur.key) == 0) {
                fail(c, S3E_INVALID_ARGUMENT); /* duplicate tag key */
                return;
            }
        }
        st->tags[st->n++] = st->cur;
    }
}

enum s3_err s3_xml_parse_tagging(const char *body, size_t len, struct s3_tag *tags, size_t max, size_t *n)
{
    struct tagging_st st = {.tags = tags, .max = max};
    struct pctx c = {.root = "Tagging", .on_end = tagging_end, .on_start = tagging_start, .ud = &st};
    enum s3_err err = run(&c, body, len, 0);
    *n = err == S3E_OK ? st.n : 0;
    return err;
}

/* AccessControlPolicy (PutBucketAcl, PutObjectAcl). The grantee's kind comes
 * from the element it names (ID, URI, EmailAddress), which xsi:type only repeats. */

struct acl_st {
    struct s3_acl *acl;
    int kind; /* of the current grant's grantee: 0 none, 1 user, 2 group */
    enum s3_grantee type;
    char id[129];
    enum s3_perm perm;
};

static void acl_start(struct pctx *c, const char *name)
{
    struct acl_st *st = c->ud;
    if (c->depth == 3 && strcmp(name, "Grant") == 0) {
        st->kind = 0;
        st->perm = (enum s3_perm)0;
        st->id[0] = '\0';
    }
}

static void acl_end(struct pctx *c, const char *name)
{
    struct acl_st *st = c->ud;
    char tmp[160];
    (void)name;
    if (at(c, 3, "Owner", "ID")) {
        if (ctext_trim(c, st->acl->owner, sizeof(st->acl->owner)) != 0)
            fail(c, S3E_INVALID_ARGUMENT);
    } else if (at(c, 5, "Grantee", "ID")) {
        if (st->kind != 0 || ctext_trim(c, st->id, sizeof(st->id)) != 0 || st->id[0] == '\0') {
            fail(c, st->kind != 0 ? S3E_MALFORMED_ACL : S3E_INVALID_ARGUMENT);
            return;
        }
        for (const char *p = st->id; *p != '\0'; p++) {
            if ((unsigned char)*p <= ' ') {
                fail(c, S3E_INVALID_ARGUMENT); /* no id (an access key) holds spaces or control bytes */
                return;
            }
        }
        st->kind = 1;
        st->type = S3_GRANTEE_USER;
    } else if (at(c, 5, "Grantee", "URI")) {
        if (st->kind != 0) {
            fail(c, S3E_MALFORMED_ACL);
            return;
        }
        if (ctext_trim(c, tmp, sizeof(tmp)) != 0) {
            fail(c, S3E_INVALID_ARGUMENT);
            return;
        }
        if (strcmp(tmp, S3_ACL_URI_ALL_USERS) == 0)
            st->type = S3_GRANTEE_ALL_USERS;
        else if (strcmp(tmp, S3_ACL_URI_AUTH_USERS) == 0)
            st->type = S3_GRANTEE_AUTH_USERS;
        else {
            fail(c, S3E_INVALID_ARGUMENT);
            return;
        }
        st->kind = 2;
    } else if (at(c, 5, "Grantee", "EmailAddress")) {
        fail(c, S3E_NOT_IMPLEMENTED);
    } else if (at(c, 4, "Grant", "Permission")) {
        if (ctext_trim(c, tmp, sizeof(tmp)) != 0) {
            fail(c, S3E_MALFORMED_ACL);
            return;
        }
        static const char *const names[] = {"READ", "WRITE", "READ_ACP", "WRITE_ACP", "FULL_CONTROL"};
        static const enum s3_perm vals[] = {S3_PERM_READ, S3_PERM_WRITE, S3_PERM_READ_ACP, S3_PERM_WRITE_ACP,
                                            S3_PERM_FULL_CONTROL};
        st->perm = (enum s3_perm)0;
        for (size_t i = 0; i < ARRAY_SIZE(names); i++)
            if (strcmp(tmp, names[i]) == 0)
                st->perm = vals[i];
        if (st->perm == 0)
            fail(c, S3E_MALFORMED_ACL);
    } else if (at(c, 3, "AccessControlList", "Grant")) {
        struct s3_acl *acl = st->acl;
        if (st->kind == 0 || st->perm == 0 || acl->n >= S3_MAX_GRANTS) {
            fail(c, S3E_MALFORMED_ACL);
            return;
        }
        struct s3_grant *g = &acl->g[acl->n++];
        memset(g, 0, sizeof(*g));
        g->type = st->type;
        g->perm = st->perm;
        if (st->kind == 1)
            memcpy(g->id, st->id, sizeof(g->id));
    }
}

enum s3_err s3_xml_parse_acl(const char *body, size_t len, struct s3_acl *out)
{
    struct acl_st st = {.acl = out};
    struct pctx c = {.root = "AccessControlPolicy", .on_end = acl_end, .on_start = acl_start, .ud = &st};
    memset(out, 0, sizeof(*out));
    enum s3_err err = run(&c, body, len, 0);
    if (err == S3E_MALFORMED_XML)
        err = S3E_MALFORMED_ACL;
    if (err != S3E_OK)
        memset(out, 0, sizeof(*out));
    return err;
}

/* PublicAccessBlockConfiguration */

static void pab_end(struct pctx *c, const char *name)
{
    static const char *const names[] = {"BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy",
                                        "RestrictPublicBuckets"};
    static const unsigned bits[] = {S3_PAB_BLOCK_PUBLIC_ACLS, S3_PAB_IGNORE_PUBLIC_ACLS, S3_PAB_BLOCK_PUBLIC_POLICY,
                                    S3_PAB_RESTRICT_PUBLIC_BUCKETS};
    unsigned *flags = c->ud;
    char tmp[16];
    if (c->depth != 2)
        return;
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        if (strcmp(name, names[i]) != 0)
            continue;
        if (ctext_trim(c, tmp, sizeof(tmp)) != 0 || (strcmp(tmp, "true") != 0 && strcmp(tmp, "false") != 0)) {
            fail(c, S3E_MALFORMED_XML);
            return;
        }
        if (strcmp(tmp, "true") == 0)
            *flags |= bits[i];
    }
}

enum s3_err s3_xml_parse_pab(const char *body, size_t len, unsigned *flags)
{
    *flags = 0;
    struct pctx c = {.root = "PublicAccessBlockConfiguration", .on_end = pab_end, .ud = flags};
    enum s3_err err = run(&c, body, len, 0);
    if (err != S3E_OK)
        *flags = 0;
    return err;
}
