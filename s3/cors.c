/* cors.c — CORS: a bucket's <CORSConfiguration>, and the rules a browser's requests are matched against.
 *
 * PutBucketCors sends the configuration as XML (at most S3_CORS_MAX_BODY
 * bytes, 1..S3_CORS_MAX_RULES rules); it is checked as S3 checks it: first
 * the document's structure (MalformedXML), then each rule's values in
 * order (InvalidRequest, with AWS's wording). The gateway stores the
 * rendered form and parses it again when it needs the rules.
 *
 * Matching (S3's "How does Amazon S3 evaluate the CORS configuration"): the
 * first rule whose AllowedOrigin matches the Origin (exactly, or around its
 * one '*'; case-sensitive), whose AllowedMethod holds the method (the
 * request's own, or Access-Control-Request-Method for a preflight) and, for a
 * preflight, whose AllowedHeader patterns (case-insensitive) cover every
 * header named in Access-Control-Request-Headers, wins. Its answer is the
 * same set of headers S3 sends, in S3's order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#include "s3/s3_int.h"

#define MAX_TEXT 4096 /* bytes of one value; the body bound keeps the total small */
#define ANSWER_MAX (S3_CORS_MAX_BODY + 4096) /* bytes of an answer's values, besides the request's own */

static const char *const methods[] = {"GET", "PUT", "POST", "DELETE", "HEAD"};

static int method_ok(const char *m, size_t len)
{
    for (size_t i = 0; i < ARRAY_SIZE(methods); i++)
        if (strlen(methods[i]) == len && memcmp(methods[i], m, len) == 0)
            return 1;
    return 0;
}

/* ---- the document ------------------------------------------------------------------- */

enum field { F_NONE, F_ID, F_ORIGIN, F_METHOD, F_HEADER, F_EXPOSE, F_MAX_AGE };

static const struct {
    const char *name;
    enum field f;
} fields[] = {
    {"ID", F_ID},           {"AllowedOrigin", F_ORIGIN}, {"AllowedMethod", F_METHOD},
    {"AllowedHeader", F_HEADER}, {"ExposeHeader", F_EXPOSE}, {"MaxAgeSeconds", F_MAX_AGE},
};

struct parse {
    XML_Parser p;
    int depth;
    enum field field;     /* the value element open at depth 3 */
    struct dbuf text;     /* its character data */
    struct s3_cors *c;
    enum s3_err err;
};

static void fail(struct parse *ps)
{
    if (ps->err == S3E_OK)
        ps->err = S3E_MALFORMED_XML;
    XML_StopParser(ps->p, XML_FALSE);
}

static const char *local_name(const char *n)
{
    const char *c = strrchr(n, ':');
    return c ? c + 1 : n;
}

static void list_add(char ***v, size_t *n, const char *s, size_t len)
{
    *v = xrealloc(*v, (*n + 1) * sizeof(**v));
    (*v)[(*n)++] = xstrndup(s, len);
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct parse *ps = ud;
    const char *ln = local_name(name);
    (void)atts;
    if (ps->err != S3E_OK)
        return;
    ps->depth++;
    if (ps->depth == 1) {
        if (strcmp(ln, "CORSConfiguration") != 0)
            fail(ps);
    } else if (ps->depth == 2) {
        if (strcmp(ln, "CORSRule") != 0 || ps->c->n >= S3_CORS_MAX_RULES) {
            fail(ps);
            return;
        }
        ps->c->rules = xrealloc(ps->c->rules, (ps->c->n + 1) * sizeof(*ps->c->rules));
        memset(&ps->c->rules[ps->c->n], 0, sizeof(*ps->c->rules));
        ps->c->rules[ps->c->n].max_age = -1;
        ps->c->n++;
    } else if (ps->depth == 3) {
        ps->field = F_NONE;
        for (size_t i = 0; i < ARRAY_SIZE(fields); i++)
            if (strcmp(ln, fields[i].name) == 0)
                ps->field = fields[i].f;
        if (ps->field == F_NONE)
            fail(ps);
        dbuf_reset(&ps->text);
    } else {
        fail(ps); /* an element inside a value */
    }
}

