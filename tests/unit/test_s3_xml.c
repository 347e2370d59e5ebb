/* test_s3_xml.c — the XML writer, the error renderer and the body parsers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#include "s3/s3.h"
#include "tests/unit/check.h"

static void test_writer(void)
{
    struct dbuf d;
    struct s3_xml x;
    dbuf_init(&d, 1 << 16);
    s3_xml_begin(&x, &d, "ListBucketResult");
    s3_xml_elem(&x, "Name", "b");
    s3_xml_open(&x, "Contents");
    s3_xml_elem(&x, "Key", "a&b<c>\"d'\x01\t");
    s3_xml_elem_i64(&x, "Size", -42);
    s3_xml_elemn(&x, "ETag", "\"abc\"xyz", 5);
    s3_xml_close(&x, "Contents");
    s3_xml_elem(&x, "Prefix", NULL);
    CHECK(s3_xml_end(&x, "ListBucketResult") == 0);
    CHECK_STR(d.ptr, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                     "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>b</Name><Contents>"
                     "<Key>a&amp;b&lt;c&gt;&quot;d&apos;&#65533;&#9;</Key><Size>-42</Size><ETag>&quot;abc&quot;</ETag>"
                     "</Contents><Prefix></Prefix></ListBucketResult>");
    dbuf_release(&d);

    /* Overflow is sticky and reported at the end. */
    dbuf_init(&d, 120);
    s3_xml_begin(&x, &d, "R");
    for (int i = 0; i < 20; i++)
        s3_xml_elem(&x, "Key", "0123456789");
    CHECK(x.failed == 1);
    CHECK(s3_xml_end(&x, "R") == -1);
    CHECK(d.len <= 120);
    dbuf_release(&d);
    /* Overflow inside escaped text is detected too. */
    dbuf_init(&d, 110);
    s3_xml_begin(&x, &d, "R");
    s3_xml_elem(&x, "K", "&&&&&&&&&&&&&&&&&&&&&&&&&&&&&&");
    CHECK(s3_xml_end(&x, "R") == -1);
    dbuf_release(&d);
}

/* Expat (what Python's xml.etree and so boto3 use) reads doc, and the text
 * of its first <Key> is want (NULL: do not compare). */
struct key_text {
    int in_key, done;
    struct dbuf text;
};

static void XMLCALL kt_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct key_text *k = ud;
    (void)atts;
    k->in_key = !k->done && strcmp(name, "Key") == 0;
}

static void XMLCALL kt_end(void *ud, const XML_Char *name)
{
    struct key_text *k = ud;
    if (strcmp(name, "Key") == 0 && k->in_key)
        k->done = 1;
    k->in_key = 0;
}

static void XMLCALL kt_chars(void *ud, const XML_Char *s, int len)
{
    struct key_text *k = ud;
    if (k->in_key && dbuf_add(&k->text, s, (size_t)len) != 0)
        k->done = 1;
}

static int expat_reads(const char *doc, size_t len, const char *want)
{
    struct key_text k = {0};
    dbuf_init(&k.text, 1 << 16);
    XML_Parser p = XML_ParserCreate(NULL);
    XML_SetUserData(p, &k);
    XML_SetElementHandler(p, kt_start, kt_end);
    XML_SetCharacterDataHandler(p, kt_chars);
    int ok = XML_Parse(p, doc, (int)len, XML_TRUE) == XML_STATUS_OK;
    if (ok && want != NULL)
        ok = k.text.len == strlen(want) && memcmp(k.text.ptr, want, k.text.len) == 0;
    XML_ParserFree(p);
    dbuf_release(&k.text);
    return ok;
}

