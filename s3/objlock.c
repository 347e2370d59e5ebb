/* objlock.c — the documents of bucket versioning and S3 Object Lock, and the lock headers of writes.
 *
 * PutBucketVersioning (<VersioningConfiguration>), PutObjectLockConfiguration
 * (<ObjectLockConfiguration>), PutObjectRetention (<Retention>) and
 * PutObjectLegalHold (<LegalHold>) send small documents of fixed shape. One
 * reader takes them all: it knows each document's element paths, refuses
 * any other element, a repeated one, text between elements, a DOCTYPE and a
 * body over S3_MAX_XML_BODY (MalformedXML, as S3 answers a document that
 * does not validate against its schema), and hands the trimmed values to the
 * document's own checks, which map bad values to S3's errors and messages.
 * The same file renders the documents the Get operations answer, and reads
 * the x-amz-object-lock-mode / -retain-until-date / -legal-hold headers.
 * Pure: times come in as arguments (unix ms).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#include "s3/s3_int.h"

#define MAX_PATH 128   /* bytes of an element path ("A/B/C") */
#define MAX_VALUE 64   /* bytes of a value (the longest is a date) */
#define MAX_FIELDS 6

/* ---- modes and dates ------------------------------------------------------------------ */

const char *s3_lock_mode_name(enum s3_lock_mode m)
{
    return m == S3_LOCK_GOVERNANCE ? "GOVERNANCE" : m == S3_LOCK_COMPLIANCE ? "COMPLIANCE" : "";
}

int s3_lock_mode_parse(const char *s, size_t len)
{
    if (len == 10 && memcmp(s, "GOVERNANCE", 10) == 0)
        return S3_LOCK_GOVERNANCE;
    if (len == 10 && memcmp(s, "COMPLIANCE", 10) == 0)
        return S3_LOCK_COMPLIANCE;
    return -1;
}

static int num(const char *s, size_t n, unsigned *v)
{
    *v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        *v = *v * 10 + (unsigned)(s[i] - '0');
    }
    return 1;
}

static int leap(unsigned y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int64_t s3_time_parse_iso(const char *s, size_t len)
{
    static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned y, mo, d, h, mi, sec, ms = 0;
    if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':' || !num(s, 4, &y) || !num(s + 5, 2, &mo) || !num(s + 8, 2, &d) || !num(s + 11, 2, &h) ||
        !num(s + 14, 2, &mi) || !num(s + 17, 2, &sec))
        return INT64_MIN;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] + (mo == 2 && leap(y)) || h > 23 || mi > 59 || sec > 59)
        return INT64_MIN;
    size_t i = 19;
    if (s[i] == '.') { /* a fraction: milliseconds kept, the rest dropped */
        size_t k = ++i;
        unsigned scale = 100;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            ms += (unsigned)(s[i] - '0') * scale;
            scale /= 10;
            i++;
        }
        if (i == k || i - k > 9)
            return INT64_MIN;
    }
    int64_t off = 0;
    if (i + 1 == len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        unsigned oh, om;
        if (!num(s + i + 1, 2, &oh) || !num(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return INT64_MIN;
        off = (int64_t)(oh * 60 + om) * 60 * (s[i] == '+' ? 1 : -1);
        i += 6;
    }
    if (i != len)
        return INT64_MIN;
    int64_t secs = s3_days_from_civil(y, mo, d) * 86400 + (int64_t)h * 3600 + (int64_t)mi * 60 + sec - off;
    return secs * 1000 + ms;
}

/* ---- one reader for the four documents ---------------------------------------------- */

struct doc {
    const char *root;
    const char *const *paths; /* the leaf paths below root ("Status", "Rule/DefaultRetention/Mode") */
    size_t n_paths;
};

struct reader {
    XML_Parser p;
    const struct doc *doc;
    char path[MAX_PATH]; /* of the open element, below root ("" at root) */
    size_t path_len;
    int depth;
    int leaf;            /* the open element is a leaf: index into paths, else -1 */
    int inner;           /* elements opened below root that hold others (Rule, DefaultRetention) */
    struct dbuf text;
    char values[MAX_FIELDS][MAX_VALUE];
    int seen[MAX_FIELDS];
    int failed;
};

static void rd_fail(struct reader *rd)
{
    rd->failed = 1;
    XML_StopParser(rd->p, XML_FALSE);
}

static const char *local_name(const char *n)
{
    const char *c = strrchr(n, ':');
    return c ? c + 1 : n;
}

/* Is path (len bytes) a leaf path, or a prefix of one ending at a '/'? */
static int path_known(const struct doc *doc, const char *path, size_t len, int *leaf)
{
    *leaf = -1;
    for (size_t i = 0; i < doc->n_paths; i++) {
        const char *p = doc->paths[i];
        size_t pl = strlen(p);
        if (pl == len && memcmp(p, path, len) == 0) {
            *leaf = (int)i;
            return 1;
        }
        if (pl > len && memcmp(p, path, len) == 0 && p[len] == '/')
            return 1;
    }
    return 0;
}

static void XMLCALL rd_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct reader *rd = ud;
    const char *ln = local_name(name);
    (void)atts;
    if (rd->failed)
        return;
    if (rd->leaf >= 0) { /* an element inside a value */
        rd_fail(rd);
        return;
    }
    rd->depth++;
    if (rd->depth == 1) {
        if (strcmp(ln, rd->doc->root) != 0)
            rd_fail(rd);
        return;
    }
    size_t nl = strlen(ln), add = (rd->path_len ? 1 : 0) + nl;
    if (rd->path_len + add >= sizeof(rd->path)) {
        rd_fail(rd);
        return;
    }
    if (rd->path_len)
        rd->path[rd->path_len++] = '/';
    memcpy(rd->path + rd->path_len, ln, nl + 1);
    rd->path_len += nl;
    if (!path_known(rd->doc, rd->path, rd->path_len, &rd->leaf) || (rd->leaf >= 0 && rd->seen[rd->leaf])) {
        rd_fail(rd);
        return;
    }
    if (rd->leaf < 0)
        rd->inner++;
    dbuf_reset(&rd->text);
}