static void XMLCALL on_chars(void *ud, const XML_Char *s, int len)
{
    struct parse *ps = ud;
    if (ps->err != S3E_OK)
        return;
    if (ps->depth == 3) {
        if (dbuf_add(&ps->text, s, (size_t)len) != 0)
            fail(ps);
        return;
    }
    for (int i = 0; i < len; i++) /* only white space between elements */
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') {
            fail(ps);
            return;
        }
}

/* MaxAgeSeconds: decimal digits, at most 2^31 - 1. */
static int64_t max_age_parse(const char *s, size_t len)
{
    int64_t v = 0;
    if (len == 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
        if (v > 2147483647)
            return -1;
    }
    return v;
}

static void value_end(struct parse *ps)
{
    struct s3_cors_rule *r = &ps->c->rules[ps->c->n - 1];
    const char *s = ps->text.ptr ? ps->text.ptr : "";
    size_t len = ps->text.len;
    switch (ps->field) {
    case F_ID:
        if (r->id != NULL || len > S3_CORS_MAX_ID) {
            fail(ps);
            return;
        }
        r->id = xstrndup(s, len);
        break;
    case F_ORIGIN: list_add(&r->origins, &r->n_origins, s, len); break;
    case F_METHOD: list_add(&r->methods, &r->n_methods, s, len); break;
    case F_HEADER: list_add(&r->headers, &r->n_headers, s, len); break;
    case F_EXPOSE: list_add(&r->expose, &r->n_expose, s, len); break;
    case F_MAX_AGE:
        if (r->max_age >= 0 || (r->max_age = max_age_parse(s, len)) < 0)
            fail(ps);
        break;
    case F_NONE: fail(ps); break;
    }
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    struct parse *ps = ud;
    (void)name;
    if (ps->err != S3E_OK)
        return;
    if (ps->depth == 3) {
        value_end(ps);
    } else if (ps->depth == 2) {
        const struct s3_cors_rule *r = &ps->c->rules[ps->c->n - 1];
        if (r->n_origins == 0 || r->n_methods == 0)
            fail(ps);
    }
    ps->depth--;
}

static void XMLCALL on_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
                               int has_internal_subset)
{
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal_subset;
    fail(ud);
}

static size_t count_stars(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '*';
    return n;
}

/* The value checks, rule by rule, in S3's order: methods, origins, headers, expose headers. */
static enum s3_err values_check(const struct s3_cors *c, char *msg, size_t msgsz)
{
    for (size_t i = 0; i < c->n; i++) {
        const struct s3_cors_rule *r = &c->rules[i];
        for (size_t k = 0; k < r->n_methods; k++)
            if (!method_ok(r->methods[k], strlen(r->methods[k]))) {
                snprintf(msg, msgsz, "Found unsupported HTTP method in CORS config. Unsupported method is %s",
                         r->methods[k]);
                return S3E_INVALID_REQUEST;
            }
        for (size_t k = 0; k < r->n_origins; k++)
            if (count_stars(r->origins[k]) > 1) {
                snprintf(msg, msgsz, "AllowedOrigin \"%s\" can not have more than one wildcard.", r->origins[k]);
                return S3E_INVALID_REQUEST;
            }
        for (size_t k = 0; k < r->n_headers; k++)
            if (count_stars(r->headers[k]) > 1) {
                snprintf(msg, msgsz, "AllowedHeader \"%s\" can not have more than one wildcard.", r->headers[k]);
                return S3E_INVALID_REQUEST;
            }
        for (size_t k = 0; k < r->n_expose; k++)
            if (count_stars(r->expose[k]) > 0) {
                snprintf(msg, msgsz,
                         "ExposeHeader \"%s\" contains wildcard. We currently do not support wildcard for "
                         "ExposeHeader.",
                         r->expose[k]);
                return S3E_INVALID_REQUEST;
            }
    }
    return S3E_OK;
}

enum s3_err s3_cors_parse(const char *body, size_t len, struct s3_cors *out, char *msg, size_t msgsz)
{
    struct parse ps = {.c = out, .err = S3E_OK};
    enum s3_err err;

