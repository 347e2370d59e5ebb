/* lifecycle.c — a bucket's <LifecycleConfiguration>: its rules, which objects a rule takes, and when they expire.
 *
 * PutBucketLifecycleConfiguration sends up to S3_LC_MAX_RULES rules. The
 * document is checked as S3 checks it: first its structure against S3's
 * schema (MalformedXML: unknown or repeated elements, a rule with both or
 * neither of Filter and the legacy Prefix, a filter with more than one
 * predicate outside <And>, numbers that are not numbers), then each rule's
 * values in order (InvalidArgument / InvalidRequest with AWS's wording),
 * then the rules' IDs. tgs3 keeps one storage class, so Transition and
 * NoncurrentVersionTransition are refused as NotImplemented. The gateway
 * stores the rendered form and parses it again when the runner needs it.
 *
 * Matching is pure (s3_lc_rule_matches): prefix, every tag of the filter
 * (key and value exactly), and the size bounds (both exclusive). Expiry
 * (S3's "Lifecycle rules: based on an object's age"): the creation time (or
 * the time a version became noncurrent) plus the days, rounded up to the
 * next midnight UTC.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <expat.h>

#include "s3/s3_int.h"

#define MAX_TEXT 4096 /* bytes of one value */
#define MAX_DEPTH 8   /* element nesting below the root (Transition's insides are skipped) */
#define MAX_PATH 256  /* bytes of an element's path below the root */

/* ---- the document's elements ----------------------------------------------------------- */

enum el {
    E_RULE, E_ID, E_STATUS, E_PREFIX, E_FILTER, E_EXP, E_NVE, E_AIMU, E_TRANS, E_NVTRANS,
    E_F_PREFIX, E_F_TAG, E_F_GT, E_F_LT, E_F_AND, E_F_TAG_KEY, E_F_TAG_VALUE,
    E_A_PREFIX, E_A_TAG, E_A_GT, E_A_LT, E_A_TAG_KEY, E_A_TAG_VALUE,
    E_DAYS, E_DATE, E_MARKER, E_NC_DAYS, E_NC_NEWER, E_ABORT_DAYS,
    E__COUNT,
    E_SKIP = E__COUNT, /* inside a Transition: not looked at */
};

static const char *const paths[E__COUNT] = {
    [E_RULE] = "Rule",
    [E_ID] = "Rule/ID",
    [E_STATUS] = "Rule/Status",
    [E_PREFIX] = "Rule/Prefix",
    [E_FILTER] = "Rule/Filter",
    [E_EXP] = "Rule/Expiration",
    [E_NVE] = "Rule/NoncurrentVersionExpiration",
    [E_AIMU] = "Rule/AbortIncompleteMultipartUpload",
    [E_TRANS] = "Rule/Transition",
    [E_NVTRANS] = "Rule/NoncurrentVersionTransition",
    [E_F_PREFIX] = "Rule/Filter/Prefix",
    [E_F_TAG] = "Rule/Filter/Tag",
    [E_F_GT] = "Rule/Filter/ObjectSizeGreaterThan",
    [E_F_LT] = "Rule/Filter/ObjectSizeLessThan",
    [E_F_AND] = "Rule/Filter/And",
    [E_F_TAG_KEY] = "Rule/Filter/Tag/Key",
    [E_F_TAG_VALUE] = "Rule/Filter/Tag/Value",
    [E_A_PREFIX] = "Rule/Filter/And/Prefix",
    [E_A_TAG] = "Rule/Filter/And/Tag",
    [E_A_GT] = "Rule/Filter/And/ObjectSizeGreaterThan",
    [E_A_LT] = "Rule/Filter/And/ObjectSizeLessThan",
    [E_A_TAG_KEY] = "Rule/Filter/And/Tag/Key",
    [E_A_TAG_VALUE] = "Rule/Filter/And/Tag/Value",
    [E_DAYS] = "Rule/Expiration/Days",
    [E_DATE] = "Rule/Expiration/Date",
    [E_MARKER] = "Rule/Expiration/ExpiredObjectDeleteMarker",
    [E_NC_DAYS] = "Rule/NoncurrentVersionExpiration/NoncurrentDays",
    [E_NC_NEWER] = "Rule/NoncurrentVersionExpiration/NewerNoncurrentVersions",
    [E_ABORT_DAYS] = "Rule/AbortIncompleteMultipartUpload/DaysAfterInitiation",
};