static int blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void XMLCALL rd_end(void *ud, const XML_Char *name)
{
    struct reader *rd = ud;
    (void)name;
    if (rd->failed)
        return;
    if (rd->leaf >= 0) {
        const char *s = rd->text.ptr ? rd->text.ptr : "";
        size_t n = rd->text.len;
        while (n && blank(*s)) {
            s++;
            n--;
        }
        while (n && blank(s[n - 1]))
            n--;
        if (n >= MAX_VALUE || memchr(s, '\0', n) != NULL) {
            rd_fail(rd);
            return;
        }
        memcpy(rd->values[rd->leaf], s, n);
        rd->values[rd->leaf][n] = '\0';
        rd->seen[rd->leaf] = 1;
        rd->leaf = -1;
    }
    rd->depth--;
    while (rd->path_len > 0 && rd->path[rd->path_len - 1] != '/')
        rd->path_len--;
    if (rd->path_len > 0)
        rd->path_len--;
    rd->path[rd->path_len] = '\0';
}

static void XMLCALL rd_chars(void *ud, const XML_Char *s, int len)
{
    struct reader *rd = ud;
    if (rd->failed)
        return;
    if (rd->leaf >= 0) {
        if (dbuf_add(&rd->text, s, (size_t)len) != 0)
            rd_fail(rd);
        return;
    }
    for (int i = 0; i < len; i++)
        if (!blank(s[i])) {
            rd_fail(rd);
            return;
        }
}

static void XMLCALL rd_doctype(void *ud, const XML_Char *name, const XML_Char *sysid, const XML_Char *pubid,
                               int has_internal_subset)
{
    (void)name;
    (void)sysid;
    (void)pubid;
    (void)has_internal_subset;
    rd_fail(ud);
}

/* 0 with rd's values filled, -1: not one of doc's documents. */
static int read_doc(struct reader *rd, const struct doc *doc, const char *body, size_t len)
{
    memset(rd, 0, sizeof(*rd));
    rd->doc = doc;
    rd->leaf = -1;
    ASSERT(doc->n_paths <= MAX_FIELDS);
    if (len > S3_MAX_XML_BODY)
        return -1;
    rd->p = XML_ParserCreate(NULL);
    ASSERT(rd->p != NULL);
    dbuf_init(&rd->text, 4 * MAX_VALUE);
    XML_SetUserData(rd->p, rd);
    XML_SetElementHandler(rd->p, rd_start, rd_end);
    XML_SetCharacterDataHandler(rd->p, rd_chars);
    XML_SetStartDoctypeDeclHandler(rd->p, rd_doctype);
    int ok = XML_Parse(rd->p, body, (int)len, XML_TRUE) == XML_STATUS_OK && !rd->failed;
    XML_ParserFree(rd->p);
    rd->p = NULL;
    dbuf_release(&rd->text);
    return ok ? 0 : -1;
}

static void set_msg(char *msg, size_t msgsz, const char *text)
{
    if (msgsz > 0)
        snprintf(msg, msgsz, "%s", text);
}

/* ---- <VersioningConfiguration> -------------------------------------------------------- */

static const char *const versioning_paths[] = {"Status", "MfaDelete"};
static const struct doc versioning_doc = {"VersioningConfiguration", versioning_paths, 2};