    memset(out, 0, sizeof(*out));
    msg[0] = '\0';
    if (len == 0 || len > S3_CORS_MAX_BODY)
        return S3E_MALFORMED_XML;
    ps.p = XML_ParserCreate(NULL);
    ASSERT(ps.p != NULL);
    dbuf_init(&ps.text, MAX_TEXT);
    XML_SetUserData(ps.p, &ps);
    XML_SetElementHandler(ps.p, on_start, on_end);
    XML_SetCharacterDataHandler(ps.p, on_chars);
    XML_SetStartDoctypeDeclHandler(ps.p, on_doctype);
    if (XML_Parse(ps.p, body, (int)len, XML_TRUE) != XML_STATUS_OK || ps.err != S3E_OK)
        err = S3E_MALFORMED_XML;
    else
        err = out->n == 0 ? S3E_MALFORMED_XML : values_check(out, msg, msgsz);
    XML_ParserFree(ps.p);
    dbuf_release(&ps.text);
    if (err != S3E_OK)
        s3_cors_release(out);
    return err;
}

static void list_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void s3_cors_release(struct s3_cors *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++) {
        struct s3_cors_rule *r = &c->rules[i];
        free(r->id);
        list_free(r->origins, r->n_origins);
        list_free(r->methods, r->n_methods);
        list_free(r->headers, r->n_headers);
        list_free(r->expose, r->n_expose);
    }
    free(c->rules);
    memset(c, 0, sizeof(*c));
}

int s3_cors_render(const struct s3_cors *c, struct dbuf *out)
{
    struct s3_xml x;
    s3_xml_begin(&x, out, "CORSConfiguration");
    for (size_t i = 0; i < c->n; i++) {
        const struct s3_cors_rule *r = &c->rules[i];
        s3_xml_open(&x, "CORSRule");
        if (r->id != NULL)
            s3_xml_elem(&x, "ID", r->id);
        for (size_t k = 0; k < r->n_methods; k++)
            s3_xml_elem(&x, "AllowedMethod", r->methods[k]);
        for (size_t k = 0; k < r->n_origins; k++)
            s3_xml_elem(&x, "AllowedOrigin", r->origins[k]);
        for (size_t k = 0; k < r->n_headers; k++)
            s3_xml_elem(&x, "AllowedHeader", r->headers[k]);
        if (r->max_age >= 0)
            s3_xml_elem_i64(&x, "MaxAgeSeconds", r->max_age);
        for (size_t k = 0; k < r->n_expose; k++)
            s3_xml_elem(&x, "ExposeHeader", r->expose[k]);
        s3_xml_close(&x, "CORSRule");
    }
    return s3_xml_end(&x, "CORSConfiguration");
}

/* ---- matching ------------------------------------------------------------------------ */

static int eq(const char *a, size_t alen, const char *b, size_t blen, int icase)
{
    if (alen != blen)
        return 0;
    if (!icase)
        return memcmp(a, b, alen) == 0;
    for (size_t i = 0; i < alen; i++) {
        char x = a[i] >= 'A' && a[i] <= 'Z' ? (char)(a[i] - 'A' + 'a') : a[i];
        char y = b[i] >= 'A' && b[i] <= 'Z' ? (char)(b[i] - 'A' + 'a') : b[i];
        if (x != y)
            return 0;
    }
    return 1;
}

/* Does s match pattern, which holds at most one '*' (any run of bytes, the
 * text around it not overlapping)? */
static int wild_match(const char *pat, const char *s, size_t len, int icase)
{
    const char *star = strchr(pat, '*');
    size_t plen = strlen(pat);
    if (star == NULL)
        return eq(s, len, pat, plen, icase);
    size_t pre = (size_t)(star - pat), suf = plen - pre - 1;
    return len >= pre + suf && eq(s, pre, pat, pre, icase) && eq(s + len - suf, suf, star + 1, suf, icase);
}

