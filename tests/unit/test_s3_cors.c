/* test_s3_cors.c — CORS configurations (parse, render) and the preflight and actual-request answers. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3/s3.h"
#include "tests/unit/check.h"

#define NS "http://s3.amazonaws.com/doc/2006-03-01/"
#define MIN "<AllowedOrigin>https://example.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
#define VARY "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"

static char msg[512];

static enum s3_err parse(const char *doc)
{
    struct s3_cors c;
    enum s3_err e = s3_cors_parse(doc, strlen(doc), &c, msg, sizeof(msg));
    s3_cors_release(&c);
    return e;
}

/* <CORSConfiguration> around the given rule bodies. */
static char *conf(const char *r1, const char *r2)
{
    static char buf[1 << 16];
    snprintf(buf, sizeof(buf), "<CORSConfiguration xmlns=\"" NS "\"><CORSRule>%s</CORSRule>%s%s%s</CORSConfiguration>",
             r1, r2 ? "<CORSRule>" : "", r2 ? r2 : "", r2 ? "</CORSRule>" : "");
    return buf;
}

static void test_parse(void)
{
    struct s3_cors c;
    const char *full = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CORSConfiguration xmlns=\"" NS "\">\n"
                       " <CORSRule>\n  <ID>rule-1</ID>\n"
                       "  <AllowedOrigin>https://example.com</AllowedOrigin>\n"
                       "  <AllowedOrigin>https://*.example.org</AllowedOrigin>\n"
                       "  <AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT</AllowedMethod>\n"
                       "  <AllowedHeader>x-amz-*</AllowedHeader><ExposeHeader>ETag</ExposeHeader>\n"
                       "  <MaxAgeSeconds>3000</MaxAgeSeconds>\n </CORSRule>\n"
                       " <CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>HEAD</AllowedMethod></CORSRule>\n"
                       "</CORSConfiguration>";
    CHECK_ERR(s3_cors_parse(full, strlen(full), &c, msg, sizeof(msg)), S3E_OK);
    CHECK(c.n == 2);
    if (c.n == 2) {
        CHECK_STR(c.rules[0].id, "rule-1");
        CHECK(c.rules[0].n_origins == 2 && c.rules[0].n_methods == 2 && c.rules[0].n_headers == 1);
        CHECK_STR(c.rules[0].origins[1], "https://*.example.org");
        CHECK_STR(c.rules[0].expose[0], "ETag");
        CHECK(c.rules[0].max_age == 3000);
        CHECK(c.rules[1].id == NULL && c.rules[1].max_age == -1 && c.rules[1].n_expose == 0);
    }
    /* Rendered as GetBucketCors answers, and parsed back to the same. */
    struct dbuf d;
    dbuf_init(&d, 1 << 20);
    CHECK(s3_cors_render(&c, &d) == 0);
    CHECK(strstr(d.ptr, "<CORSRule><ID>rule-1</ID><AllowedMethod>GET</AllowedMethod><AllowedMethod>PUT"
                        "</AllowedMethod><AllowedOrigin>https://example.com</AllowedOrigin><AllowedOrigin>"
                        "https://*.example.org</AllowedOrigin><AllowedHeader>x-amz-*</AllowedHeader><MaxAgeSeconds>"
                        "3000</MaxAgeSeconds><ExposeHeader>ETag</ExposeHeader></CORSRule>") != NULL);
    struct s3_cors c2;
    CHECK_ERR(s3_cors_parse(d.ptr, d.len, &c2, msg, sizeof(msg)), S3E_OK);
    struct dbuf d2;
    dbuf_init(&d2, 1 << 20);
    CHECK(s3_cors_render(&c2, &d2) == 0);
    CHECK(d.len == d2.len && memcmp(d.ptr, d2.ptr, d.len) == 0);
    dbuf_release(&d);
    dbuf_release(&d2);
    s3_cors_release(&c2);
    s3_cors_release(&c);

    /* Forms: a prefix, no namespace. */
    CHECK_ERR(parse("<s3:CORSConfiguration xmlns:s3=\"" NS "\"><s3:CORSRule><s3:AllowedOrigin>*</s3:AllowedOrigin>"
                    "<s3:AllowedMethod>GET</s3:AllowedMethod></s3:CORSRule></s3:CORSConfiguration>"),
              S3E_OK);
    CHECK_ERR(parse("<CORSConfiguration><CORSRule>" MIN "</CORSRule></CORSConfiguration>"), S3E_OK);
    CHECK_ERR(parse(conf(MIN "<MaxAgeSeconds>2147483647</MaxAgeSeconds>", NULL)), S3E_OK);

    /* MalformedXML. */
    CHECK_ERR(parse(""), S3E_MALFORMED_XML);
    CHECK_ERR(parse("not xml"), S3E_MALFORMED_XML);
    CHECK_ERR(parse("<CORSConfiguration xmlns=\"" NS "\"/>"), S3E_MALFORMED_XML);
    CHECK_ERR(parse("<CORSRules><CORSRule>" MIN "</CORSRule></CORSRules>"), S3E_MALFORMED_XML);
    CHECK_ERR(parse("<!DOCTYPE CORSConfiguration><CORSConfiguration><CORSRule>" MIN "</CORSRule></CORSConfiguration>"),
              S3E_MALFORMED_XML);
    CHECK_ERR(parse(conf("<AllowedMethod>GET</AllowedMethod>", NULL)), S3E_MALFORMED_XML);
    CHECK_ERR(parse(conf("<AllowedOrigin>*</AllowedOrigin>", NULL)), S3E_MALFORMED_XML);
    CHECK_ERR(parse(conf(MIN, "<AllowedOrigin>*</AllowedOrigin>")), S3E_MALFORMED_XML);
    CHECK_ERR(parse(conf(MIN "<AllowedHeaders>*</AllowedHeaders>", NULL)), S3E_MALFORMED_XML);
    CHECK_ERR(parse(conf(MIN "text", NULL)), S3E_MALFORMED_XML);
    CHECK_ERR(parse(conf("<AllowedOrigin><O>*</O></AllowedOrigin><AllowedMethod>GET</AllowedMethod>", NULL)),
              S3E_MALFORMED_XML);
    CHECK_ERR(parse(conf(MIN "<MaxAgeSeconds>-1</MaxAgeSeconds>", NULL)), S3E_MALFORMED_XML);
    CHECK_ERR(parse(conf(MIN "<MaxAgeSeconds>2147483648</MaxAgeSeconds>", NULL)), S3E_MALFORMED_XML);
    CHECK_ERR(parse(conf(MIN "<MaxAgeSeconds>1</MaxAgeSeconds><MaxAgeSeconds>1</MaxAgeSeconds>", NULL)),
              S3E_MALFORMED_XML);
    CHECK_ERR(parse(conf(MIN "<ID>a</ID><ID>b</ID>", NULL)), S3E_MALFORMED_XML);
    char id[400];
    memset(id, 'a', 256);
    id[256] = '\0';
    char rule[600];
    snprintf(rule, sizeof(rule), MIN "<ID>%s</ID>", id);
    CHECK_ERR(parse(conf(rule, NULL)), S3E_MALFORMED_XML);
    id[255] = '\0';
    snprintf(rule, sizeof(rule), MIN "<ID>%s</ID>", id);
    CHECK_ERR(parse(conf(rule, NULL)), S3E_OK);
    /* 100 rules, and 101. */
    struct dbuf many;
    dbuf_init(&many, 1 << 20);
    CHECK(dbuf_adds(&many, "<CORSConfiguration>") == 0);
    for (int i = 0; i < 100; i++)
        (void)!dbuf_adds(&many, "<CORSRule>" MIN "</CORSRule>");
    CHECK(dbuf_adds(&many, "</CORSConfiguration>") == 0);
    CHECK_ERR(parse(many.ptr), S3E_OK);
    dbuf_reset(&many);
    CHECK(dbuf_adds(&many, "<CORSConfiguration>") == 0);
    for (int i = 0; i < 101; i++)
        (void)!dbuf_adds(&many, "<CORSRule>" MIN "</CORSRule>");
    CHECK(dbuf_adds(&many, "</CORSConfiguration>") == 0);
    CHECK_ERR(parse(many.ptr), S3E_MALFORMED_XML);
    /* Over 64 KB. */
    dbuf_reset(&many);
    CHECK(dbuf_adds(&many, "<CORSConfiguration><CORSRule>" MIN "<ID>") == 0);
    static char spaces[70001];
    memset(spaces, ' ', 70000);
    CHECK(dbuf_adds(&many, spaces) == 0);
    CHECK(dbuf_adds(&many, "</ID></CORSRule></CORSConfiguration>") == 0);
    CHECK_ERR(parse(many.ptr), S3E_MALFORMED_XML);
    dbuf_release(&many);

    /* InvalidRequest, with AWS's messages. */
    CHECK_ERR(parse(conf("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
                         "<AllowedMethod>PATCH</AllowedMethod>",
                         NULL)),
              S3E_INVALID_REQUEST);
    CHECK_STR(msg, "Found unsupported HTTP method in CORS config. Unsupported method is PATCH");
    CHECK_ERR(parse(conf("<AllowedOrigin>*</AllowedOrigin><AllowedMethod>get</AllowedMethod>", NULL)),
              S3E_INVALID_REQUEST);
    CHECK_ERR(parse(conf("<AllowedOrigin>https://*.example.*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>",
                         NULL)),
              S3E_INVALID_REQUEST);
    CHECK_STR(msg, "AllowedOrigin \"https://*.example.*\" can not have more than one wildcard.");
    CHECK_ERR(parse(conf(MIN "<AllowedHeader>x-*-meta-*</AllowedHeader>", NULL)), S3E_INVALID_REQUEST);
    CHECK_STR(msg, "AllowedHeader \"x-*-meta-*\" can not have more than one wildcard.");
    CHECK_ERR(parse(conf(MIN, MIN "<ExposeHeader>x-amz-*</ExposeHeader>")), S3E_INVALID_REQUEST);
    CHECK_STR(msg, "ExposeHeader \"x-amz-*\" contains wildcard. We currently do not support wildcard for "
                   "ExposeHeader.");
    /* The structure is checked before the values. */
    CHECK_ERR(parse(conf("<AllowedMethod>PATCH</AllowedMethod>", NULL)), S3E_MALFORMED_XML);
}

