/* test_s3_lifecycle.c — lifecycle configurations (parse, checks, render), rule matching, expiry times. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3/s3.h"
#include "tests/unit/check.h"

#define NS "http://s3.amazonaws.com/doc/2006-03-01/"

static char msg[512];

static enum s3_err parse(const char *doc)
{
    struct s3_lifecycle lc;
    enum s3_err e = s3_lifecycle_parse(doc, strlen(doc), &lc, msg, sizeof(msg));
    if (e != S3E_OK)
        CHECK(lc.n == 0 && lc.rules == NULL);
    s3_lifecycle_release(&lc);
    return e;
}

/* <LifecycleConfiguration> around one rule body. */
static const char *conf(const char *rule)
{
    static char buf[1 << 16];
    snprintf(buf, sizeof(buf), "<LifecycleConfiguration xmlns=\"" NS "\"><Rule>%s</Rule></LifecycleConfiguration>",
             rule);
    return buf;
}

#define EN "<Status>Enabled</Status>"
#define EXP1 "<Expiration><Days>1</Days></Expiration>"

static void test_parse_render(void)
{
    struct s3_lifecycle lc;
    const char *doc =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LifecycleConfiguration xmlns=\"" NS "\">\n"
        " <Rule><ID>old</ID><Filter><Prefix>old/</Prefix></Filter>" EN "\n"
        "  <Expiration><Days>30</Days></Expiration></Rule>\n"
        " <Rule><ID>tagged</ID><Filter><And><Prefix>t/</Prefix><Tag><Key>a</Key><Value>1</Value></Tag>"
        "<Tag><Key>b</Key><Value></Value></Tag><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan>"
        "<ObjectSizeLessThan>100</ObjectSizeLessThan></And></Filter><Status>Disabled</Status>"
        "<Expiration><Date>2027-01-01T00:00:00Z</Date></Expiration></Rule>\n"
        " <Rule><ID>versions</ID><Filter></Filter>" EN
        "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays>"
        "<NewerNoncurrentVersions>2</NewerNoncurrentVersions></NoncurrentVersionExpiration>"
        "<Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration>"
        "<AbortIncompleteMultipartUpload><DaysAfterInitiation>7</DaysAfterInitiation>"
        "</AbortIncompleteMultipartUpload></Rule>\n"
        " <Rule><Prefix>legacy/</Prefix>" EN EXP1 "</Rule>\n"
        "</LifecycleConfiguration>";
    CHECK_ERR(s3_lifecycle_parse(doc, strlen(doc), &lc, msg, sizeof(msg)), S3E_OK);
    CHECK(lc.n == 4);
    if (lc.n != 4) {
        s3_lifecycle_release(&lc);
        return;
    }
    CHECK_STR(lc.rules[0].id, "old");
    CHECK_STR(lc.rules[0].prefix, "old/");
    CHECK(lc.rules[0].enabled && lc.rules[0].exp_days == 30 && lc.rules[0].exp_date_ms == -1);
    CHECK(!lc.rules[1].enabled && lc.rules[1].filter_and && lc.rules[1].n_tags == 2);
    CHECK(lc.rules[1].size_gt == 10 && lc.rules[1].size_lt == 100);
    CHECK(lc.rules[1].exp_date_ms == 1798761600000LL); /* 2027-01-01 */
    CHECK_STR(lc.rules[1].tags[1].key, "b");
    CHECK_STR(lc.rules[1].tags[1].value, "");
    CHECK(lc.rules[2].prefix == NULL && lc.rules[2].nc_days == 1 && lc.rules[2].nc_newer == 2);
    CHECK(lc.rules[2].exp_marker == 1 && lc.rules[2].abort_days == 7 && lc.rules[2].exp_days == 0);
    CHECK(lc.rules[3].legacy_prefix && lc.rules[3].id == NULL);

    struct dbuf d, d2;
    dbuf_init(&d, 1 << 20);
    dbuf_init(&d2, 1 << 20);
    CHECK(s3_lifecycle_render(&lc, &d) == 0);
    CHECK(strstr(d.ptr, "<Rule><Expiration><Days>30</Days></Expiration><ID>old</ID><Filter><Prefix>old/</Prefix>"
                        "</Filter><Status>Enabled</Status></Rule>") != NULL);
    CHECK(strstr(d.ptr, "<Expiration><Date>2027-01-01T00:00:00.000Z</Date></Expiration>") != NULL);
    CHECK(strstr(d.ptr, "<Filter><And><Prefix>t/</Prefix><Tag><Key>a</Key><Value>1</Value></Tag>") != NULL);
    CHECK(strstr(d.ptr, "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays><NewerNoncurrentVersions>2"
                        "</NewerNoncurrentVersions></NoncurrentVersionExpiration><AbortIncompleteMultipartUpload>"
                        "<DaysAfterInitiation>7</DaysAfterInitiation></AbortIncompleteMultipartUpload>") != NULL);
    CHECK(strstr(d.ptr, "<Filter></Filter>") != NULL);
    CHECK(strstr(d.ptr, "<Prefix>legacy/</Prefix><Status>") != NULL);
    /* The rendering parses to itself. */
    struct s3_lifecycle lc2;
    CHECK_ERR(s3_lifecycle_parse(d.ptr, d.len, &lc2, msg, sizeof(msg)), S3E_OK);
    CHECK(s3_lifecycle_render(&lc2, &d2) == 0);
    CHECK(d.len == d2.len && memcmp(d.ptr, d2.ptr, d.len) == 0);
    s3_lifecycle_release(&lc2);
    dbuf_release(&d);
    dbuf_release(&d2);
    s3_lifecycle_release(&lc);
    CHECK(lc.n == 0 && lc.rules == NULL);
}

