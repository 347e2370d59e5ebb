/* fuzz_objlock.c — versioning and Object Lock documents and the lock headers of writes (s3/objlock.c).
 *
 * Input: a request in the text form of fuzz.h. Its body is read as each of
 * the four documents (<VersioningConfiguration>, <ObjectLockConfiguration>,
 * <Retention>, <LegalHold>), its headers as x-amz-object-lock-*, and its
 * body's start as an ISO 8601 date. Checked: the outputs hold the values
 * S3 allows (a mode, a period within bounds, exactly one of Days and Years,
 * a date after now); an error is one of those the documentation promises,
 * with a message where AWS gives one; whatever parses renders into a
 * document that parses back to the same values.
 */
#include "tests/fuzz/fuzz.h"

#define NOW 1765000000000LL /* ms */

static void render_back(int (*render)(const void *v, struct dbuf *out), const void *v, struct dbuf *out)
{
    dbuf_init(out, 1 << 16);
    FUZZ_CHECK(render(v, out) == 0);
}

static int r_ver(const void *v, struct dbuf *out) { return s3_versioning_render(*(const int *)v, out); }
static int r_lc(const void *v, struct dbuf *out) { return s3_lock_config_render(v, out); }
static int r_ret(const void *v, struct dbuf *out) { return s3_retention_render(v, out); }
static int r_lh(const void *v, struct dbuf *out) { return s3_legal_hold_render(*(const int *)v, out); }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_req fr;
    struct dbuf d;
    char msg[256];
    fuzz_req_parse(&fr, data, size);
    char *body = xmalloc(fr.body_len ? fr.body_len : 1);
    memcpy(body, fr.body, fr.body_len);
    size_t len = fr.body_len;

    int st, mfa;
    enum s3_err e = s3_versioning_parse(body, len, &st, &mfa);
    FUZZ_CHECK(e == S3E_OK || e == S3E_MALFORMED_XML);
    if (e == S3E_OK) {
        FUZZ_CHECK((st == 1 || st == 2) && (mfa == 0 || mfa == 1));
        int st2, mfa2;
        render_back(r_ver, &st, &d);
        FUZZ_CHECK(s3_versioning_parse(d.ptr, d.len, &st2, &mfa2) == S3E_OK && st2 == st && mfa2 == 0);
        dbuf_release(&d);
    }

    struct s3_lock_config c, c2;
    e = s3_lock_config_parse(body, len, &c, msg, sizeof(msg));
    FUZZ_CHECK(memchr(msg, '\0', sizeof(msg)) != NULL);
    FUZZ_CHECK(e == S3E_OK || e == S3E_MALFORMED_XML || (e == S3E_INVALID_ARGUMENT && msg[0] != '\0'));
    if (e == S3E_OK) {
        if (c.mode == S3_LOCK_NONE)
            FUZZ_CHECK(c.days == 0 && c.years == 0);
        else
            FUZZ_CHECK((c.days > 0) != (c.years > 0) && c.days <= S3_LOCK_MAX_DAYS && c.years <= S3_LOCK_MAX_YEARS);
        render_back(r_lc, &c, &d);
        FUZZ_CHECK(s3_lock_config_parse(d.ptr, d.len, &c2, msg, sizeof(msg)) == S3E_OK);
        FUZZ_CHECK(c2.mode == c.mode && c2.days == c.days && c2.years == c.years);
        dbuf_release(&d);
    } else {
        FUZZ_CHECK(c.mode == S3_LOCK_NONE);
    }

    struct s3_retention r, r2;
    e = s3_retention_parse(body, len, NOW, &r, msg, sizeof(msg));
    FUZZ_CHECK(e == S3E_OK || e == S3E_MALFORMED_XML || (e == S3E_INVALID_ARGUMENT && msg[0] != '\0'));
    if (e == S3E_OK) {
        FUZZ_CHECK(r.mode == S3_LOCK_NONE ? r.until_ms == 0 : r.until_ms > NOW);
        render_back(r_ret, &r, &d);
        FUZZ_CHECK(s3_retention_parse(d.ptr, d.len, NOW, &r2, msg, sizeof(msg)) == S3E_OK);
        FUZZ_CHECK(r2.mode == r.mode && r2.until_ms == r.until_ms);
        dbuf_release(&d);
    }

    int on, on2;
    e = s3_legal_hold_parse(body, len, &on);
    FUZZ_CHECK(e == S3E_OK || e == S3E_MALFORMED_XML);
    if (e == S3E_OK) {
        render_back(r_lh, &on, &d);
        FUZZ_CHECK(s3_legal_hold_parse(d.ptr, d.len, &on2) == S3E_OK && on2 == on);
        dbuf_release(&d);
    }

    struct s3_lock_headers h;
    e = s3_lock_headers_parse(&fr.req, NOW, &h, msg, sizeof(msg));
    FUZZ_CHECK(e == S3E_OK || (e == S3E_INVALID_ARGUMENT && msg[0] != '\0'));
    if (e == S3E_OK && h.retention)
        FUZZ_CHECK(h.mode != S3_LOCK_NONE && h.until_ms > NOW);
    FUZZ_CHECK(h.legal_hold >= -1 && h.legal_hold <= 1);

    /* A date that parses renders (ms precision) and parses back to itself, within the civil range. */
    size_t dl = len < 40 ? len : 40;
    int64_t t = s3_time_parse_iso(body, dl);
    if (t != INT64_MIN && t >= 0 && t < 253402300800000LL) {
        char iso[32];
        s3_time_iso(t, iso);
        FUZZ_CHECK(s3_time_parse_iso(iso, strlen(iso)) == t);
    }

    free(body);
    fuzz_req_release(&fr);
    return 0;
}
