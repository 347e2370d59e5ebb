/* test_s3_objlock.c — versioning and Object Lock documents (parse, render) and the lock headers (s3/objlock.c). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3/s3.h"
#include "tests/unit/check.h"

#define NS "http://s3.amazonaws.com/doc/2006-03-01/"
#define T2030 1893456000000LL /* 2030-01-01T00:00:00Z, ms */
#define NOW 1765000000000LL   /* 2025-12-06, ms */

static char msg[256];

static char *render(int (*fn)(const void *arg, struct dbuf *out), const void *arg)
{
    static char buf[4096];
    struct dbuf d;
    dbuf_init(&d, sizeof(buf) - 1);
    buf[0] = '\0';
    if (fn(arg, &d) == 0 && d.len < sizeof(buf)) {
        memcpy(buf, d.ptr, d.len);
        buf[d.len] = '\0';
    }
    dbuf_release(&d);
    return buf;
}

static void test_iso(void)
{
    CHECK(s3_time_parse_iso("2030-01-01T00:00:00Z", 20) == T2030);
    CHECK(s3_time_parse_iso("2030-01-01T00:00:00.000Z", 24) == T2030);
    CHECK(s3_time_parse_iso("2030-01-01T00:00:00.5Z", 22) == T2030 + 500);
    CHECK(s3_time_parse_iso("2030-01-01T00:00:00.123456789Z", 30) == T2030 + 123);
    CHECK(s3_time_parse_iso("2030-01-01T02:00:00+02:00", 25) == T2030);
    CHECK(s3_time_parse_iso("2029-12-31T22:00:00-02:00", 25) == T2030);
    CHECK(s3_time_parse_iso("2024-02-29T00:00:00Z", 20) == 1709164800000LL);
    const char *bad[] = {"2030-01-01", "2030-01-01T00:00:00", "2030-13-01T00:00:00Z", "2030-02-29T00:00:00Z",
                         "2030-01-01T24:00:00Z", "2030-01-01T00:00:60Z", "2030-01-01T00:00:00.Z",
                         "2030-01-01T00:00:00ZZ", "2030-01-01 00:00:00Z", "2030-1-01T00:00:00Z",
                         "2030-01-01T00:00:00+2:00", "01/06/2030", "", "2030-01-01T00:00:00.0000000000Z"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(s3_time_parse_iso(bad[i], strlen(bad[i])) == INT64_MIN);
}

static int ver_render(const void *arg, struct dbuf *out)
{
    return s3_versioning_render(*(const int *)arg, out);
}

static void test_versioning(void)
{
    int st, mfa;
#define VP(doc) s3_versioning_parse(doc, strlen(doc), &st, &mfa)
    CHECK_ERR(VP("<VersioningConfiguration xmlns=\"" NS "\"><Status>Enabled</Status></VersioningConfiguration>"),
              S3E_OK);
    CHECK(st == 1 && mfa == 0);
    CHECK_ERR(VP("<?xml version=\"1.0\"?>\n<VersioningConfiguration>\n  <Status>Suspended</Status>\n"
                 "  <MfaDelete>Disabled</MfaDelete>\n</VersioningConfiguration>"),
              S3E_OK);
    CHECK(st == 2 && mfa == 0);
    CHECK_ERR(VP("<VersioningConfiguration><MfaDelete>Enabled</MfaDelete><Status>Enabled</Status>"
                 "</VersioningConfiguration>"),
              S3E_OK);
    CHECK(st == 1 && mfa == 1);
    CHECK_ERR(VP("<s3:VersioningConfiguration xmlns:s3=\"" NS "\"><s3:Status>Enabled</s3:Status>"
                 "</s3:VersioningConfiguration>"),
              S3E_OK);
    const char *bad[] = {
        "",
        "<VersioningConfiguration/>",
        "<VersioningConfiguration><Status>enabled</Status></VersioningConfiguration>",
        "<VersioningConfiguration><Status>Disabled</Status></VersioningConfiguration>",
        "<VersioningConfiguration><Status>Enabled</Status><Status>Enabled</Status></VersioningConfiguration>",
        "<VersioningConfiguration><Status>Enabled</Status><MfaDelete>Maybe</MfaDelete></VersioningConfiguration>",
        "<VersioningConfiguration><Status>Enabled</Status><Other/></VersioningConfiguration>",
        "<VersioningConfiguration><Status><b>Enabled</b></Status></VersioningConfiguration>",
        "<VersioningConfiguration>x<Status>Enabled</Status></VersioningConfiguration>",
        "<Versioning><Status>Enabled</Status></Versioning>",
        "<VersioningConfiguration><Status>Enabled</Status>",
        "<!DOCTYPE x [<!ENTITY e \"Enabled\">]><VersioningConfiguration><Status>&e;</Status>"
        "</VersioningConfiguration>",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_ERR(VP(bad[i]), S3E_MALFORMED_XML);
#undef VP
    int s0 = 0, s1 = 1, s2 = 2;
    CHECK_STR(render(ver_render, &s0), "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<VersioningConfiguration xmlns=\"" NS
                                       "\"></VersioningConfiguration>");
    CHECK(strstr(render(ver_render, &s1), "<Status>Enabled</Status>") != NULL);
    CHECK(strstr(render(ver_render, &s2), "<Status>Suspended</Status>") != NULL);
}

static int lc_render(const void *arg, struct dbuf *out)
{
    return s3_lock_config_render(arg, out);
}

static enum s3_err lc(const char *inner, struct s3_lock_config *c)
{
    char doc[2048];
    snprintf(doc, sizeof(doc), "<ObjectLockConfiguration xmlns=\"" NS "\">%s</ObjectLockConfiguration>", inner);
    return s3_lock_config_parse(doc, strlen(doc), c, msg, sizeof(msg));
}

#define EN "<ObjectLockEnabled>Enabled</ObjectLockEnabled>"
#define DR(x) "<Rule><DefaultRetention>" x "</DefaultRetention></Rule>"

static void test_lock_config(void)
{
    struct s3_lock_config c;
    CHECK_ERR(lc(EN, &c), S3E_OK);
    CHECK(c.mode == S3_LOCK_NONE && c.days == 0 && c.years == 0);
    CHECK_ERR(lc(EN DR("<Mode>GOVERNANCE</Mode><Days>1</Days>"), &c), S3E_OK);
    CHECK(c.mode == S3_LOCK_GOVERNANCE && c.days == 1 && c.years == 0);
    CHECK_ERR(lc(DR("<Years>2</Years><Mode>COMPLIANCE</Mode>") EN, &c), S3E_OK);
    CHECK(c.mode == S3_LOCK_COMPLIANCE && c.days == 0 && c.years == 2);
    CHECK_ERR(lc(EN DR("<Mode>COMPLIANCE</Mode><Days>36500</Days>"), &c), S3E_OK);
    CHECK_ERR(lc(EN DR("<Mode>COMPLIANCE</Mode><Years>100</Years>"), &c), S3E_OK);

    const char *malformed[] = {
        "",
        "<ObjectLockEnabled>Disabled</ObjectLockEnabled>",
        "<ObjectLockEnabled>enabled</ObjectLockEnabled>",
        DR("<Mode>GOVERNANCE</Mode><Days>1</Days>"),
        EN "<Rule/>",
        EN "<Rule><DefaultRetention/></Rule>",
        EN DR("<Mode>GOVERNANCE</Mode>"),
        EN DR("<Days>1</Days>"),
        EN DR("<Mode>governance</Mode><Days>1</Days>"),
        EN DR("<Mode>NONE</Mode><Days>1</Days>"),
        EN DR("<Mode>GOVERNANCE</Mode><Days>1</Days><Years>1</Years>"),
        EN DR("<Mode>GOVERNANCE</Mode><Days>one</Days>"),
        EN DR("<Mode>GOVERNANCE</Mode><Days>1.5</Days>"),
        EN DR("<Mode>GOVERNANCE</Mode><Days></Days>"),
        EN DR("<Mode>GOVERNANCE</Mode><Days>1</Days><Days>2</Days>"),
        EN "<Rule><Mode>GOVERNANCE</Mode><Days>1</Days></Rule>",
        EN EN,
        EN "<Token>x</Token>",
    };
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        CHECK_ERR(lc(malformed[i], &c), S3E_MALFORMED_XML);
        CHECK(c.mode == S3_LOCK_NONE);
    }
    CHECK_ERR(lc(EN DR("<Mode>GOVERNANCE</Mode><Days>0</Days>"), &c), S3E_INVALID_ARGUMENT);
    CHECK_STR(msg, "Default retention period must be a positive integer value.");
    CHECK_ERR(lc(EN DR("<Mode>COMPLIANCE</Mode><Years>-1</Years>"), &c), S3E_INVALID_ARGUMENT);
    CHECK_STR(msg, "Default retention period must be a positive integer value.");
    CHECK_ERR(lc(EN DR("<Mode>COMPLIANCE</Mode><Days>36501</Days>"), &c), S3E_INVALID_ARGUMENT);
    CHECK_STR(msg, "Default retention period is too large.");
    CHECK_ERR(lc(EN DR("<Mode>COMPLIANCE</Mode><Years>101</Years>"), &c), S3E_INVALID_ARGUMENT);
    CHECK_ERR(s3_lock_config_parse("<Other/>", 8, &c, msg, sizeof(msg)), S3E_MALFORMED_XML);

    struct s3_lock_config none = {0}, gov = {S3_LOCK_GOVERNANCE, 3, 0}, comp = {S3_LOCK_COMPLIANCE, 0, 1};
    CHECK_STR(render(lc_render, &none), "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ObjectLockConfiguration "
                                        "xmlns=\"" NS "\"><ObjectLockEnabled>Enabled</ObjectLockEnabled>"
                                        "</ObjectLockConfiguration>");
    CHECK(strstr(render(lc_render, &gov), DR("<Mode>GOVERNANCE</Mode><Days>3</Days>")) != NULL);
    CHECK(strstr(render(lc_render, &comp), DR("<Mode>COMPLIANCE</Mode><Years>1</Years>")) != NULL);
    /* What is rendered parses back to the same. */
    const char *doc = render(lc_render, &gov);
    CHECK_ERR(s3_lock_config_parse(doc, strlen(doc), &c, msg, sizeof(msg)), S3E_OK);
    CHECK(c.mode == S3_LOCK_GOVERNANCE && c.days == 3 && c.years == 0);
}

static int ret_render(const void *arg, struct dbuf *out)
{
    return s3_retention_render(arg, out);
}

static enum s3_err ret(const char *inner, struct s3_retention *r)
{
    char doc[1024];
    snprintf(doc, sizeof(doc), "<Retention xmlns=\"" NS "\">%s</Retention>", inner);
    return s3_retention_parse(doc, strlen(doc), NOW, r, msg, sizeof(msg));
}

static void test_retention(void)
{
    struct s3_retention r;
    CHECK_ERR(ret("<Mode>COMPLIANCE</Mode><RetainUntilDate>2030-01-01T00:00:00Z</RetainUntilDate>", &r), S3E_OK);
    CHECK(r.mode == S3_LOCK_COMPLIANCE && r.until_ms == T2030);
    CHECK_ERR(ret("<RetainUntilDate>2030-01-01T00:00:00.000Z</RetainUntilDate><Mode>GOVERNANCE</Mode>", &r), S3E_OK);
    CHECK(r.mode == S3_LOCK_GOVERNANCE && r.until_ms == T2030);
    CHECK_ERR(ret("", &r), S3E_OK); /* removes a retention */
    CHECK(r.mode == S3_LOCK_NONE && r.until_ms == 0);
    const char *bad[] = {
        "<Mode>COMPLIANCE</Mode>",
        "<RetainUntilDate>2030-01-01T00:00:00Z</RetainUntilDate>",
        "<Mode>compliance</Mode><RetainUntilDate>2030-01-01T00:00:00Z</RetainUntilDate>",
        "<Mode>COMPLIANCE</Mode><RetainUntilDate>2030-01-01</RetainUntilDate>",
        "<Mode>COMPLIANCE</Mode><RetainUntilDate>tomorrow</RetainUntilDate>",
        "<Mode>COMPLIANCE</Mode><Mode>COMPLIANCE</Mode><RetainUntilDate>2030-01-01T00:00:00Z</RetainUntilDate>",
        "<Mode>COMPLIANCE</Mode><RetainUntilDate>2030-01-01T00:00:00Z</RetainUntilDate><X/>",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK_ERR(ret(bad[i], &r), S3E_MALFORMED_XML);
    CHECK_ERR(ret("<Mode>GOVERNANCE</Mode><RetainUntilDate>2020-01-01T00:00:00Z</RetainUntilDate>", &r),
              S3E_INVALID_ARGUMENT);
    CHECK_STR(msg, "The retain until date must be in the future!");
    CHECK(r.mode == S3_LOCK_NONE);

    struct s3_retention c = {S3_LOCK_COMPLIANCE, T2030}, none = {0};
    CHECK(strstr(render(ret_render, &c),
                 "<Mode>COMPLIANCE</Mode><RetainUntilDate>2030-01-01T00:00:00.000Z</RetainUntilDate>") != NULL);
    CHECK(strstr(render(ret_render, &none), "<Mode>") == NULL);
}

static int lh_render(const void *arg, struct dbuf *out)
{
    return s3_legal_hold_render(*(const int *)arg, out);
}

static void test_legal_hold(void)
{
    int on = -1;
#define LH(doc) s3_legal_hold_parse(doc, strlen(doc), &on)
    CHECK_ERR(LH("<LegalHold xmlns=\"" NS "\"><Status>ON</Status></LegalHold>"), S3E_OK);
    CHECK(on == 1);
    CHECK_ERR(LH("<LegalHold><Status> OFF </Status></LegalHold>"), S3E_OK);
    CHECK(on == 0);
    CHECK_ERR(LH("<LegalHold><Status>on</Status></LegalHold>"), S3E_MALFORMED_XML);
    CHECK_ERR(LH("<LegalHold></LegalHold>"), S3E_MALFORMED_XML);
    CHECK_ERR(LH("<LegalHold><Status>ON</Status><Status>OFF</Status></LegalHold>"), S3E_MALFORMED_XML);
    CHECK_ERR(LH("<Hold><Status>ON</Status></Hold>"), S3E_MALFORMED_XML);
    CHECK_ERR(LH("<LegalHold><Status>ON</Status>"), S3E_MALFORMED_XML);
#undef LH
    int one = 1, zero = 0;
    CHECK(strstr(render(lh_render, &one), "<LegalHold xmlns=\"" NS "\"><Status>ON</Status></LegalHold>") != NULL);
    CHECK(strstr(render(lh_render, &zero), "<Status>OFF</Status>") != NULL);
}

/* Lock headers of a request given as "name", "value" pairs, NULL-terminated. */
static enum s3_err hdrs(struct s3_lock_headers *h, ...)
{
    struct s3_header hv[8];
    struct s3_request r;
    va_list ap;
    memset(&r, 0, sizeof(r));
    r.method = "PUT";
    r.method_len = 3;
    va_start(ap, h);
    size_t n = 0;
    const char *name;
    while ((name = va_arg(ap, const char *)) != NULL && n < 8) {
        const char *v = va_arg(ap, const char *);
        hv[n++] = (struct s3_header){name, strlen(name), v, strlen(v)};
    }
    va_end(ap);
    r.headers = hv;
    r.n_headers = n;
    return s3_lock_headers_parse(&r, NOW, h, msg, sizeof(msg));
}

static void test_headers(void)
{
    struct s3_lock_headers h;
    CHECK_ERR(hdrs(&h, "content-type", "text/plain", NULL), S3E_OK);
    CHECK(!s3_lock_headers_given(&h) && h.legal_hold == -1 && !h.retention);
    CHECK_ERR(hdrs(&h, "X-Amz-Object-Lock-Mode", "COMPLIANCE", "x-amz-object-lock-retain-until-date",
                   "2030-01-01T00:00:00.000Z", NULL),
              S3E_OK);
    CHECK(s3_lock_headers_given(&h) && h.retention && h.mode == S3_LOCK_COMPLIANCE && h.until_ms == T2030 &&
          h.legal_hold == -1);
    CHECK_ERR(hdrs(&h, "x-amz-object-lock-legal-hold", "ON", NULL), S3E_OK);
    CHECK(s3_lock_headers_given(&h) && !h.retention && h.legal_hold == 1);
    CHECK_ERR(hdrs(&h, "x-amz-object-lock-legal-hold", "OFF", NULL), S3E_OK);
    CHECK(s3_lock_headers_given(&h) && h.legal_hold == 0);

    CHECK_ERR(hdrs(&h, "x-amz-object-lock-mode", "GOVERNANCE", NULL), S3E_INVALID_ARGUMENT);
    CHECK_STR(msg, "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied");
    CHECK_ERR(hdrs(&h, "x-amz-object-lock-retain-until-date", "2030-01-01T00:00:00Z", NULL), S3E_INVALID_ARGUMENT);
    CHECK_STR(msg, "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied");
    CHECK_ERR(hdrs(&h, "x-amz-object-lock-mode", "governance", "x-amz-object-lock-retain-until-date",
                   "2030-01-01T00:00:00Z", NULL),
              S3E_INVALID_ARGUMENT);
    CHECK_STR(msg, "Unknown wormMode directive.");
    CHECK_ERR(hdrs(&h, "x-amz-object-lock-mode", "GOVERNANCE", "x-amz-object-lock-retain-until-date", "06/06/2030",
                   NULL),
              S3E_INVALID_ARGUMENT);
    CHECK_STR(msg, "The retain until date must be provided in ISO 8601 format");
    CHECK_ERR(hdrs(&h, "x-amz-object-lock-mode", "GOVERNANCE", "x-amz-object-lock-retain-until-date",
                   "2020-01-01T00:00:00Z", NULL),
              S3E_INVALID_ARGUMENT);
    CHECK_STR(msg, "The retain until date must be in the future!");
    CHECK(!h.retention);
    CHECK_ERR(hdrs(&h, "x-amz-object-lock-legal-hold", "on", NULL), S3E_INVALID_ARGUMENT);
    CHECK_STR(msg, "Legal Hold must be either of 'ON' or 'OFF'");
    CHECK_STR(s3_lock_mode_name(S3_LOCK_NONE), "");
    CHECK(s3_lock_mode_parse("COMPLIANCE", 10) == S3_LOCK_COMPLIANCE);
    CHECK(s3_lock_mode_parse("COMPLIANC", 9) == -1);
}

int main(void)
{
    test_iso();
    test_versioning();
    test_lock_config();
    test_retention();
    test_legal_hold();
    test_headers();
    return check_summary();
}