/* Calls fn for each name of a comma-separated header list, trimmed, empty ones skipped; stops at 0. */
static int each_name(const char *v, size_t len, int (*fn)(const char *n, size_t nl, void *ud), void *ud)
{
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && v[j] != ',')
            j++;
        size_t a = i, b = j;
        while (a < b && (v[a] == ' ' || v[a] == '\t'))
            a++;
        while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'))
            b--;
        if (b > a && !fn(v + a, b - a, ud))
            return 0;
        i = j + 1;
    }
    return 1;
}

static int header_allowed(const char *n, size_t nl, void *ud)
{
    const struct s3_cors_rule *r = ud;
    for (size_t k = 0; k < r->n_headers; k++)
        if (wild_match(r->headers[k], n, nl, 1))
            return 1;
    return 0;
}

/* The first rule allowing origin and method (and, when req_headers is
 * non-NULL, every header it names); NULL when none does. */
static const struct s3_cors_rule *match(const struct s3_cors *c, const char *origin, size_t olen, const char *method,
                                        size_t mlen, const char *req_headers, size_t hlen)
{
    for (size_t i = 0; i < c->n; i++) {
        const struct s3_cors_rule *r = &c->rules[i];
        int ok = 0;
        for (size_t k = 0; k < r->n_origins && !ok; k++)
            ok = wild_match(r->origins[k], origin, olen, 0);
        if (!ok)
            continue;
        ok = 0;
        for (size_t k = 0; k < r->n_methods && !ok; k++)
            ok = eq(r->methods[k], strlen(r->methods[k]), method, mlen, 0);
        if (!ok)
            continue;
        if (req_headers != NULL && !each_name(req_headers, hlen, header_allowed, (void *)r))
            continue;
        return r;
    }
    return NULL;
}

struct answer_build {
    struct s3_cors_answer *a;
    int failed;
    int first;
};

static void add_begin(struct answer_build *b, const char *name)
{
    struct s3_cors_answer *a = b->a;
    ASSERT(a->n < S3_CORS_MAX_HEADERS);
    a->names[a->n] = name;
    a->off[a->n] = a->buf.len;
    b->first = 1;
}

static void add_text(struct answer_build *b, const char *s, size_t len)
{
    if (dbuf_add(&b->a->buf, s, len) != 0)
        b->failed = 1;
}

/* Another item of a ", "-separated list. */
static void add_item(struct answer_build *b, const char *s, size_t len)
{
    if (!b->first)
        add_text(b, ", ", 2);
    b->first = 0;
    add_text(b, s, len);
}

static void add_end(struct answer_build *b)
{
    struct s3_cors_answer *a = b->a;
    a->len[a->n] = a->buf.len - a->off[a->n];
    a->n++;
}

static int add_lower_item(const char *n, size_t nl, void *ud)
{
    struct answer_build *b = ud;
    char low[MAX_TEXT];
    if (nl > sizeof(low)) {
        b->failed = 1;
        return 0;
    }
    for (size_t i = 0; i < nl; i++)
        low[i] = (char)(n[i] >= 'A' && n[i] <= 'Z' ? n[i] - 'A' + 'a' : n[i]);
    add_item(b, low, nl);
    return 1;
}

static int names_any(const char *n, size_t nl, void *ud)
{
    (void)n;
    (void)nl;
    *(int *)ud = 1;
    return 0;
}

