/* policy.c — a POST Object form's policy, checked as AWS does (its signature: s3/policy.c).
 *
 * The "policy" field is base64 JSON: {"expiration": ISO 8601, "conditions":
 * [...]}. Each condition is an object {"field": "value"} (exact match), or an
 * array ["eq", "$field", "value"], ["starts-with", "$field", "prefix"] ("" for
 * anything; a Content-Type value that is a comma list must match item by
 * item) or ["content-length-range", min, max]. Every form field but policy,
 * file, x-amz-signature, signature, AWSAccessKeyId and x-ignore-* must be
 * named by a condition. Sources: AWS "Creating a POST policy"
 * (docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html),
 * "HTML forms (AWS signature version 2)" (userguide/HTTPPOSTForms.html) and
 * PostObject (API/RESTObjectPOST.html). The answers are the ones S3 gives, as
 * S3's own error documents quoted in client projects' issues show (e.g.
 * aws-doc-sdk-examples#5490: 403 AccessDenied "Invalid according to Policy:
 * Policy Condition failed: [...]"; aws-sdk-php#3292 and cloudreve#959: 403
 * AccessDenied "... Extra input fields: bucket"): a policy that cannot be read is
 * 400 InvalidPolicyDocument "Invalid Policy: …", an expired one 403
 * AccessDenied "Invalid according to Policy: Policy expired.", a failed
 * condition 403 AccessDenied "Invalid according to Policy: Policy Condition
 * failed: [\"eq\", \"$acl\", \"public-read\"]", an uncovered field 403
 * AccessDenied "Invalid according to Policy: Extra input fields: name".
 * The policy text is at most S3_FORM_MAX_PRE bytes (the caller's buffer).
 * Here, not in s3/, because it reads JSON with jansson.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "gateway/ops/ops.h"

/* name (len bytes) is lit, ignoring case. */
static int ieq(const char *name, size_t len, const char *lit)
{
    return strlen(lit) == len && strncasecmp(name, lit, len) == 0;
}

#define MAX_CONDITIONS 128