/* What a rule's document said, beside the values kept in struct s3_lc_rule. */
struct given {
    int status, filter, exp, nve, aimu, transition;
    int days, date, nc_days, newer, abort;
    int bad_date; /* Date given but not a date */
};

struct parse {
    XML_Parser p;
    int depth;                 /* 0: outside the root; 1: in the root */
    char path[MAX_PATH];       /* below the root, '/'-separated */
    size_t path_len[MAX_DEPTH + 2];
    int el[MAX_DEPTH + 2];     /* enum el of each open element below the root */
    unsigned char seen[E__COUNT]; /* per rule (tag keys/values: per tag) */
    int filter_kids;
    struct s3_tag tag;         /* being read */
    struct dbuf text;
    struct s3_lifecycle *lc;
    struct given *gv;          /* one per rule */
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

static struct s3_lc_rule *cur(struct parse *ps)
{
    return &ps->lc->rules[ps->lc->n - 1];
}

static struct given *cur_given(struct parse *ps)
{
    return &ps->gv[ps->lc->n - 1];
}

static void rule_begin(struct parse *ps)
{
    struct s3_lifecycle *lc = ps->lc;
    if (lc->n >= S3_LC_MAX_RULES) {
        fail(ps);
        return;
    }
    lc->rules = xrealloc(lc->rules, (lc->n + 1) * sizeof(*lc->rules));
    ps->gv = xrealloc(ps->gv, (lc->n + 1) * sizeof(*ps->gv));
    struct s3_lc_rule *r = &lc->rules[lc->n];
    memset(r, 0, sizeof(*r));
    memset(&ps->gv[lc->n], 0, sizeof(*ps->gv));
    r->size_gt = r->size_lt = -1;
    r->exp_date_ms = -1;
    r->exp_marker = -1;
    lc->n++;
    memset(ps->seen, 0, sizeof(ps->seen));
    ps->filter_kids = 0;
}

static void XMLCALL on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct parse *ps = ud;
    const char *ln = local_name(name);
    (void)atts;
    if (ps->err != S3E_OK)
        return;
    ps->depth++;
    dbuf_reset(&ps->text);
    if (ps->depth == 1) {
        if (strcmp(ln, "LifecycleConfiguration") != 0)
            fail(ps);
        ps->path_len[1] = 0;
        ps->el[1] = -1;
        return;
    }
    int d = ps->depth;
    if (d > MAX_DEPTH + 1) {
        fail(ps);
        return;
    }
    if (ps->el[d - 1] == E_SKIP || (d > 2 && (ps->el[d - 1] == E_TRANS || ps->el[d - 1] == E_NVTRANS))) {
        ps->el[d] = E_SKIP; /* refused as a whole after the parse */
        return;
    }
    size_t at = ps->path_len[d - 1], nl = strlen(ln);
    if (at + 1 + nl >= MAX_PATH) {
        fail(ps);
        return;
    }
    if (at > 0)
        ps->path[at++] = '/';
    memcpy(ps->path + at, ln, nl + 1);
    ps->path_len[d] = at + nl;
    int e = -1;
    for (int i = 0; i < E__COUNT && e < 0; i++)
        if (strcmp(ps->path, paths[i]) == 0)
            e = i;
    if (e < 0) {
        fail(ps);
        return;
    }
    ps->el[d] = e;
    if (e == E_RULE) {
        rule_begin(ps);
        return;
    }
    /* Only <And> holds more than one Tag; everything else appears once in its parent. */
    if (e != E_A_TAG && ps->seen[e]++ > 0) {
        fail(ps);
        return;
    }
    if (ps->el[d - 1] == E_FILTER && ps->filter_kids++ > 0) { /* one predicate, or <And> */
        fail(ps);
        return;
    }
    if (e == E_F_TAG || e == E_A_TAG) {
        memset(&ps->tag, 0, sizeof(ps->tag));
        ps->seen[E_F_TAG_KEY] = ps->seen[E_F_TAG_VALUE] = ps->seen[E_A_TAG_KEY] = ps->seen[E_A_TAG_VALUE] = 0;
    }
    struct given *g = cur_given(ps);
    switch (e) {
    case E_FILTER: g->filter = 1; break;
    case E_EXP: g->exp = 1; break;
    case E_NVE: g->nve = 1; break;
    case E_AIMU: g->aimu = 1; break;
    case E_TRANS:
    case E_NVTRANS: g->transition = 1; break;
    case E_F_AND: cur(ps)->filter_and = 1; break;
    default: break;
    }
}