enum s3_err s3_versioning_parse(const char *body, size_t len, int *status, int *mfa_delete)
{
    struct reader rd;
    *status = 0;
    *mfa_delete = 0;
    if (read_doc(&rd, &versioning_doc, body, len) != 0 || !rd.seen[0])
        return S3E_MALFORMED_XML;
    if (strcmp(rd.values[0], "Enabled") == 0)
        *status = 1;
    else if (strcmp(rd.values[0], "Suspended") == 0)
        *status = 2;
    else
        return S3E_MALFORMED_XML;
    if (rd.seen[1]) {
        if (strcmp(rd.values[1], "Enabled") == 0)
            *mfa_delete = 1;
        else if (strcmp(rd.values[1], "Disabled") != 0)
            return S3E_MALFORMED_XML;
    }
    return S3E_OK;
}

int s3_versioning_render(int status, struct dbuf *out)
{
    struct s3_xml x;
    s3_xml_begin(&x, out, "VersioningConfiguration");
    if (status == 1 || status == 2)
        s3_xml_elem(&x, "Status", status == 1 ? "Enabled" : "Suspended");
    return s3_xml_end(&x, "VersioningConfiguration");
}

/* ---- <ObjectLockConfiguration> --------------------------------------------------------- */

enum { LC_ENABLED, LC_MODE, LC_DAYS, LC_YEARS };
static const char *const lock_paths[] = {"ObjectLockEnabled", "Rule/DefaultRetention/Mode",
                                         "Rule/DefaultRetention/Days", "Rule/DefaultRetention/Years"};
static const struct doc lock_doc = {"ObjectLockConfiguration", lock_paths, 4};

/* A period: an integer (sign allowed, as XML's xsd:int) into *v; 0 when not one. */
static int period(const char *s, long long *v)
{
    char *end;
    if (*s == '\0' || strlen(s) > 12)
        return 0;
    *v = strtoll(s, &end, 10);
    return *end == '\0';
}

enum s3_err s3_lock_config_parse(const char *body, size_t len, struct s3_lock_config *out, char *msg,
                                 size_t msgsz)
{
    struct reader rd;
    memset(out, 0, sizeof(*out));
    set_msg(msg, msgsz, "");
    if (read_doc(&rd, &lock_doc, body, len) != 0)
        return S3E_MALFORMED_XML;
    if (!rd.seen[LC_ENABLED] || strcmp(rd.values[LC_ENABLED], "Enabled") != 0)
        return S3E_MALFORMED_XML;
    int any = rd.seen[LC_MODE] || rd.seen[LC_DAYS] || rd.seen[LC_YEARS];
    if (!any) /* "<Rule/>" or "<Rule><DefaultRetention/></Rule>" carry nothing: S3 refuses them */
        return rd.inner > 0 ? S3E_MALFORMED_XML : S3E_OK;
    int mode = rd.seen[LC_MODE] ? s3_lock_mode_parse(rd.values[LC_MODE], strlen(rd.values[LC_MODE])) : -1;
    if (mode < 0 || rd.seen[LC_DAYS] == rd.seen[LC_YEARS])
        return S3E_MALFORMED_XML;
    long long v;
    int years = rd.seen[LC_YEARS];
    if (!period(rd.values[years ? LC_YEARS : LC_DAYS], &v))
        return S3E_MALFORMED_XML;
    if (v <= 0) {
        set_msg(msg, msgsz, "Default retention period must be a positive integer value.");
        return S3E_INVALID_ARGUMENT;
    }
    if (v > (years ? S3_LOCK_MAX_YEARS : S3_LOCK_MAX_DAYS)) {
        set_msg(msg, msgsz, "Default retention period is too large.");
        return S3E_INVALID_ARGUMENT;
    }
    out->mode = (enum s3_lock_mode)mode;
    if (years)
        out->years = (int)v;
    else
        out->days = (int)v;
    return S3E_OK;
}

int s3_lock_config_render(const struct s3_lock_config *c, struct dbuf *out)
{
    struct s3_xml x;
    s3_xml_begin(&x, out, "ObjectLockConfiguration");
    s3_xml_elem(&x, "ObjectLockEnabled", "Enabled");
    if (c->mode != S3_LOCK_NONE) {
        s3_xml_open(&x, "Rule");
        s3_xml_open(&x, "DefaultRetention");
        s3_xml_elem(&x, "Mode", s3_lock_mode_name(c->mode));
        if (c->years > 0)
            s3_xml_elem_i64(&x, "Years", c->years);
        else
            s3_xml_elem_i64(&x, "Days", c->days);
        s3_xml_close(&x, "DefaultRetention");
        s3_xml_close(&x, "Rule");
    }
    return s3_xml_end(&x, "ObjectLockConfiguration");
}

/* ---- <Retention>, <LegalHold> ---------------------------------------------------------- */

static const char *const retention_paths[] = {"Mode", "RetainUntilDate"};
static const struct doc retention_doc = {"Retention", retention_paths, 2};