/* "2026-12-06T16:00:00Z" or with a fraction ".000Z": unix seconds, or -1. */
static int64_t parse_iso(const char *s)
{
    unsigned y, mo, d, h, mi, sec;
    int n = 0;
    if (sscanf(s, "%4u-%2u-%2uT%2u:%2u:%2u%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
        return -1;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if (strcmp(p, "Z") != 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    struct tm tm = {.tm_year = (int)y - 1900, .tm_mon = (int)mo - 1, .tm_mday = (int)d, .tm_hour = (int)h,
                    .tm_min = (int)mi, .tm_sec = (int)sec};
    return (int64_t)timegm(&tm);
}

/* The value the form gives field name: bucket and key are the request's. */
static int field_value(const struct s3_form_head *form, const char *bucket, const char *key, const char *name,
                       const char **v, size_t *vl)
{
    if (strcasecmp(name, "bucket") == 0) {
        *v = bucket;
        *vl = strlen(bucket);
        return 1;
    }
    if (strcasecmp(name, "key") == 0) {
        *v = key;
        *vl = strlen(key);
        return 1;
    }
    const struct s3_form_field *f = s3_form_get(form, name);
    if (f == NULL) {
        *v = "";
        *vl = 0;
        return 0;
    }
    *v = f->value;
    *vl = f->value_len;
    return 1;
}

static int starts(const char *v, size_t vl, const char *prefix)
{
    size_t pl = strlen(prefix);
    return vl >= pl && memcmp(v, prefix, pl) == 0;
}

/* starts-with on Content-Type: each item of a comma list must start with prefix. */
static int starts_each(const char *v, size_t vl, const char *prefix)
{
    size_t i = 0;
    for (;;) {
        while (i < vl && v[i] == ' ')
            i++;
        size_t s = i;
        while (i < vl && v[i] != ',')
            i++;
        if (!starts(v + s, i - s, prefix))
            return 0;
        if (i >= vl)
            return 1;
        i++;
    }
}

static enum s3_err condition_failed(char *msg, size_t msgsz, const char *op, const char *field, const char *value)
{
    snprintf(msg, msgsz, "Invalid according to Policy: Policy Condition failed: [\"%s\", \"%s\", \"%s\"]", op, field,
             value);
    return S3E_ACCESS_DENIED;
}

static enum s3_err invalid(char *msg, size_t msgsz, const char *what)
{
    snprintf(msg, msgsz, "Invalid Policy: %s", what);
    return S3E_INVALID_POLICY_DOCUMENT;
}

/* A JSON integer, or a string of digits (both are seen in policies). */
static int length_bound(const json_t *j, int64_t *out)
{
    if (json_is_integer(j)) {
        *out = (int64_t)json_integer_value(j);
        return *out >= 0;
    }
    const char *s = json_string_value(j);
    if (s == NULL || *s == '\0' || strlen(s) > 18)
        return 0;
    int64_t n = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return 0;
        n = n * 10 + (*s - '0');
    }
    *out = n;
    return 1;
}

static int exempt(const char *name, size_t len)
{
    return ieq(name, len, "policy") || ieq(name, len, "file") || ieq(name, len, "x-amz-signature") ||
           ieq(name, len, "signature") || ieq(name, len, "awsaccesskeyid") ||
           (len >= 9 && strncasecmp(name, "x-ignore-", 9) == 0);
}

enum s3_err gw_post_policy_check(const char *json, size_t len, const struct s3_form_head *form, const char *bucket,
                                 const char *key, int64_t now, int64_t *min_len, int64_t *max_len, char *msg,
                                 size_t msgsz)
{
    enum s3_err e = S3E_OK;
    unsigned char covered[S3_FORM_MAX_FIELDS] = {0};
    *min_len = 0;
    *max_len = INT64_MAX;
    msg[0] = '\0';
    json_error_t jerr;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL || !json_is_object(root)) {
        e = invalid(msg, msgsz, "Invalid JSON.");
        goto out;
    }
    const char *exp = json_string_value(json_object_get(root, "expiration"));
    json_t *conds = json_object_get(root, "conditions");
    if (exp == NULL) {
        e = invalid(msg, msgsz, "Policy missing expiration.");
        goto out;
    }
    int64_t exp_s = parse_iso(exp);
    if (exp_s < 0) {
        e = invalid(msg, msgsz, "Invalid 'expiration' value: not an ISO 8601 date.");
        goto out;
    }
    if (!json_is_array(conds)) {
        e = invalid(msg, msgsz, "Policy missing conditions.");
        goto out;
    }
    if (json_array_size(conds) > MAX_CONDITIONS) {
        e = invalid(msg, msgsz, "Too many conditions.");
        goto out;
    }
    if (exp_s <= now) {
        snprintf(msg, msgsz, "Invalid according to Policy: Policy expired.");
        e = S3E_ACCESS_DENIED;
        goto out;
    }
    size_t i;
    json_t *c;
    json_array_foreach(conds, i, c) {
        const char *op, *field = NULL, *want = NULL;
        if (json_is_object(c)) {
            const char *k;
            json_t *v;
            if (json_object_size(c) != 1) {
                e = invalid(msg, msgsz, "Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.");
                goto out;
            }
            json_object_foreach(c, k, v) {
                op = "eq";
                field = k;
                want = json_string_value(v);
            }
            if (want == NULL) {
                e = invalid(msg, msgsz, "Invalid Simple-Condition: value must be a string.");
                goto out;
            }
            char named[160];
            snprintf(named, sizeof(named), "$%s", field);
            const char *fv;
            size_t fl;
            int present = field_value(form, bucket, key, field, &fv, &fl);
            if (!present || fl != strlen(want) || memcmp(fv, want, fl) != 0) {
                e = condition_failed(msg, msgsz, "eq", named, want);
                goto out;
            }
        } else if (json_is_array(c) && json_array_size(c) == 3) {
            op = json_string_value(json_array_get(c, 0));
            if (op != NULL && strcasecmp(op, "content-length-range") == 0) {
                int64_t lo, hi;
                if (!length_bound(json_array_get(c, 1), &lo) || !length_bound(json_array_get(c, 2), &hi) || lo > hi) {
                    e = invalid(msg, msgsz, "Invalid content-length-range: the bounds must be integers, min <= max.");
                    goto out;
                }
                *min_len = lo > *min_len ? lo : *min_len;
                *max_len = hi < *max_len ? hi : *max_len;
                continue;
            }
            field = json_string_value(json_array_get(c, 1));
            want = json_string_value(json_array_get(c, 2));
            if (op == NULL || field == NULL || want == NULL || field[0] != '$' ||
                (strcasecmp(op, "eq") != 0 && strcasecmp(op, "starts-with") != 0)) {
                e = invalid(msg, msgsz, "Invalid Condition: an array condition is [\"eq\"|\"starts-with\", \"$field\", \"value\"].");
                goto out;
            }
            const char *fv;
            size_t fl;
            int present = field_value(form, bucket, key, field + 1, &fv, &fl);
            int ok;
            if (strcasecmp(op, "eq") == 0)
                ok = present && fl == strlen(want) && memcmp(fv, want, fl) == 0;
            else if (strcasecmp(field + 1, "content-type") == 0)
                ok = starts_each(fv, fl, want);
            else
                ok = starts(fv, fl, want);
            if (!ok) {
                e = condition_failed(msg, msgsz, strcasecmp(op, "eq") == 0 ? "eq" : "starts-with", field, want);
                goto out;
            }
            field = field + 1;
        } else {
            e = invalid(msg, msgsz, "Invalid Condition: a condition is an object or an array of three.");
            goto out;
        }
        for (size_t k = 0; k < form->n_fields; k++)
            if (ieq(form->fields[k].name, form->fields[k].name_len, field))
                covered[k] = 1;
    }
    /* Every field the form sent must be one the policy speaks of. */
    size_t used = 0;
    for (size_t k = 0; k < form->n_fields; k++) {
        const struct s3_form_field *f = &form->fields[k];
        if (covered[k] || exempt(f->name, f->name_len))
            continue;
        if (used == 0)
            used = (size_t)snprintf(msg, msgsz, "Invalid according to Policy: Extra input fields: ");
        if (used < msgsz)
            used += (size_t)snprintf(msg + used, msgsz - used, "%s%.*s", e == S3E_OK ? "" : ", ",
                                     (int)(f->name_len > 128 ? 128 : f->name_len), f->name);
        e = S3E_ACCESS_DENIED;
    }
out:
    json_decref(root);
    return e;
}
