/* acl.c — access control lists: canned ACLs, x-amz-grant-* headers, who may do what, the stored form.
 *
 * An ACL is an owner and up to S3_MAX_GRANTS grants (grantee, permission), as
 * AWS's AccessControlPolicy. Grantees are canonical users (here a configured
 * user's access key is its canonical id) or the two global groups: AllUsers
 * (anyone, signed or not) and AuthenticatedUsers (any signed request). Canned
 * ACLs expand to grants here once, when set, so what is stored is exactly
 * what GetBucketAcl/GetObjectAcl return (AWS does the same). The XML body
 * parser is in xml.c with the others.
 *
 * Pure functions over caller buffers, like the rest of s3/.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3/s3_int.h"

static const struct {
    enum s3_perm perm;
    const char *name;
    const char *header;
} perms[] = {
    {S3_PERM_READ, "READ", "x-amz-grant-read"},
    {S3_PERM_WRITE, "WRITE", "x-amz-grant-write"},
    {S3_PERM_READ_ACP, "READ_ACP", "x-amz-grant-read-acp"},
    {S3_PERM_WRITE_ACP, "WRITE_ACP", "x-amz-grant-write-acp"},
    {S3_PERM_FULL_CONTROL, "FULL_CONTROL", "x-amz-grant-full-control"},
};

const char *s3_perm_name(enum s3_perm perm)
{
    for (size_t i = 0; i < ARRAY_SIZE(perms); i++)
        if (perms[i].perm == perm)
            return perms[i].name;
    return "";
}

const char *s3_acl_grant_header_name(enum s3_perm perm)
{
    for (size_t i = 0; i < ARRAY_SIZE(perms); i++)
        if (perms[i].perm == perm)
            return perms[i].header;
    return "";
}

/* "READ" … → the permission, 0 when unknown. */
static enum s3_perm perm_of(const char *s, size_t len)
{
    for (size_t i = 0; i < ARRAY_SIZE(perms); i++)
        if (strlen(perms[i].name) == len && memcmp(perms[i].name, s, len) == 0)
            return perms[i].perm;
    return (enum s3_perm)0;
}

/* ---- anonymous requests -------------------------------------------------------------- */

/* Does the raw query carry parameter name (exact, undecoded)? */
static int query_has(const struct s3_request *req, const char *name)
{
    size_t nl = strlen(name), i = 0;
    const char *q = req->query;
    size_t len = q != NULL ? req->query_len : 0;
    while (i < len) {
        size_t e = i;
        while (e < len && q[e] != '&')
            e++;
        size_t k = i;
        while (k < e && q[k] != '=')
            k++;
        if (k - i == nl && memcmp(q + i, name, nl) == 0)
            return 1;
        i = e + 1;
    }
    return 0;
}

int s3_request_anonymous(const struct s3_request *req)
{
    static const char *const signed_params[] = {"X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature",
                                                "Signature", "AWSAccessKeyId"};
    if (s3_header_get(req, "authorization", NULL) != NULL)
        return 0;
    for (size_t i = 0; i < ARRAY_SIZE(signed_params); i++)
        if (query_has(req, signed_params[i]))
            return 0;
    return 1;
}

/* ---- building ACLs -------------------------------------------------------------------- */

static enum s3_err add(struct s3_acl *acl, enum s3_grantee type, enum s3_perm perm, const char *id, size_t id_len)
{
    if (acl->n >= S3_MAX_GRANTS)
        return S3E_MALFORMED_ACL;
    if (id_len >= sizeof(acl->g[0].id))
        return S3E_INVALID_ARGUMENT;
    for (size_t i = 0; i < id_len; i++)
        if ((unsigned char)id[i] <= ' ')
            return S3E_INVALID_ARGUMENT; /* no id (an access key) holds spaces or control bytes */
    struct s3_grant *g = &acl->g[acl->n++];
    memset(g, 0, sizeof(*g));
    g->type = type;
    g->perm = perm;
    if (id_len > 0)
        memcpy(g->id, id, id_len);
    return S3E_OK;
}