static void XMLCALL on_chars(void *ud, const XML_Char *s, int len)
{
    struct parse *ps = ud;
    if (ps->err != S3E_OK || ps->depth < 2)
        return;
    if (dbuf_add(&ps->text, s, (size_t)len) != 0)
        fail(ps);
}

/* A decimal integer with an optional '-', within ±2^62: 0 and *v, or -1. */
static int int_parse(const char *s, size_t len, int64_t *v)
{
    int neg = len > 0 && s[0] == '-';
    int64_t x = 0;
    if (len == (size_t)neg || len - (size_t)neg > 18)
        return -1;
    for (size_t i = (size_t)neg; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        x = x * 10 + (s[i] - '0');
    }
    *v = neg ? -x : x;
    return 0;
}

static int two(const char *s, unsigned *v)
{
    if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9')
        return -1;
    *v = (unsigned)((s[0] - '0') * 10 + (s[1] - '0'));
    return 0;
}

/* ISO 8601 "YYYY-MM-DD" optionally followed by "THH:MM:SS", a fraction, and
 * "Z" or "+00:00" (what SDKs send). Unix ms, or -1. */
static int64_t date_parse(const char *s, size_t len)
{
    static const unsigned mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned c, y2, mo, d, h = 0, mi = 0, se = 0;
    int64_t ms = 0;
    if (len < 10 || s[4] != '-' || s[7] != '-' || two(s, &c) || two(s + 2, &y2) || two(s + 5, &mo) ||
        two(s + 8, &d))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1])
        return -1;
    size_t i = 10;
    if (i < len) {
        if (len < 19 || s[10] != 'T' || s[13] != ':' || s[16] != ':' || two(s + 11, &h) || two(s + 14, &mi) ||
            two(s + 17, &se) || h > 23 || mi > 59 || se > 59)
            return -1;
        i = 19;
        if (i < len && s[i] == '.') {
            size_t k = 0;
            int64_t frac = 0;
            for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, k++)
                if (k < 3)
                    frac = frac * 10 + (s[i] - '0');
            if (k == 0)
                return -1;
            for (; k < 3; k++)
                frac *= 10;
            ms = frac;
        }
        if (len - i == 1 && s[i] == 'Z')
            i++;
        else if (len - i == 6 && memcmp(s + i, "+00:00", 6) == 0)
            i += 6;
        else if (len != i)
            return -1;
    }
    if (i != len)
        return -1;
    return (s3_days_from_civil((int64_t)(c * 100 + y2), mo, d) * 86400 + h * 3600 + mi * 60 + se) * 1000 + ms;
}

static char *text_dup(struct parse *ps)
{
    return xstrndup(ps->text.ptr ? ps->text.ptr : "", ps->text.len);
}