static void check_refused(const char *rule, enum s3_err want, const char *want_msg)
{
    CHECK_ERR(parse(conf(rule)), want);
    if (want_msg != NULL)
        CHECK_STR(msg, want_msg);
}

static void test_refusals(void)
{
    /* Structure: MalformedXML. */
    CHECK_ERR(parse("<LifecycleConfiguration/>"), S3E_MALFORMED_XML);
    CHECK_ERR(parse("<CORSConfiguration><Rule>" EN EXP1 "<Filter/></Rule></CORSConfiguration>"), S3E_MALFORMED_XML);
    CHECK_ERR(parse("<LifecycleConfiguration><Rule>" EN EXP1 "<Filter/>"), S3E_MALFORMED_XML);
    CHECK_ERR(parse(""), S3E_MALFORMED_XML);
    check_refused(EN EXP1, S3E_MALFORMED_XML, NULL);                                  /* no Filter nor Prefix */
    check_refused(EN EXP1 "<Filter/><Prefix>a</Prefix>", S3E_MALFORMED_XML, NULL);    /* both */
    check_refused(EXP1 "<Filter/>", S3E_MALFORMED_XML, NULL);                         /* no Status */
    check_refused("<Status>On</Status>" EXP1 "<Filter/>", S3E_MALFORMED_XML, NULL);
    check_refused(EN EXP1 "<Filter><Prefix>a</Prefix><Tag><Key>k</Key><Value>v</Value></Tag></Filter>",
                  S3E_MALFORMED_XML, NULL); /* two predicates outside And */
    check_refused(EN EXP1 "<Filter><Tag><Key>k</Key></Tag></Filter>", S3E_MALFORMED_XML, NULL);
    check_refused(EN EXP1 EXP1 "<Filter/>", S3E_MALFORMED_XML, NULL);                  /* repeated */
    check_refused(EN "<Expiration><Days>x</Days></Expiration><Filter/>", S3E_MALFORMED_XML, NULL);
    check_refused(EN "<Expiration></Expiration><Filter/>", S3E_MALFORMED_XML, NULL);
    check_refused(EN "<Expiration><Days>1</Days><Date>2027-01-01T00:00:00Z</Date></Expiration><Filter/>",
                  S3E_MALFORMED_XML, NULL);
    check_refused(EN "<Expiration><Date>2027-13-01T00:00:00Z</Date></Expiration><Filter/>", S3E_MALFORMED_XML, NULL);
    check_refused(EN EXP1 "<Filter/><Bogus/>", S3E_MALFORMED_XML, NULL);
    check_refused(EN EXP1 "<Filter><ObjectSizeGreaterThan>-1</ObjectSizeGreaterThan></Filter>", S3E_MALFORMED_XML,
                  NULL);
    check_refused(EN "<Expiration><ExpiredObjectDeleteMarker>yes</ExpiredObjectDeleteMarker></Expiration><Filter/>",
                  S3E_MALFORMED_XML, NULL);
    CHECK_ERR(parse("<!DOCTYPE x><LifecycleConfiguration><Rule>" EN EXP1 "<Filter/></Rule></LifecycleConfiguration>"),
              S3E_MALFORMED_XML);

    /* Values: AWS's errors and messages. */
    check_refused(EN "<Filter/>", S3E_INVALID_REQUEST, "At least one action needs to be specified in a rule");
    check_refused(EN "<Expiration><Days>0</Days></Expiration><Filter/>", S3E_INVALID_ARGUMENT,
                  "'Days' for Expiration action must be a positive integer");
    check_refused(EN "<Expiration><Days>-3</Days></Expiration><Filter/>", S3E_INVALID_ARGUMENT,
                  "'Days' for Expiration action must be a positive integer");
    check_refused(EN "<Expiration><Date>2027-01-01T10:00:00Z</Date></Expiration><Filter/>", S3E_INVALID_ARGUMENT,
                  "'Date' must be at midnight GMT");
    check_refused(EN "<Expiration><Days>1</Days><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker>"
                     "</Expiration><Filter/>",
                  S3E_INVALID_ARGUMENT,
                  "ExpiredObjectDeleteMarker cannot be specified with Days or Date in a Lifecycle Expiration Policy.");
    check_refused(EN "<NoncurrentVersionExpiration><NoncurrentDays>0</NoncurrentDays></NoncurrentVersionExpiration>"
                     "<Filter/>",
                  S3E_INVALID_ARGUMENT,
                  "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer");
    check_refused(EN "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays><NewerNoncurrentVersions>101"
                     "</NewerNoncurrentVersions></NoncurrentVersionExpiration><Filter/>",
                  S3E_INVALID_ARGUMENT, NULL);
    check_refused(EN "<NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays><NewerNoncurrentVersions>0"
                     "</NewerNoncurrentVersions></NoncurrentVersionExpiration><Filter/>",
                  S3E_INVALID_ARGUMENT, NULL);
    check_refused(EN "<AbortIncompleteMultipartUpload><DaysAfterInitiation>0</DaysAfterInitiation>"
                     "</AbortIncompleteMultipartUpload><Filter/>",
                  S3E_INVALID_ARGUMENT,
                  "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer");
    check_refused(EN "<AbortIncompleteMultipartUpload><DaysAfterInitiation>1</DaysAfterInitiation>"
                     "</AbortIncompleteMultipartUpload><Filter><Tag><Key>k</Key><Value>v</Value></Tag></Filter>",
                  S3E_INVALID_REQUEST, "AbortIncompleteMultipartUpload cannot be specified with Tags.");
    check_refused(EN EXP1 "<Filter><And><Tag><Key>k</Key><Value>v</Value></Tag><Tag><Key>k</Key><Value>w</Value>"
                          "</Tag></And></Filter>",
                  S3E_INVALID_REQUEST, "Duplicate Tag Keys are not allowed.");
    check_refused(EN EXP1 "<Filter><And><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan><ObjectSizeLessThan>10"
                          "</ObjectSizeLessThan></And></Filter>",
                  S3E_INVALID_ARGUMENT, NULL);
    char id[300];
    memset(id, 'i', 256);
    id[256] = '\0';
    char rule[1024];
    snprintf(rule, sizeof(rule), "<ID>%s</ID>" EN EXP1 "<Filter/>", id);
    check_refused(rule, S3E_INVALID_ARGUMENT, "ID length should not exceed allowed limit of 255");
    id[255] = '\0';
    snprintf(rule, sizeof(rule), "<ID>%s</ID>" EN EXP1 "<Filter/>", id);
    CHECK_ERR(parse(conf(rule)), S3E_OK);
    check_refused(EN "<Transition><Days>30</Days><StorageClass>GLACIER</StorageClass></Transition><Filter/>",
                  S3E_NOT_IMPLEMENTED, NULL);
    CHECK(strstr(msg, "one storage class") != NULL);
    check_refused(EN EXP1 "<NoncurrentVersionTransition><NoncurrentDays>3</NoncurrentDays></NoncurrentVersionTransition>"
                          "<Filter/>",
                  S3E_NOT_IMPLEMENTED, NULL);
    /* Two rules, one ID. */
    const char *dup = "<LifecycleConfiguration><Rule><ID>x</ID>" EN EXP1 "<Filter/></Rule><Rule><ID>x</ID>" EN EXP1
                      "<Filter/></Rule></LifecycleConfiguration>";
    CHECK_ERR(parse(dup), S3E_INVALID_ARGUMENT);
    CHECK_STR(msg, "Rule ID must be unique. Found same ID for more than one rule");

    /* At most S3_LC_MAX_RULES rules. */
    struct dbuf big;
    dbuf_init(&big, 1 << 22);
    CHECK(dbuf_add(&big, "<LifecycleConfiguration>", 24) == 0);
    for (int i = 0; i < S3_LC_MAX_RULES; i++)
        CHECK(dbuf_printf(&big, "<Rule><ID>r%d</ID>" EN EXP1 "<Filter/></Rule>", i) == 0);
    size_t at = big.len;
    CHECK(dbuf_add(&big, "</LifecycleConfiguration>", 25) == 0);
    struct s3_lifecycle lc;
    CHECK_ERR(s3_lifecycle_parse(big.ptr, big.len, &lc, msg, sizeof(msg)), S3E_OK);
    CHECK(lc.n == S3_LC_MAX_RULES);
    s3_lifecycle_release(&lc);
    big.len = at;
    CHECK(dbuf_printf(&big, "<Rule><ID>extra</ID>" EN EXP1 "<Filter/></Rule></LifecycleConfiguration>") == 0);
    CHECK_ERR(s3_lifecycle_parse(big.ptr, big.len, &lc, msg, sizeof(msg)), S3E_MALFORMED_XML);
    dbuf_release(&big);
}