/* S3's headers for rule r and the request's origin; Allow-Headers when req_headers names any. */
static void answer(const struct s3_cors_rule *r, const char *origin, size_t olen, const char *req_headers,
                   size_t hlen, struct s3_cors_answer *a)
{
    struct answer_build b = {.a = a};
    int any_origin = 0;
    for (size_t k = 0; k < r->n_origins; k++)
        any_origin |= strcmp(r->origins[k], "*") == 0;

    add_begin(&b, "Access-Control-Allow-Origin");
    add_text(&b, any_origin ? "*" : origin, any_origin ? 1 : olen);
    add_end(&b);
    add_begin(&b, "Access-Control-Allow-Methods");
    for (size_t k = 0; k < r->n_methods; k++)
        add_item(&b, r->methods[k], strlen(r->methods[k]));
    add_end(&b);
    int named = 0;
    if (req_headers != NULL)
        each_name(req_headers, hlen, names_any, &named);
    if (named) {
        add_begin(&b, "Access-Control-Allow-Headers");
        each_name(req_headers, hlen, add_lower_item, &b);
        add_end(&b);
    }
    if (r->n_expose > 0) {
        add_begin(&b, "Access-Control-Expose-Headers");
        for (size_t k = 0; k < r->n_expose; k++)
            add_item(&b, r->expose[k], strlen(r->expose[k]));
        add_end(&b);
    }
    if (r->max_age >= 0) {
        char v[24];
        int n = snprintf(v, sizeof(v), "%lld", (long long)r->max_age);
        add_begin(&b, "Access-Control-Max-Age");
        add_text(&b, v, (size_t)n);
        add_end(&b);
    }
    if (!any_origin) {
        add_begin(&b, "Access-Control-Allow-Credentials");
        add_text(&b, "true", 4);
        add_end(&b);
    }
    add_begin(&b, "Vary");
    static const char vary[] = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method";
    add_text(&b, vary, sizeof(vary) - 1);
    add_end(&b);
    if (b.failed) { /* cannot happen within the body bound; answer nothing rather than a part */
        a->n = 0;
        dbuf_reset(&a->buf);
    }
}

/* The answer echoes the origin and the requested header names: room for them besides the rule's values. */
static void answer_init(struct s3_cors_answer *a, size_t echoed)
{
    memset(a, 0, sizeof(*a));
    dbuf_init(&a->buf, ANSWER_MAX + 2 * echoed);
}

void s3_cors_answer_release(struct s3_cors_answer *a)
{
    dbuf_release(&a->buf);
    a->n = 0;
}

enum s3_err s3_cors_preflight(const struct s3_cors *c, int bucket_exists, const struct s3_request *req,
                              struct s3_cors_answer *out, char *msg, size_t msgsz)
{
    size_t olen = 0, mlen = 0, hlen = 0;
    const char *origin = s3_header_get(req, "origin", &olen);
    const char *method = s3_header_get(req, "access-control-request-method", &mlen);
    const char *hdrs = s3_header_get(req, "access-control-request-headers", &hlen);

    answer_init(out, olen + hlen);
    msg[0] = '\0';
    if (origin == NULL || olen == 0) {
        snprintf(msg, msgsz, "Insufficient information. Origin request header needed.");
        return S3E_BAD_REQUEST;
    }
    if (method == NULL || !method_ok(method, mlen)) {
        snprintf(msg, msgsz, "Invalid Access-Control-Request-Method: %.*s", method ? (int)(mlen > 256 ? 256 : mlen) : 4,
                 method ? method : "null");
        return S3E_BAD_REQUEST;
    }
    if (!bucket_exists) {
        snprintf(msg, msgsz, "CORSResponse: Bucket not found");
        return S3E_CORS_FORBIDDEN;
    }
    if (c == NULL) {
        snprintf(msg, msgsz, "CORSResponse: CORS is not enabled for this bucket.");
        return S3E_CORS_FORBIDDEN;
    }
    const struct s3_cors_rule *r = match(c, origin, olen, method, mlen, hdrs ? hdrs : "", hdrs ? hlen : 0);
    if (r == NULL) {
        snprintf(msg, msgsz,
                 "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, "
                 "request method / Access-Control-Request-Method or Access-Control-Request-Headers are not "
                 "whitelisted by the resource's CORS spec.");
        return S3E_CORS_FORBIDDEN;
    }
    answer(r, origin, olen, hdrs, hlen, out);
    return S3E_OK;
}

size_t s3_cors_actual(const struct s3_cors *c, const struct s3_request *req, struct s3_cors_answer *out)
{
    size_t olen = 0;
    const char *origin = s3_header_get(req, "origin", &olen);

    answer_init(out, olen);
    if (c == NULL || origin == NULL || olen == 0)
        return 0;
    const struct s3_cors_rule *r = match(c, origin, olen, req->method, req->method_len, NULL, 0);
    if (r != NULL)
        answer(r, origin, olen, NULL, 0, out);
    return out->n;
}