static void tag_end(struct parse *ps, int e)
{
    struct s3_lc_rule *r = cur(ps);
    int key_seen = e == E_F_TAG ? ps->seen[E_F_TAG_KEY] : ps->seen[E_A_TAG_KEY];
    int value_seen = e == E_F_TAG ? ps->seen[E_F_TAG_VALUE] : ps->seen[E_A_TAG_VALUE];
    if (!key_seen || !value_seen || r->n_tags >= S3_LC_MAX_TAGS) {
        fail(ps);
        return;
    }
    r->tags = xrealloc(r->tags, (r->n_tags + 1) * sizeof(*r->tags));
    r->tags[r->n_tags++] = ps->tag;
}

static void value_end(struct parse *ps, int e)
{
    struct s3_lc_rule *r = cur(ps);
    struct given *g = cur_given(ps);
    const char *s = ps->text.ptr ? ps->text.ptr : "";
    size_t len = ps->text.len;
    int64_t v = 0;

    switch (e) {
    case E_ID: r->id = text_dup(ps); break;
    case E_STATUS:
        g->status = 1;
        if (len == 7 && memcmp(s, "Enabled", 7) == 0)
            r->enabled = 1;
        else if (!(len == 8 && memcmp(s, "Disabled", 8) == 0))
            fail(ps);
        break;
    case E_PREFIX: /* with a filter's prefix too: refused after the parse (structure_ok) */
    case E_F_PREFIX:
    case E_A_PREFIX:
        r->legacy_prefix |= e == E_PREFIX;
        free(r->prefix);
        r->prefix = text_dup(ps);
        break;
    case E_F_TAG_KEY:
    case E_A_TAG_KEY:
    case E_F_TAG_VALUE:
    case E_A_TAG_VALUE: {
        int is_key = e == E_F_TAG_KEY || e == E_A_TAG_KEY;
        char *dst = is_key ? ps->tag.key : ps->tag.value;
        size_t cap = is_key ? sizeof(ps->tag.key) : sizeof(ps->tag.value);
        if (len >= cap || !s3_xml_text_ok(s, len)) {
            fail(ps);
            break;
        }
        memcpy(dst, s, len);
        dst[len] = '\0';
        break;
    }
    case E_F_TAG:
    case E_A_TAG: tag_end(ps, e); break;
    case E_F_GT:
    case E_A_GT:
    case E_F_LT:
    case E_A_LT:
        if (int_parse(s, len, &v) != 0 || v < 0) {
            fail(ps);
            break;
        }
        if (e == E_F_GT || e == E_A_GT)
            r->size_gt = v;
        else
            r->size_lt = v;
        break;
    case E_DAYS:
    case E_NC_DAYS:
    case E_NC_NEWER:
    case E_ABORT_DAYS:
        if (int_parse(s, len, &v) != 0) {
            fail(ps);
            break;
        }
        if (e == E_DAYS) {
            g->days = 1;
            r->exp_days = v;
        } else if (e == E_NC_DAYS) {
            g->nc_days = 1;
            r->nc_days = v;
        } else if (e == E_NC_NEWER) {
            g->newer = 1;
            r->nc_newer = v > 1000000 ? 1000000 : v < -1000000 ? -1000000 : (int)v;
        } else {
            g->abort = 1;
            r->abort_days = v;
        }
        break;
    case E_DATE:
        g->date = 1;
        r->exp_date_ms = date_parse(s, len);
        if (r->exp_date_ms < 0)
            fail(ps);
        break;
    case E_MARKER:
        if (len == 4 && memcmp(s, "true", 4) == 0)
            r->exp_marker = 1;
        else if (len == 5 && memcmp(s, "false", 5) == 0)
            r->exp_marker = 0;
        else
            fail(ps);
        break;
    default: break;
    }
}