/* A request from headers given as "name", "value" pairs, NULL-terminated. */
struct req {
    struct s3_header h[8];
    struct s3_request r;
};

static void req_init(struct req *q, const char *method, ...)
{
    va_list ap;
    memset(q, 0, sizeof(*q));
    q->r.method = method;
    q->r.method_len = strlen(method);
    q->r.path = "/b/k";
    q->r.path_len = 4;
    va_start(ap, method);
    size_t n = 0;
    const char *name;
    while ((name = va_arg(ap, const char *)) != NULL && n < 8) {
        const char *v = va_arg(ap, const char *);
        q->h[n++] = (struct s3_header){name, strlen(name), v, strlen(v)};
    }
    va_end(ap);
    q->r.headers = q->h;
    q->r.n_headers = n;
}

/* The value of header name in a, or NULL. */
static const char *hv(const struct s3_cors_answer *a, const char *name)
{
    static char v[4096];
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->names[i], name) == 0) {
            if (a->len[i] >= sizeof(v) || memchr(a->buf.ptr + a->off[i], '\0', a->len[i]) != NULL)
                return "(value with a NUL or too long)";
            memcpy(v, a->buf.ptr + a->off[i], a->len[i]);
            v[a->len[i]] = '\0';
            return v;
        }
    return NULL;
}