static const char past_msg[] = "The retain until date must be in the future!";

enum s3_err s3_retention_parse(const char *body, size_t len, int64_t now_ms, struct s3_retention *out, char *msg,
                               size_t msgsz)
{
    struct reader rd;
    memset(out, 0, sizeof(*out));
    set_msg(msg, msgsz, "");
    if (read_doc(&rd, &retention_doc, body, len) != 0 || rd.seen[0] != rd.seen[1])
        return S3E_MALFORMED_XML;
    if (!rd.seen[0])
        return S3E_OK; /* no retention: removes one (GOVERNANCE, with bypass) */
    int mode = s3_lock_mode_parse(rd.values[0], strlen(rd.values[0]));
    int64_t until = s3_time_parse_iso(rd.values[1], strlen(rd.values[1]));
    if (mode < 0 || until == INT64_MIN)
        return S3E_MALFORMED_XML;
    if (until <= now_ms) {
        set_msg(msg, msgsz, past_msg);
        return S3E_INVALID_ARGUMENT;
    }
    out->mode = (enum s3_lock_mode)mode;
    out->until_ms = until;
    return S3E_OK;
}

int s3_retention_render(const struct s3_retention *r, struct dbuf *out)
{
    struct s3_xml x;
    char t[32];
    s3_xml_begin(&x, out, "Retention");
    if (r->mode != S3_LOCK_NONE) {
        s3_time_iso(r->until_ms, t);
        s3_xml_elem(&x, "Mode", s3_lock_mode_name(r->mode));
        s3_xml_elem(&x, "RetainUntilDate", t);
    }
    return s3_xml_end(&x, "Retention");
}

static const char *const legal_hold_paths[] = {"Status"};
static const struct doc legal_hold_doc = {"LegalHold", legal_hold_paths, 1};

enum s3_err s3_legal_hold_parse(const char *body, size_t len, int *on)
{
    struct reader rd;
    *on = 0;
    if (read_doc(&rd, &legal_hold_doc, body, len) != 0 || !rd.seen[0])
        return S3E_MALFORMED_XML;
    if (strcmp(rd.values[0], "ON") == 0)
        *on = 1;
    else if (strcmp(rd.values[0], "OFF") != 0)
        return S3E_MALFORMED_XML;
    return S3E_OK;
}

int s3_legal_hold_render(int on, struct dbuf *out)
{
    struct s3_xml x;
    s3_xml_begin(&x, out, "LegalHold");
    s3_xml_elem(&x, "Status", on ? "ON" : "OFF");
    return s3_xml_end(&x, "LegalHold");
}

/* ---- x-amz-object-lock-* headers -------------------------------------------------------- */

enum s3_err s3_lock_headers_parse(const struct s3_request *req, int64_t now_ms, struct s3_lock_headers *out,
                                  char *msg, size_t msgsz)
{
    size_t ml = 0, dl = 0, hl = 0;
    const char *mode = s3_header_get(req, "x-amz-object-lock-mode", &ml);
    const char *date = s3_header_get(req, "x-amz-object-lock-retain-until-date", &dl);
    const char *hold = s3_header_get(req, "x-amz-object-lock-legal-hold", &hl);
    memset(out, 0, sizeof(*out));
    out->legal_hold = -1;
    set_msg(msg, msgsz, "");
    if ((mode == NULL) != (date == NULL)) {
        set_msg(msg, msgsz, "x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied");
        return S3E_INVALID_ARGUMENT;
    }
    if (mode != NULL) {
        int m = s3_lock_mode_parse(mode, ml);
        if (m < 0) {
            set_msg(msg, msgsz, "Unknown wormMode directive.");
            return S3E_INVALID_ARGUMENT;
        }
        int64_t until = s3_time_parse_iso(date, dl);
        if (until == INT64_MIN) {
            set_msg(msg, msgsz, "The retain until date must be provided in ISO 8601 format");
            return S3E_INVALID_ARGUMENT;
        }
        if (until <= now_ms) {
            set_msg(msg, msgsz, past_msg);
            return S3E_INVALID_ARGUMENT;
        }
        out->retention = 1;
        out->mode = (enum s3_lock_mode)m;
        out->until_ms = until;
    }
    if (hold != NULL) {
        if (hl == 2 && memcmp(hold, "ON", 2) == 0) {
            out->legal_hold = 1;
        } else if (hl == 3 && memcmp(hold, "OFF", 3) == 0) {
            out->legal_hold = 0;
        } else {
            set_msg(msg, msgsz, "Legal Hold must be either of 'ON' or 'OFF'");
            return S3E_INVALID_ARGUMENT;
        }
    }
    return S3E_OK;
}

int s3_lock_headers_given(const struct s3_lock_headers *h)
{
    return h->retention || h->legal_hold >= 0;
}