static void XMLCALL on_end(void *ud, const XML_Char *name)
{
    struct parse *ps = ud;
    (void)name;
    if (ps->err != S3E_OK)
        return;
    if (ps->depth >= 2 && ps->el[ps->depth] != E_SKIP)
        value_end(ps, ps->el[ps->depth]);
    dbuf_reset(&ps->text);
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

/* ---- the checks after the parse -------------------------------------------------------- */

/* What S3's schema refuses: MalformedXML. */
static int structure_ok(const struct s3_lc_rule *r, const struct given *g)
{
    if (!g->status || g->filter == r->legacy_prefix) /* Status; exactly one of Filter and Prefix */
        return 0;
    if (g->exp && !g->days && !g->date && r->exp_marker < 0)
        return 0;
    if (g->days && g->date)
        return 0;
    if (g->nve && !g->nc_days)
        return 0;
    if (g->aimu && !g->abort)
        return 0;
    return 1;
}

static enum s3_err set_msg(char *msg, size_t msgsz, enum s3_err e, const char *text)
{
    snprintf(msg, msgsz, "%s", text);
    return e;
}

/* One rule's values, in the order S3 looks at them. */
static enum s3_err rule_check(const struct s3_lc_rule *r, const struct given *g, char *msg, size_t msgsz)
{
    if (r->id != NULL && strlen(r->id) > S3_LC_MAX_ID)
        return set_msg(msg, msgsz, S3E_INVALID_ARGUMENT, "ID length should not exceed allowed limit of 255");
    if (g->transition)
        return set_msg(msg, msgsz, S3E_NOT_IMPLEMENTED,
                       "tgs3 keeps every object in one storage class: Transition and NoncurrentVersionTransition "
                       "are not implemented");
    if (!g->exp && !g->nve && !g->aimu)
        return set_msg(msg, msgsz, S3E_INVALID_REQUEST, "At least one action needs to be specified in a rule");
    if (r->exp_marker >= 0 && (g->days || g->date))
        return set_msg(msg, msgsz, S3E_INVALID_ARGUMENT,
                       "ExpiredObjectDeleteMarker cannot be specified with Days or Date in a Lifecycle Expiration "
                       "Policy.");
    if (g->days && r->exp_days <= 0)
        return set_msg(msg, msgsz, S3E_INVALID_ARGUMENT, "'Days' for Expiration action must be a positive integer");
    if (g->date && r->exp_date_ms % S3_LC_DAY_MS != 0)
        return set_msg(msg, msgsz, S3E_INVALID_ARGUMENT, "'Date' must be at midnight GMT");
    if (g->nc_days && r->nc_days <= 0)
        return set_msg(msg, msgsz, S3E_INVALID_ARGUMENT,
                       "'NoncurrentDays' for NoncurrentVersionExpiration action must be a positive integer");
    if (g->newer && r->nc_newer <= 0)
        return set_msg(msg, msgsz, S3E_INVALID_ARGUMENT,
                       "'NewerNoncurrentVersions' for NoncurrentVersionExpiration action must be a positive "
                       "integer");
    if (g->newer && r->nc_newer > S3_LC_MAX_NEWER)
        return set_msg(msg, msgsz, S3E_INVALID_ARGUMENT,
                       "'NewerNoncurrentVersions' for NoncurrentVersionExpiration action must be less than or "
                       "equal to 100");
    if (g->abort && r->abort_days <= 0)
        return set_msg(msg, msgsz, S3E_INVALID_ARGUMENT,
                       "'DaysAfterInitiation' for AbortIncompleteMultipartUpload action must be a positive integer");
    if (r->n_tags > 0 && g->aimu)
        return set_msg(msg, msgsz, S3E_INVALID_REQUEST, "AbortIncompleteMultipartUpload cannot be specified with Tags.");
    if (r->n_tags > 0 && r->exp_marker == 1)
        return set_msg(msg, msgsz, S3E_INVALID_REQUEST, "ExpiredObjectDeleteMarker cannot be specified with Tags.");
    for (size_t i = 0; i < r->n_tags; i++)
        for (size_t k = i + 1; k < r->n_tags; k++)
            if (strcmp(r->tags[i].key, r->tags[k].key) == 0)
                return set_msg(msg, msgsz, S3E_INVALID_REQUEST, "Duplicate Tag Keys are not allowed.");
    if (r->size_gt >= 0 && r->size_lt >= 0 && r->size_gt >= r->size_lt)
        return set_msg(msg, msgsz, S3E_INVALID_ARGUMENT,
                       "ObjectSizeGreaterThan must be less than ObjectSizeLessThan");
    return S3E_OK;
}

static enum s3_err values_check(const struct s3_lifecycle *lc, const struct given *gv, char *msg, size_t msgsz)
{
    for (size_t i = 0; i < lc->n; i++)
        if (!structure_ok(&lc->rules[i], &gv[i]))
            return S3E_MALFORMED_XML;
    for (size_t i = 0; i < lc->n; i++) {
        enum s3_err e = rule_check(&lc->rules[i], &gv[i], msg, msgsz);
        if (e != S3E_OK)
            return e;
    }
    for (size_t i = 0; i < lc->n; i++)
        for (size_t k = i + 1; k < lc->n && lc->rules[i].id != NULL; k++)
            if (lc->rules[k].id != NULL && strcmp(lc->rules[i].id, lc->rules[k].id) == 0)
                return set_msg(msg, msgsz, S3E_INVALID_ARGUMENT,
                               "Rule ID must be unique. Found same ID for more than one rule");
    return S3E_OK;
}

enum s3_err s3_lifecycle_parse(const char *body, size_t len, struct s3_lifecycle *out, char *msg, size_t msgsz)
{
    struct parse ps;
    enum s3_err err;

    memset(out, 0, sizeof(*out));
    memset(&ps, 0, sizeof(ps));
    ps.lc = out;
    msg[0] = '\0';
    if (len == 0 || len > S3_MAX_XML_BODY)
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
        err = out->n == 0 ? S3E_MALFORMED_XML : values_check(out, ps.gv, msg, msgsz);
    XML_ParserFree(ps.p);
    dbuf_release(&ps.text);
    free(ps.gv);
    if (err != S3E_OK)
        s3_lifecycle_release(out);
    return err;
}

void s3_lifecycle_release(struct s3_lifecycle *lc)
{
    if (lc == NULL)
        return;
    for (size_t i = 0; i < lc->n; i++) {
        free(lc->rules[i].id);
        free(lc->rules[i].prefix);
        free(lc->rules[i].tags);
    }
    free(lc->rules);
    memset(lc, 0, sizeof(*lc));
}

/* ---- rendering ------------------------------------------------------------------------- */

static void render_tag(struct s3_xml *x, const struct s3_tag *t)
{
    s3_xml_open(x, "Tag");
    s3_xml_elem(x, "Key", t->key);
    s3_xml_elem(x, "Value", t->value);
    s3_xml_close(x, "Tag");
}

static void render_filter(struct s3_xml *x, const struct s3_lc_rule *r)
{
    s3_xml_open(x, "Filter");
    if (r->filter_and)
        s3_xml_open(x, "And");
    if (r->prefix != NULL)
        s3_xml_elem(x, "Prefix", r->prefix);
    for (size_t i = 0; i < r->n_tags; i++)
        render_tag(x, &r->tags[i]);
    if (r->size_gt >= 0)
        s3_xml_elem_i64(x, "ObjectSizeGreaterThan", r->size_gt);
    if (r->size_lt >= 0)
        s3_xml_elem_i64(x, "ObjectSizeLessThan", r->size_lt);
    if (r->filter_and)
        s3_xml_close(x, "And");
    s3_xml_close(x, "Filter");
}

int s3_lifecycle_render(const struct s3_lifecycle *lc, struct dbuf *out)
{
    struct s3_xml x;
    s3_xml_begin(&x, out, "LifecycleConfiguration");
    for (size_t i = 0; i < lc->n; i++) {
        const struct s3_lc_rule *r = &lc->rules[i];
        s3_xml_open(&x, "Rule");
        if (r->exp_days > 0 || r->exp_date_ms >= 0 || r->exp_marker >= 0) {
            s3_xml_open(&x, "Expiration");
            if (r->exp_date_ms >= 0) {
                char d[32];
                s3_time_iso(r->exp_date_ms, d);
                s3_xml_elem(&x, "Date", d);
            }
            if (r->exp_days > 0)
                s3_xml_elem_i64(&x, "Days", r->exp_days);
            if (r->exp_marker >= 0)
                s3_xml_elem(&x, "ExpiredObjectDeleteMarker", r->exp_marker ? "true" : "false");
            s3_xml_close(&x, "Expiration");
        }
        if (r->id != NULL)
            s3_xml_elem(&x, "ID", r->id);
        if (r->legacy_prefix)
            s3_xml_elem(&x, "Prefix", r->prefix != NULL ? r->prefix : "");
        else
            render_filter(&x, r);
        s3_xml_elem(&x, "Status", r->enabled ? "Enabled" : "Disabled");
        if (r->nc_days > 0) {
            s3_xml_open(&x, "NoncurrentVersionExpiration");
            s3_xml_elem_i64(&x, "NoncurrentDays", r->nc_days);
            if (r->nc_newer > 0)
                s3_xml_elem_i64(&x, "NewerNoncurrentVersions", r->nc_newer);
            s3_xml_close(&x, "NoncurrentVersionExpiration");
        }
        if (r->abort_days > 0) {
            s3_xml_open(&x, "AbortIncompleteMultipartUpload");
            s3_xml_elem_i64(&x, "DaysAfterInitiation", r->abort_days);
            s3_xml_close(&x, "AbortIncompleteMultipartUpload");
        }
        s3_xml_close(&x, "Rule");
    }
    return s3_xml_end(&x, "LifecycleConfiguration");
}

/* ---- matching and time ----------------------------------------------------------------- */

int s3_lc_rule_matches(const struct s3_lc_rule *r, const char *key, size_t key_len, const struct s3_tag *tags,
                       size_t n_tags, int64_t size)
{
    if (r->prefix != NULL) {
        size_t pl = strlen(r->prefix);
        if (key_len < pl || memcmp(key, r->prefix, pl) != 0)
            return 0;
    }
    if (r->size_gt >= 0 && !(size > r->size_gt))
        return 0;
    if (r->size_lt >= 0 && !(size < r->size_lt))
        return 0;
    for (size_t i = 0; i < r->n_tags; i++) {
        int found = 0;
        for (size_t k = 0; k < n_tags && !found; k++)
            found = strcmp(r->tags[i].key, tags[k].key) == 0 && strcmp(r->tags[i].value, tags[k].value) == 0;
        if (!found)
            return 0;
    }
    return 1;
}

static int64_t floor_day(int64_t ms)
{
    return (ms >= 0 ? ms / S3_LC_DAY_MS : -((-ms + S3_LC_DAY_MS - 1) / S3_LC_DAY_MS)) * S3_LC_DAY_MS;
}

int64_t s3_lc_due_ms(int64_t base_ms, int64_t days)
{
    int64_t t = base_ms + days * S3_LC_DAY_MS;
    int64_t f = floor_day(t);
    return f == t ? t : f + S3_LC_DAY_MS;
}

int64_t s3_lc_cutoff_ms(int64_t now_ms, int64_t days)
{
    /* due(base) <= now  <=>  ceil_day(base + days) <= now  <=>  base + days <= floor_day(now) */
    return floor_day(now_ms) - days * S3_LC_DAY_MS;
}