static void test_answers(void)
{
    struct s3_cors c;
    const char *doc = "<CORSConfiguration>"
                      "<CORSRule><ID>site</ID><AllowedOrigin>https://example.com</AllowedOrigin>"
                      "<AllowedOrigin>https://*.example.com</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
                      "<AllowedMethod>PUT</AllowedMethod><AllowedMethod>DELETE</AllowedMethod>"
                      "<AllowedHeader>Content-Type</AllowedHeader><AllowedHeader>x-amz-*</AllowedHeader>"
                      "<ExposeHeader>ETag</ExposeHeader><ExposeHeader>x-amz-request-id</ExposeHeader>"
                      "<MaxAgeSeconds>3000</MaxAgeSeconds></CORSRule>"
                      "<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
                      "<AllowedMethod>HEAD</AllowedMethod></CORSRule>"
                      "</CORSConfiguration>";
    CHECK_ERR(s3_cors_parse(doc, strlen(doc), &c, msg, sizeof(msg)), S3E_OK);
    struct req q;
    struct s3_cors_answer a;

    req_init(&q, "OPTIONS", "Origin", "https://example.com", "Access-Control-Request-Method", "PUT",
             "Access-Control-Request-Headers", "Content-Type,X-Amz-Date ,  x-amz-meta-Name", NULL);
    CHECK_ERR(s3_cors_preflight(&c, 1, &q.r, &a, msg, sizeof(msg)), S3E_OK);
    CHECK_STR(hv(&a, "Access-Control-Allow-Origin"), "https://example.com");
    CHECK_STR(hv(&a, "Access-Control-Allow-Methods"), "GET, PUT, DELETE");
    CHECK_STR(hv(&a, "Access-Control-Allow-Headers"), "content-type, x-amz-date, x-amz-meta-name");
    CHECK_STR(hv(&a, "Access-Control-Expose-Headers"), "ETag, x-amz-request-id");
    CHECK_STR(hv(&a, "Access-Control-Max-Age"), "3000");
    CHECK_STR(hv(&a, "Access-Control-Allow-Credentials"), "true");
    CHECK_STR(hv(&a, "Vary"), VARY);
    CHECK(a.n == 7 && strcmp(a.names[0], "Access-Control-Allow-Origin") == 0 && strcmp(a.names[6], "Vary") == 0);
    s3_cors_answer_release(&a);

    /* A header the first rule does not allow: the second rule has no AllowedHeader, so nothing matches. */
    req_init(&q, "OPTIONS", "Origin", "https://example.com", "Access-Control-Request-Method", "PUT",
             "Access-Control-Request-Headers", "content-type, authorization", NULL);
    CHECK_ERR(s3_cors_preflight(&c, 1, &q.r, &a, msg, sizeof(msg)), S3E_CORS_FORBIDDEN);
    CHECK(strncmp(msg, "CORSResponse: This CORS request is not allowed.", 47) == 0);
    s3_cors_answer_release(&a);

    /* A pattern origin; the literal '*' of the second rule answers '*' without credentials. */
    req_init(&q, "OPTIONS", "Origin", "https://app.example.com", "Access-Control-Request-Method", "DELETE", NULL);
    CHECK_ERR(s3_cors_preflight(&c, 1, &q.r, &a, msg, sizeof(msg)), S3E_OK);
    CHECK_STR(hv(&a, "Access-Control-Allow-Origin"), "https://app.example.com");
    CHECK(hv(&a, "Access-Control-Allow-Headers") == NULL);
    s3_cors_answer_release(&a);
    req_init(&q, "OPTIONS", "Origin", "https://example.org", "Access-Control-Request-Method", "HEAD", NULL);
    CHECK_ERR(s3_cors_preflight(&c, 1, &q.r, &a, msg, sizeof(msg)), S3E_OK);
    CHECK_STR(hv(&a, "Access-Control-Allow-Origin"), "*");
    CHECK_STR(hv(&a, "Access-Control-Allow-Methods"), "GET, HEAD");
    CHECK(hv(&a, "Access-Control-Allow-Credentials") == NULL && hv(&a, "Access-Control-Max-Age") == NULL);
    CHECK(a.n == 3);
    s3_cors_answer_release(&a);
    /* Origins compare case-sensitively; the wildcard needs its text on both sides. */
    req_init(&q, "OPTIONS", "Origin", "https://EXAMPLE.com", "Access-Control-Request-Method", "PUT", NULL);
    CHECK_ERR(s3_cors_preflight(&c, 1, &q.r, &a, msg, sizeof(msg)), S3E_CORS_FORBIDDEN);
    s3_cors_answer_release(&a);
    req_init(&q, "OPTIONS", "Origin", "https://example.com.evil", "Access-Control-Request-Method", "PUT", NULL);
    CHECK_ERR(s3_cors_preflight(&c, 1, &q.r, &a, msg, sizeof(msg)), S3E_CORS_FORBIDDEN);
    s3_cors_answer_release(&a);

    /* 400s, then the bucket, then the configuration. */
    req_init(&q, "OPTIONS", "Access-Control-Request-Method", "GET", NULL);
    CHECK_ERR(s3_cors_preflight(&c, 1, &q.r, &a, msg, sizeof(msg)), S3E_BAD_REQUEST);
    CHECK_STR(msg, "Insufficient information. Origin request header needed.");
    s3_cors_answer_release(&a);
    req_init(&q, "OPTIONS", "Origin", "https://example.com", NULL);
    CHECK_ERR(s3_cors_preflight(NULL, 0, &q.r, &a, msg, sizeof(msg)), S3E_BAD_REQUEST);
    CHECK_STR(msg, "Invalid Access-Control-Request-Method: null");
    s3_cors_answer_release(&a);
    req_init(&q, "OPTIONS", "Origin", "https://example.com", "Access-Control-Request-Method", "PATCH", NULL);
    CHECK_ERR(s3_cors_preflight(&c, 1, &q.r, &a, msg, sizeof(msg)), S3E_BAD_REQUEST);
    CHECK_STR(msg, "Invalid Access-Control-Request-Method: PATCH");
    s3_cors_answer_release(&a);
    req_init(&q, "OPTIONS", "Origin", "https://example.com", "Access-Control-Request-Method", "GET", NULL);
    CHECK_ERR(s3_cors_preflight(NULL, 0, &q.r, &a, msg, sizeof(msg)), S3E_CORS_FORBIDDEN);
    CHECK_STR(msg, "CORSResponse: Bucket not found");
    s3_cors_answer_release(&a);
    CHECK_ERR(s3_cors_preflight(NULL, 1, &q.r, &a, msg, sizeof(msg)), S3E_CORS_FORBIDDEN);
    CHECK_STR(msg, "CORSResponse: CORS is not enabled for this bucket.");
    s3_cors_answer_release(&a);

    /* Actual requests: the request's own method; AllowedHeader plays no part. */
    req_init(&q, "PUT", "Origin", "https://example.com", "Content-Type", "text/plain", NULL);
    CHECK(s3_cors_actual(&c, &q.r, &a) == 6);
    CHECK_STR(hv(&a, "Access-Control-Allow-Origin"), "https://example.com");
    CHECK_STR(hv(&a, "Access-Control-Expose-Headers"), "ETag, x-amz-request-id");
    CHECK(hv(&a, "Access-Control-Allow-Headers") == NULL);
    s3_cors_answer_release(&a);
    req_init(&q, "POST", "Origin", "https://example.com", NULL);
    CHECK(s3_cors_actual(&c, &q.r, &a) == 0);
    s3_cors_answer_release(&a);
    req_init(&q, "HEAD", "Origin", "https://example.com", NULL);
    CHECK(s3_cors_actual(&c, &q.r, &a) == 3);
    CHECK_STR(hv(&a, "Access-Control-Allow-Origin"), "*");
    s3_cors_answer_release(&a);
    req_init(&q, "GET", NULL);
    CHECK(s3_cors_actual(&c, &q.r, &a) == 0);
    s3_cors_answer_release(&a);
    req_init(&q, "GET", "Origin", "https://example.com", NULL);
    CHECK(s3_cors_actual(NULL, &q.r, &a) == 0);
    s3_cors_answer_release(&a);
    s3_cors_release(&c);

    /* Wildcards in headers are case-insensitive and do not overlap. */
    const char *doc2 = "<CORSConfiguration><CORSRule><AllowedOrigin>http*</AllowedOrigin>"
                       "<AllowedMethod>PUT</AllowedMethod><AllowedHeader>x-*-id</AllowedHeader>"
                       "</CORSRule></CORSConfiguration>";
    CHECK_ERR(s3_cors_parse(doc2, strlen(doc2), &c, msg, sizeof(msg)), S3E_OK);
    req_init(&q, "OPTIONS", "Origin", "https://a", "Access-Control-Request-Method", "PUT",
             "Access-Control-Request-Headers", "X-Request-ID", NULL);
    CHECK_ERR(s3_cors_preflight(&c, 1, &q.r, &a, msg, sizeof(msg)), S3E_OK);
    CHECK_STR(hv(&a, "Access-Control-Allow-Origin"), "https://a");
    s3_cors_answer_release(&a);
    req_init(&q, "OPTIONS", "Origin", "https://a", "Access-Control-Request-Method", "PUT",
             "Access-Control-Request-Headers", "x-id", NULL);
    CHECK_ERR(s3_cors_preflight(&c, 1, &q.r, &a, msg, sizeof(msg)), S3E_CORS_FORBIDDEN);
    s3_cors_answer_release(&a);
    req_init(&q, "OPTIONS", "Origin", "ftp://a", "Access-Control-Request-Method", "PUT", NULL);
    CHECK_ERR(s3_cors_preflight(&c, 1, &q.r, &a, msg, sizeof(msg)), S3E_CORS_FORBIDDEN);
    s3_cors_answer_release(&a);
    s3_cors_release(&c);
}

int main(void)
{
    test_parse();
    test_answers();
    return check_summary();
}