static void test_match(void)
{
    struct s3_lifecycle lc;
    const char *doc = "<LifecycleConfiguration><Rule>" EN EXP1 "<Filter><And><Prefix>logs/</Prefix><Tag><Key>t</Key>"
                      "<Value>x</Value></Tag><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan><ObjectSizeLessThan>"
                      "20</ObjectSizeLessThan></And></Filter></Rule><Rule>" EN EXP1 "<Filter/></Rule>"
                      "</LifecycleConfiguration>";
    CHECK_ERR(s3_lifecycle_parse(doc, strlen(doc), &lc, msg, sizeof(msg)), S3E_OK);
    if (lc.n != 2)
        return;
    struct s3_tag tags[2] = {{"other", "1"}, {"t", "x"}};
    struct s3_tag wrong[1] = {{"t", "y"}};
    const struct s3_lc_rule *r = &lc.rules[0];
    CHECK(s3_lc_rule_matches(r, "logs/a", 6, tags, 2, 15));
    CHECK(!s3_lc_rule_matches(r, "log/a", 5, tags, 2, 15));
    CHECK(!s3_lc_rule_matches(r, "logs/a", 6, tags, 2, 10)); /* bounds are exclusive */
    CHECK(!s3_lc_rule_matches(r, "logs/a", 6, tags, 2, 20));
    CHECK(s3_lc_rule_matches(r, "logs/a", 6, tags, 2, 11));
    CHECK(!s3_lc_rule_matches(r, "logs/a", 6, wrong, 1, 15));
    CHECK(!s3_lc_rule_matches(r, "logs/a", 6, NULL, 0, 15));
    CHECK(s3_lc_rule_matches(&lc.rules[1], "", 0, NULL, 0, 0));
    s3_lifecycle_release(&lc);
}

static void test_time(void)
{
    const int64_t D = S3_LC_DAY_MS;
    int64_t jan15_1030 = 1389781800000LL; /* 2014-01-15T10:30:00Z (S3's own example) */
    /* Created 1/15 10:30, 3 days: 1/18 10:30 rounded up to 1/19 00:00. */
    CHECK(s3_lc_due_ms(jan15_1030, 3) == 1390089600000LL);
    CHECK(s3_lc_due_ms(10 * D, 1) == 11 * D); /* already midnight */
    CHECK(s3_lc_due_ms(10 * D + 1, 1) == 12 * D);
    /* The cutoff agrees with the due time on both sides of it. */
    for (int64_t base = 10 * D - 5; base < 10 * D + 5; base++)
        for (int64_t now = 12 * D - 3; now < 13 * D + 3; now += D / 2 - 1) {
            int due = s3_lc_due_ms(base, 2) <= now;
            int cut = base <= s3_lc_cutoff_ms(now, 2);
            CHECK(due == cut);
        }
}

int main(void)
{
    test_parse_render();
    test_refusals();
    test_match();
    test_time();
    return check_summary();
}