enum s3_err s3_acl_canned(const char *name, size_t len, const char *owner, const char *bucket_owner,
                          int for_object, struct s3_acl *out)
{
    enum s3_err e = S3E_OK;
    memset(out, 0, sizeof(*out));
    snprintf(out->owner, sizeof(out->owner), "%s", owner);
    int known = s3_memieq(name, len, "private") || s3_memieq(name, len, "public-read") ||
                s3_memieq(name, len, "public-read-write") || s3_memieq(name, len, "authenticated-read") ||
                s3_memieq(name, len, "bucket-owner-read") || s3_memieq(name, len, "bucket-owner-full-control");
    if (!known)
        return s3_memieq(name, len, "aws-exec-read") || s3_memieq(name, len, "log-delivery-write")
                   ? S3E_NOT_IMPLEMENTED
                   : S3E_INVALID_ARGUMENT;
    e = add(out, S3_GRANTEE_USER, S3_PERM_FULL_CONTROL, owner, strlen(owner));
    if (e == S3E_OK && (s3_memieq(name, len, "public-read") || s3_memieq(name, len, "public-read-write")))
        e = add(out, S3_GRANTEE_ALL_USERS, S3_PERM_READ, NULL, 0);
    if (e == S3E_OK && s3_memieq(name, len, "public-read-write"))
        e = add(out, S3_GRANTEE_ALL_USERS, S3_PERM_WRITE, NULL, 0);
    if (e == S3E_OK && s3_memieq(name, len, "authenticated-read"))
        e = add(out, S3_GRANTEE_AUTH_USERS, S3_PERM_READ, NULL, 0);
    /* The bucket owner's grant, only on objects and only when someone else owns the object. */
    if (e == S3E_OK && for_object && bucket_owner[0] != '\0' && strcmp(bucket_owner, owner) != 0) {
        if (s3_memieq(name, len, "bucket-owner-read"))
            e = add(out, S3_GRANTEE_USER, S3_PERM_READ, bucket_owner, strlen(bucket_owner));
        else if (s3_memieq(name, len, "bucket-owner-full-control"))
            e = add(out, S3_GRANTEE_USER, S3_PERM_FULL_CONTROL, bucket_owner, strlen(bucket_owner));
    }
    return e;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

enum s3_err s3_acl_grant_header(enum s3_perm perm, const char *v, size_t len, struct s3_acl *out)
{
    size_t i = 0;
    for (;;) {
        while (i < len && is_space(v[i]))
            i++;
        size_t ks = i;
        while (i < len && v[i] != '=' && !is_space(v[i]))
            i++;
        size_t kl = i - ks;
        while (i < len && is_space(v[i]))
            i++;
        if (kl == 0 || i >= len || v[i] != '=')
            return S3E_INVALID_ARGUMENT;
        i++;
        while (i < len && is_space(v[i]))
            i++;
        if (i >= len || v[i] != '"')
            return S3E_INVALID_ARGUMENT;
        size_t vs = ++i;
        while (i < len && v[i] != '"')
            i++;
        if (i >= len)
            return S3E_INVALID_ARGUMENT;
        size_t vl = i - vs;
        i++;
        const char *val = v + vs;
        enum s3_err e;
        if (s3_memieq(v + ks, kl, "id")) {
            if (vl == 0)
                return S3E_INVALID_ARGUMENT;
            e = add(out, S3_GRANTEE_USER, perm, val, vl);
        } else if (s3_memieq(v + ks, kl, "uri")) {
            if (vl == strlen(S3_ACL_URI_ALL_USERS) && memcmp(val, S3_ACL_URI_ALL_USERS, vl) == 0)
                e = add(out, S3_GRANTEE_ALL_USERS, perm, NULL, 0);
            else if (vl == strlen(S3_ACL_URI_AUTH_USERS) && memcmp(val, S3_ACL_URI_AUTH_USERS, vl) == 0)
                e = add(out, S3_GRANTEE_AUTH_USERS, perm, NULL, 0);
            else
                return S3E_INVALID_ARGUMENT;
        } else if (s3_memieq(v + ks, kl, "emailAddress")) {
            return S3E_NOT_IMPLEMENTED;
        } else {
            return S3E_INVALID_ARGUMENT;
        }
        if (e != S3E_OK)
            return e;
        while (i < len && is_space(v[i]))
            i++;
        if (i == len)
            return S3E_OK;
        if (v[i] != ',')
            return S3E_INVALID_ARGUMENT;
        i++;
    }
}

/* ---- deciding ------------------------------------------------------------------------- */

unsigned s3_acl_perms(const struct s3_acl *acl, const char *who, int ignore_public)
{
    unsigned p = 0;
    if (who[0] != '\0' && strcmp(acl->owner, who) == 0)
        return S3_PERM_FULL_CONTROL;
    for (size_t i = 0; i < acl->n; i++) {
        const struct s3_grant *g = &acl->g[i];
        int applies = g->type == S3_GRANTEE_USER        ? who[0] != '\0' && strcmp(g->id, who) == 0
                      : g->type == S3_GRANTEE_AUTH_USERS ? !ignore_public && who[0] != '\0'
                                                         : !ignore_public;
        if (applies)
            p |= (unsigned)g->perm;
    }
    return p;
}

int s3_acl_is_public(const struct s3_acl *acl)
{
    for (size_t i = 0; i < acl->n; i++)
        if (acl->g[i].type != S3_GRANTEE_USER)
            return 1;
    return 0;
}

/* ---- the stored form ------------------------------------------------------------------- */

static const char *const type_names[] = {"id", "AllUsers", "AuthenticatedUsers"};

int s3_acl_encode(const struct s3_acl *acl, struct dbuf *out)
{
    int rc = 0;
    rc |= dbuf_adds(out, "owner ");
    rc |= dbuf_adds(out, acl->owner);
    rc |= dbuf_adds(out, "\n");
    for (size_t i = 0; i < acl->n; i++) {
        const struct s3_grant *g = &acl->g[i];
        rc |= dbuf_adds(out, s3_perm_name(g->perm));
        rc |= dbuf_adds(out, " ");
        rc |= dbuf_adds(out, type_names[g->type]);
        if (g->type == S3_GRANTEE_USER) {
            rc |= dbuf_adds(out, " ");
            rc |= dbuf_adds(out, g->id);
        }
        rc |= dbuf_adds(out, "\n");
    }
    return rc != 0 ? -1 : 0;
}

/* Next space-separated word of the line [*i, end): its start and length. */
static size_t word(const char *s, size_t end, size_t *i, const char **w)
{
    size_t st = *i;
    while (*i < end && s[*i] != ' ')
        (*i)++;
    *w = s + st;
    size_t n = *i - st;
    if (*i < end)
        (*i)++;
    return n;
}

int s3_acl_decode(const char *s, size_t len, struct s3_acl *out)
{
    size_t i = 0;
    int first = 1;
    memset(out, 0, sizeof(*out));
    for (size_t k = 0; k < len; k++)
        if ((unsigned char)s[k] < 0x20 && s[k] != '\n')
            goto bad; /* control bytes (NUL first) are never written */
    while (i < len) {
        size_t end = i;
        while (end < len && s[end] != '\n')
            end++;
        if (end == len)
            goto bad; /* every line ends with '\n' */
        const char *a, *b, *c;
        size_t al = word(s, end, &i, &a);
        if (first) {
            if (al != 5 || memcmp(a, "owner", 5) != 0 || a[5] != ' ' || end - i >= sizeof(out->owner))
                goto bad;
            memcpy(out->owner, s + i, end - i);
            out->owner[end - i] = '\0';
            if (memchr(out->owner, ' ', end - i) != NULL)
                goto bad;
            first = 0;
        } else {
            size_t bl = word(s, end, &i, &b);
            size_t cl = end - i;
            c = s + i;
            enum s3_perm p = perm_of(a, al);
            enum s3_err e;
            if (p == 0 || out->n >= S3_MAX_GRANTS)
                goto bad;
            if (bl == 2 && memcmp(b, "id", 2) == 0 && cl > 0 && memchr(c, ' ', cl) == NULL)
                e = add(out, S3_GRANTEE_USER, p, c, cl);
            else if (bl == 8 && memcmp(b, "AllUsers", 8) == 0 && cl == 0 && s[end - 1] != ' ')
                e = add(out, S3_GRANTEE_ALL_USERS, p, NULL, 0);
            else if (bl == 18 && memcmp(b, "AuthenticatedUsers", 18) == 0 && cl == 0 && s[end - 1] != ' ')
                e = add(out, S3_GRANTEE_AUTH_USERS, p, NULL, 0);
            else
                goto bad;
            if (e != S3E_OK)
                goto bad;
        }
        i = end + 1;
    }
    if (first)
        goto bad;
    return 0;
bad:
    memset(out, 0, sizeof(*out));
    return -1;
}