/* Every key the store can hold gives a listing expat parses. */
static void test_well_formed(void)
{
    static const struct {
        const char *key, *escaped, *read_back; /* read_back NULL: same as key */
    } v[] = {
        {"a\rb\nc", "a&#13;b&#10;c", NULL}, /* S3: CR as &#13;, LF as &#10; */
        {"t\tu", "t&#9;u", NULL},
        {"del\x7f", "del&#127;", NULL},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", NULL},
        {"a\x01" "b\x08", "a&#65533;b&#65533;", "a\xef\xbf\xbd" "b\xef\xbf\xbd"},
        {"a\xff\xfe" "b", "a&#65533;&#65533;b", "a\xef\xbf\xbd\xef\xbf\xbd" "b"},
        {"caf\xe9", "caf&#65533;", "caf\xef\xbf\xbd"},
        {"\xef\xbf\xbf!", "&#65533;!", "\xef\xbf\xbd!"},           /* U+FFFF */
        {"\xed\xa0\x80", "&#65533;&#65533;&#65533;", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* surrogate */
        {"x\xc3", "x&#65533;", "x\xef\xbf\xbd"},                     /* truncated at the end */
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        struct dbuf d;
        struct s3_xml x;
        dbuf_init(&d, 1 << 16);
        s3_xml_begin(&x, &d, "ListBucketResult");
        s3_xml_open(&x, "Contents");
        s3_xml_elem(&x, "Key", v[i].key);
        s3_xml_close(&x, "Contents");
        CHECK(s3_xml_end(&x, "ListBucketResult") == 0);
        const char *k = strstr(d.ptr, "<Key>");
        size_t el = strlen(v[i].escaped);
        if (k != NULL && strncmp(k + 5, v[i].escaped, el) == 0 && strncmp(k + 5 + el, "</Key>", 6) == 0) {
            passed++;
        } else {
            failed++;
            printf("FAIL well-formed case %zu: %s\n", i, d.ptr);
        }
        if (expat_reads(d.ptr, d.len, v[i].read_back ? v[i].read_back : v[i].key)) {
            passed++;
        } else {
            failed++;
            printf("FAIL expat case %zu: %s\n", i, d.ptr);
        }
        dbuf_release(&d);
    }
    CHECK(s3_xml_text_ok("caf\xc3\xa9\t\r\n\x7f<&>", 12));
    CHECK(s3_xml_text_ok("", 0));
    CHECK(!s3_xml_text_ok("a\x01", 2));
    CHECK(!s3_xml_text_ok("a\x1f", 2));
    CHECK(!s3_xml_text_ok("caf\xe9", 4));
    CHECK(!s3_xml_text_ok("\xef\xbf\xbe", 3)); /* U+FFFE */
    CHECK(s3_xml_text_ok("\xef\xbf\xbd", 3));  /* U+FFFD */
    /* The error document, whose Resource is the raw path, is well-formed too. */
    struct dbuf d;
    dbuf_init(&d, 4096);
    CHECK(s3_err_render(&d, S3E_INVALID_URI, NULL, "/bkt/a\xff\x01", "id") == 0);
    CHECK(expat_reads(d.ptr, d.len, NULL));
    CHECK(strstr(d.ptr, "<Code>InvalidURI</Code>") != NULL && s3_err_status(S3E_INVALID_URI) == 400);
    dbuf_release(&d);
}

static void test_errors(void)
{
    struct dbuf d;
    dbuf_init(&d, 4096);
    CHECK(s3_err_render(&d, S3E_NO_SUCH_KEY, NULL, "/b/a&b", "req-1") == 0);
    CHECK_STR(d.ptr, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code>"
                     "<Message>The specified key does not exist.</Message><Resource>/b/a&amp;b</Resource>"
                     "<RequestId>req-1</RequestId></Error>");
    dbuf_reset(&d);
    CHECK(s3_err_render(&d, S3E_ACCESS_DENIED, "Request has <expired>", NULL, "r") == 0);
    CHECK(strstr(d.ptr, "<Message>Request has &lt;expired&gt;</Message>") != NULL);
    CHECK(strstr(d.ptr, "<Resource>") == NULL);
    dbuf_release(&d);
    dbuf_init(&d, 50);
    CHECK(s3_err_render(&d, S3E_NO_SUCH_KEY, NULL, "/b/k", "r") == -1);
    CHECK(d.len == 0);
    dbuf_release(&d);

    static const struct {
        enum s3_err e;
        const char *code;
        int status;
    } t[] = {
        {S3E_NOT_MODIFIED, "NotModified", 304},
        {S3E_INVALID_RANGE, "InvalidRange", 416},
        {S3E_NOT_IMPLEMENTED, "NotImplemented", 501},
        {S3E_SLOW_DOWN, "SlowDown", 503},
        {S3E_SERVICE_UNAVAILABLE, "ServiceUnavailable", 503},
        {S3E_X_AMZ_CONTENT_SHA256_MISMATCH, "XAmzContentSHA256Mismatch", 400},
        {S3E_SIGNATURE_DOES_NOT_MATCH, "SignatureDoesNotMatch", 403},
        {S3E_ACCESS_DENIED, "AccessDenied", 403},
        {S3E_INVALID_ACCESS_KEY_ID, "InvalidAccessKeyId", 403},
        {S3E_REQUEST_TIME_TOO_SKEWED, "RequestTimeTooSkewed", 403},
        {S3E_METHOD_NOT_ALLOWED, "MethodNotAllowed", 405},
        {S3E_BUCKET_NOT_EMPTY, "BucketNotEmpty", 409},
        {S3E_BUCKET_ALREADY_EXISTS, "BucketAlreadyExists", 409},
        {S3E_BUCKET_ALREADY_OWNED_BY_YOU, "BucketAlreadyOwnedByYou", 409},
        {S3E_PRECONDITION_FAILED, "PreconditionFailed", 412},
        {S3E_ENTITY_TOO_LARGE, "EntityTooLarge", 400},
        {S3E_ENTITY_TOO_SMALL, "EntityTooSmall", 400},
        {S3E_INVALID_PART, "InvalidPart", 400},
        {S3E_INVALID_PART_ORDER, "InvalidPartOrder", 400},
        {S3E_MALFORMED_XML, "MalformedXML", 400},
        {S3E_BAD_DIGEST, "BadDigest", 400},
        {S3E_INVALID_DIGEST, "InvalidDigest", 400},
        {S3E_INVALID_ARGUMENT, "InvalidArgument", 400},
        {S3E_INVALID_REQUEST, "InvalidRequest", 400},
        {S3E_INCOMPLETE_BODY, "IncompleteBody", 400},
        {S3E_KEY_TOO_LONG, "KeyTooLongError", 400},
        {S3E_INVALID_BUCKET_NAME, "InvalidBucketName", 400},
        {S3E_AUTH_HEADER_MALFORMED, "AuthorizationHeaderMalformed", 400},
        {S3E_MISSING_CONTENT_LENGTH, "MissingContentLength", 411},
        {S3E_NO_SUCH_KEY, "NoSuchKey", 404},
        {S3E_NO_SUCH_BUCKET, "NoSuchBucket", 404},
        {S3E_NO_SUCH_UPLOAD, "NoSuchUpload", 404},
        {S3E_NO_SUCH_TAG_SET, "NoSuchTagSet", 404},
        {S3E_INTERNAL_ERROR, "InternalError", 500},
        {S3E_BAD_REQUEST, "BadRequest", 400},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        CHECK_STR(s3_err_code(t[i].e), t[i].code);
        CHECK(s3_err_status(t[i].e) == t[i].status);
    }
    for (int e = 1; e < S3E__COUNT; e++) {
        CHECK(s3_err_code((enum s3_err)e) != NULL && s3_err_message((enum s3_err)e) != NULL);
        CHECK(s3_err_status((enum s3_err)e) >= 300);
    }
    CHECK_STR(s3_err_code(S3E__COUNT), "InternalError");
}

static void test_complete(void)
{
    struct s3_complete_part *p;
    size_t n;
    const char *b1 = "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                     "<Part><ETag>\"a54357aff0632cce46d942af68356b38\"</ETag><PartNumber>1</PartNumber></Part>"
                     "<Part><PartNumber>2</PartNumber><ETag>&quot;0c78aef83f66abc1fa1e8477f296d394&quot;</ETag>"
                     "<ChecksumCRC32>xx</ChecksumCRC32></Part>\n"
                     "<Part><PartNumber> 3 </PartNumber><ETag>acbd18db4cc2f85cedef654fccc4a4d8</ETag></Part>"
                     "</CompleteMultipartUpload>";
    CHECK_ERR(s3_xml_parse_complete(b1, strlen(b1), &p, &n), S3E_OK);
    CHECK(n == 3);
    if (n == 3) {
        CHECK(p[0].part_number == 1 && strcmp(p[0].etag, "a54357aff0632cce46d942af68356b38") == 0);
        CHECK(p[1].part_number == 2 && strcmp(p[1].etag, "0c78aef83f66abc1fa1e8477f296d394") == 0);
        CHECK(strcmp(p[1].ck_alg, "crc32") == 0 && strcmp(p[1].ck_value, "xx") == 0);
        CHECK(p[0].ck_alg[0] == '\0' && p[2].ck_alg[0] == '\0');
        CHECK(p[2].part_number == 3 && strcmp(p[2].etag, "acbd18db4cc2f85cedef654fccc4a4d8") == 0);
    }
    free(p);

    const char *b2 = "<s3:CompleteMultipartUpload xmlns:s3=\"x\"><s3:Part><s3:PartNumber>7</s3:PartNumber>"
                     "<s3:ETag>e</s3:ETag></s3:Part></s3:CompleteMultipartUpload>";
    CHECK_ERR(s3_xml_parse_complete(b2, strlen(b2), &p, &n), S3E_OK);
    CHECK(n == 1 && p[0].part_number == 7);
    free(p);

    static const struct {
        const char *body;
        enum s3_err want;
    } bad[] = {
        {"", S3E_MALFORMED_XML},
        {"<CompleteMultipartUpload></CompleteMultipartUpload>", S3E_MALFORMED_XML},
        {"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>",
         S3E_MALFORMED_XML},
        {"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>",
         S3E_MALFORMED_XML},
        {"<CompleteMultipartUpload><Part><PartNumber>0</PartNumber><ETag>e</ETag></Part></CompleteMultipartUpload>",
         S3E_INVALID_PART},
        {"<CompleteMultipartUpload><Part><PartNumber>10001</PartNumber><ETag>e</ETag></Part>"
         "</CompleteMultipartUpload>",
         S3E_INVALID_PART},
        {"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e</ETag></Part>", S3E_MALFORMED_XML},
        /* A part's checksum: one algorithm, a value that fits. */
        {"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e</ETag><ChecksumCRC32>a</ChecksumCRC32>"
         "<ChecksumSHA1>b</ChecksumSHA1></Part></CompleteMultipartUpload>",
         S3E_INVALID_PART},
        {"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e</ETag><ChecksumCRC32> </ChecksumCRC32>"
         "</Part></CompleteMultipartUpload>",
         S3E_INVALID_PART},
        {"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>e</ETag><ChecksumSHA256>"
         "0123456789012345678901234567890123456789012345678901234567890123456789</ChecksumSHA256>"
         "</Part></CompleteMultipartUpload>",
         S3E_INVALID_PART},
        {"<Delete><Object><Key>k</Key></Object></Delete>", S3E_MALFORMED_XML},
        {"<!DOCTYPE x [<!ENTITY a \"b\">]><CompleteMultipartUpload/>", S3E_MALFORMED_XML},
        {"not xml", S3E_MALFORMED_XML},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        p = (void *)1;
        CHECK_ERR(s3_xml_parse_complete(bad[i].body, strlen(bad[i].body), &p, &n), bad[i].want);
        CHECK(p == NULL && n == 0);
    }

    /* 10000 parts are fine, 10001 are not. */
    struct dbuf d;
    dbuf_init(&d, S3_MAX_XML_BODY);
    int rc = dbuf_adds(&d, "<CompleteMultipartUpload>");
    for (int i = 1; i <= 10001; i++) {
        rc |= dbuf_printf(&d, "<Part><PartNumber>%d</PartNumber><ETag>\"x\"</ETag></Part>", i);
        if (i == 10000) {
            size_t keep = d.len;
            rc |= dbuf_adds(&d, "</CompleteMultipartUpload>");
            CHECK_ERR(s3_xml_parse_complete(d.ptr, d.len, &p, &n), S3E_OK);
            CHECK(n == 10000 && p[9999].part_number == 10000);
            free(p);
            d.len = keep;
        }
    }
    rc |= dbuf_adds(&d, "</CompleteMultipartUpload>");
    CHECK(rc == 0);
    CHECK_ERR(s3_xml_parse_complete(d.ptr, d.len, &p, &n), S3E_MALFORMED_XML);
    dbuf_release(&d);
}

static void test_delete(void)
{
    struct s3_delete_key *k;
    size_t n;
    int quiet;
    const char *b = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                    "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Object><Key>a b&amp;c</Key></Object>"
                    "<Object><Key> sp </Key><VersionId>null</VersionId></Object><Quiet>true</Quiet></Delete>";
    CHECK_ERR(s3_xml_parse_delete(b, strlen(b), &k, &n, &quiet), S3E_OK);
    CHECK(n == 2 && quiet == 1);
    if (n == 2) {
        CHECK_STR(k[0].key, "a b&c");
        CHECK_STR(k[1].key, " sp ");
    }
    s3_delete_keys_free(k, n);
    const char *b2 = "<Delete><Object><Key>x</Key></Object><Quiet>false</Quiet></Delete>";
    CHECK_ERR(s3_xml_parse_delete(b2, strlen(b2), &k, &n, &quiet), S3E_OK);
    CHECK(n == 1 && quiet == 0);
    s3_delete_keys_free(k, n);
    /* <ETag>: a conditional delete of that key only. */
    const char *be = "<Delete><Object><Key>a</Key><ETag> \"0123\" </ETag></Object><Object><Key>b</Key></Object>"
                     "<Object><ETag>*</ETag><Key>c</Key></Object></Delete>";
    CHECK_ERR(s3_xml_parse_delete(be, strlen(be), &k, &n, &quiet), S3E_OK);
    CHECK(n == 3);
    if (n == 3) {
        CHECK_STR(k[0].etag, "\"0123\"");
        CHECK(k[1].etag == NULL);
        CHECK_STR(k[2].etag, "*");
        CHECK_STR(k[2].key, "c");
    }
    s3_delete_keys_free(k, n);
    const char *b3 = "<Delete><Object><VersionId>x</VersionId></Object></Delete>";
    CHECK_ERR(s3_xml_parse_delete(b3, strlen(b3), &k, &n, &quiet), S3E_MALFORMED_XML);
    const char *b4 = "<Delete></Delete>";
    CHECK_ERR(s3_xml_parse_delete(b4, strlen(b4), &k, &n, &quiet), S3E_MALFORMED_XML);
    s3_delete_keys_free(NULL, 0);

    struct dbuf d;
    dbuf_init(&d, S3_MAX_XML_BODY);
    int rc = dbuf_adds(&d, "<Delete>");
    for (int i = 0; i < 1001; i++)
        rc |= dbuf_printf(&d, "<Object><Key>k%d</Key></Object>", i);
    rc |= dbuf_adds(&d, "</Delete>");
    CHECK(rc == 0);
    CHECK_ERR(s3_xml_parse_delete(d.ptr, d.len, &k, &n, &quiet), S3E_MALFORMED_XML);
    dbuf_release(&d);
}

static void test_create_bucket(void)
{
    char loc[64];
    CHECK_ERR(s3_xml_parse_create_bucket("", 0, loc, sizeof(loc)), S3E_OK);
    CHECK_STR(loc, "");
    CHECK_ERR(s3_xml_parse_create_bucket("  \n", 3, loc, sizeof(loc)), S3E_OK);
    const char *b = "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                    "<LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>";
    CHECK_ERR(s3_xml_parse_create_bucket(b, strlen(b), loc, sizeof(loc)), S3E_OK);
    CHECK_STR(loc, "eu-west-1");
    CHECK_ERR(s3_xml_parse_create_bucket("<CreateBucketConfiguration/>", 28, loc, sizeof(loc)), S3E_OK);
    CHECK_STR(loc, "");
    CHECK_ERR(s3_xml_parse_create_bucket("<Foo/>", 6, loc, sizeof(loc)), S3E_MALFORMED_XML);
    CHECK_ERR(s3_xml_parse_create_bucket("<CreateBucketConfiguration>", 27, loc, sizeof(loc)), S3E_MALFORMED_XML);
}

static void test_tagging(void)
{
    struct s3_tag tags[10];
    size_t n;
    const char *b = "<Tagging><TagSet><Tag><Key>k1</Key><Value>v1</Value></Tag>"
                    "<Tag><Key>k2</Key><Value></Value></Tag></TagSet></Tagging>";
    CHECK_ERR(s3_xml_parse_tagging(b, strlen(b), tags, 10, &n), S3E_OK);
    CHECK(n == 2 && strcmp(tags[0].key, "k1") == 0 && strcmp(tags[0].value, "v1") == 0 &&
          strcmp(tags[1].key, "k2") == 0 && strcmp(tags[1].value, "") == 0);
    CHECK_ERR(s3_xml_parse_tagging("<Tagging><TagSet/></Tagging>", 28, tags, 10, &n), S3E_OK);
    CHECK(n == 0);
    CHECK_ERR(s3_xml_parse_tagging(b, strlen(b), tags, 1, &n), S3E_BAD_REQUEST);
    const char *dup = "<Tagging><TagSet><Tag><Key>k</Key><Value>1</Value></Tag>"
                      "<Tag><Key>k</Key><Value>2</Value></Tag></TagSet></Tagging>";
    CHECK_ERR(s3_xml_parse_tagging(dup, strlen(dup), tags, 10, &n), S3E_INVALID_ARGUMENT);
    char big[600];
    snprintf(big, sizeof(big), "<Tagging><TagSet><Tag><Key>%0130d</Key><Value>v</Value></Tag></TagSet></Tagging>", 0);
    CHECK_ERR(s3_xml_parse_tagging(big, strlen(big), tags, 10, &n), S3E_INVALID_ARGUMENT);
}

static uint64_t rng = 0x2545f4914f6cdd1dull;

static uint64_t next(void)
{
    return check_rand(&rng);
}

/* Random mutations of valid bodies: the parsers must fail cleanly or succeed
 * with bounded results; the sanitizers catch leaks and overruns. */
static void test_mutations(void)
{
    static const char *const bodies[] = {
        "<CompleteMultipartUpload><Part><ETag>\"a\"</ETag><PartNumber>1</PartNumber></Part>"
        "<Part><PartNumber>2</PartNumber><ETag>&quot;b&quot;</ETag></Part></CompleteMultipartUpload>",
        "<Delete><Quiet>true</Quiet><Object><Key>a&amp;b</Key></Object><Object><Key>c</Key></Object></Delete>",
        "<CreateBucketConfiguration><LocationConstraint>eu</LocationConstraint></CreateBucketConfiguration>",
        "<Tagging><TagSet><Tag><Key>k</Key><Value>v</Value></Tag></TagSet></Tagging>",
    };
    static const char alphabet[] = "<>/&;\"'=:! aZ09\x80\xff";
    int bad = 0;
    char buf[512];
    for (int i = 0; i < 4000; i++) {
        int which = (int)(next() % 4);
        size_t n = strlen(bodies[which]);
        memcpy(buf, bodies[which], n);
        int flips = 1 + (int)(next() % 3);
        for (int k = 0; k < flips; k++)
            buf[next() % n] = alphabet[next() % (sizeof(alphabet) - 1)];
        if (next() % 4 == 0)
            n = (size_t)(next() % n);
        if (which == 0) {
            struct s3_complete_part *p;
            size_t np;
            if (s3_xml_parse_complete(buf, n, &p, &np) == S3E_OK) {
                if (np == 0 || np > 2)
                    bad++;
                free(p);
            }
        } else if (which == 1) {
            struct s3_delete_key *k;
            size_t nk;
            int q;
            if (s3_xml_parse_delete(buf, n, &k, &nk, &q) == S3E_OK) {
                if (nk == 0 || nk > 2)
                    bad++;
                s3_delete_keys_free(k, nk);
            }
        } else if (which == 2) {
            char loc[8];
            enum s3_err e = s3_xml_parse_create_bucket(buf, n, loc, sizeof(loc));
            if (e == S3E_OK && strlen(loc) >= sizeof(loc))
                bad++;
        } else {
            struct s3_tag tags[2];
            size_t nt;
            if (s3_xml_parse_tagging(buf, n, tags, 2, &nt) == S3E_OK && nt > 2)
                bad++;
        }
    }
    CHECK(bad == 0);
}

int main(void)
{
    test_writer();
    test_well_formed();
    test_errors();
    test_complete();
    test_delete();
    test_create_bucket();
    test_tagging();
    test_mutations();
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed ? 1 : 0;
}
