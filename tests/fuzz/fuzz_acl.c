/* fuzz_acl.c — the ACL parsers: s3_xml_parse_acl (AccessControlPolicy bodies), s3_acl_grant_header
 * (x-amz-grant-* values), s3_acl_decode (the stored form), s3_xml_parse_pab
 * (PublicAccessBlockConfiguration bodies).
 *
 * Input: one selector byte, then the bytes. selector % 4 ('0'..'3' in ASCII):
 *   0 AccessControlPolicy body   1 x-amz-grant-* value (permission from the next byte)
 *   2 stored ACL text            3 PublicAccessBlockConfiguration body
 * Checked: at most S3_MAX_GRANTS grants, every string NUL-terminated inside its array, known
 * permissions and grantee kinds, grantee ids without spaces or control bytes; an ACL whose owner
 * has none either encodes and decodes back to itself; a decoded text encodes back to the same bytes.
 */
#include "tests/fuzz/fuzz.h"

static void check_acl(const struct s3_acl *acl)
{
    FUZZ_CHECK(acl->n <= S3_MAX_GRANTS);
    FUZZ_CHECK(memchr(acl->owner, '\0', sizeof(acl->owner)) != NULL);
    int plain = 1;
    for (const char *p = acl->owner; *p != '\0'; p++)
        plain &= (unsigned char)*p > ' '; /* the stored form cannot carry spaces or control bytes in ids */
    for (size_t i = 0; i < acl->n; i++) {
        const struct s3_grant *g = &acl->g[i];
        FUZZ_CHECK(memchr(g->id, '\0', sizeof(g->id)) != NULL);
        FUZZ_CHECK(g->type == S3_GRANTEE_USER || g->type == S3_GRANTEE_ALL_USERS || g->type == S3_GRANTEE_AUTH_USERS);
        FUZZ_CHECK(s3_perm_name(g->perm)[0] != '\0');
        FUZZ_CHECK(g->type != S3_GRANTEE_USER || g->id[0] != '\0');
        for (const char *p = g->id; *p != '\0'; p++)
            FUZZ_CHECK((unsigned char)*p > ' '); /* refused by the parsers */
    }
    (void)s3_acl_perms(acl, "", 0);
    (void)s3_acl_perms(acl, "A", 1);
    (void)s3_acl_is_public(acl);
    if (!plain)
        return;
    struct dbuf d;
    struct s3_acl *back = xmalloc(sizeof(*back));
    dbuf_init(&d, 1 << 20);
    FUZZ_CHECK(s3_acl_encode(acl, &d) == 0);
    FUZZ_CHECK(s3_acl_decode(d.ptr, d.len, back) == 0);
    FUZZ_CHECK(back->n == acl->n && strcmp(back->owner, acl->owner) == 0);
    for (size_t i = 0; i < acl->n; i++)
        FUZZ_CHECK(back->g[i].type == acl->g[i].type && back->g[i].perm == acl->g[i].perm &&
                   strcmp(back->g[i].id, acl->g[i].id) == 0);
    dbuf_release(&d);
    free(back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum s3_perm perms[] = {S3_PERM_READ, S3_PERM_WRITE, S3_PERM_READ_ACP, S3_PERM_WRITE_ACP,
                                         S3_PERM_FULL_CONTROL};
    if (size == 0)
        return 0;
    size_t len = size - 1;
    char *body = xmalloc(len ? len : 1);
    memcpy(body, data + 1, len);
    struct s3_acl *acl = xcalloc(1, sizeof(*acl));

    switch (data[0] % 4) {
    case 0:
        if (s3_xml_parse_acl(body, len, acl) == S3E_OK)
            check_acl(acl);
        else
            FUZZ_CHECK(acl->n == 0);
        break;
    case 1:
        if (len > 0 && s3_acl_grant_header(perms[(unsigned char)body[0] % 5], body + 1, len - 1, acl) == S3E_OK)
            check_acl(acl);
        else
            FUZZ_CHECK(acl->n <= S3_MAX_GRANTS);
        break;
    case 2:
        if (s3_acl_decode(body, len, acl) == 0) {
            struct dbuf d;
            dbuf_init(&d, 1 << 20);
            check_acl(acl);
            FUZZ_CHECK(s3_acl_encode(acl, &d) == 0 && d.len == len && memcmp(d.ptr, body, len) == 0);
            dbuf_release(&d);
        } else {
            FUZZ_CHECK(acl->n == 0);
        }
        break;
    default: {
        unsigned flags = 99;
        enum s3_err e = s3_xml_parse_pab(body, len, &flags);
        FUZZ_CHECK(e == S3E_OK ? flags <= 15 : flags == 0);
        break;
    }
    }
    free(acl);
    free(body);
    return 0;
}
