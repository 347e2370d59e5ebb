/* test_s3_acl.c — ACLs (s3/acl.c): anonymous requests, canned ACLs, x-amz-grant-* headers, who
 * may do what, the stored form; the AccessControlPolicy and PublicAccessBlockConfiguration
 * bodies (s3/xml.c); the ACL routes (s3/route.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3/s3.h"
#include "tests/unit/check.h"

#define ALL S3_ACL_URI_ALL_USERS
#define AUTH S3_ACL_URI_AUTH_USERS

static struct s3_acl acl, back;

static int anonymous(const char *query, const char *auth)
{
    struct s3_header h[1] = {{"authorization", 13, auth, auth ? strlen(auth) : 0}};
    struct s3_request req = {.method = "GET", .method_len = 3, .path = "/b/k", .path_len = 4, .query = query,
                             .query_len = query ? strlen(query) : 0, .headers = h, .n_headers = auth ? 1 : 0};
    return s3_request_anonymous(&req);
}

static void test_anonymous(void)
{
    CHECK(anonymous(NULL, NULL) == 1);
    CHECK(anonymous("list-type=2&prefix=a", NULL) == 1);
    CHECK(anonymous("x-X-Amz-Signature=1", NULL) == 1);
    CHECK(anonymous(NULL, "AWS4-HMAC-SHA256 Credential=x") == 0);
    CHECK(anonymous(NULL, "") == 0); /* present, even empty: a signature that fails */
    CHECK(anonymous("X-Amz-Algorithm=AWS4-HMAC-SHA256", NULL) == 0);
    CHECK(anonymous("a=1&X-Amz-Signature=00", NULL) == 0);
    CHECK(anonymous("X-Amz-Credential", NULL) == 0);
    CHECK(anonymous("AWSAccessKeyId=AK&Signature=x&Expires=1", NULL) == 0);
}

static enum s3_err canned(const char *name, const char *owner, const char *bucket_owner, int obj)
{
    return s3_acl_canned(name, strlen(name), owner, bucket_owner, obj, &acl);
}

static void test_canned(void)
{
    CHECK(canned("private", "A", "A", 0) == S3E_OK && acl.n == 1 && !strcmp(acl.owner, "A") &&
          acl.g[0].type == S3_GRANTEE_USER && acl.g[0].perm == S3_PERM_FULL_CONTROL && !strcmp(acl.g[0].id, "A"));
    CHECK(canned("public-read", "A", "A", 1) == S3E_OK && acl.n == 2 && acl.g[1].type == S3_GRANTEE_ALL_USERS &&
          acl.g[1].perm == S3_PERM_READ);
    CHECK(canned("public-read-write", "A", "A", 0) == S3E_OK && acl.n == 3 && acl.g[2].perm == S3_PERM_WRITE);
    CHECK(canned("authenticated-read", "A", "A", 0) == S3E_OK && acl.n == 2 &&
          acl.g[1].type == S3_GRANTEE_AUTH_USERS);
    CHECK(canned("bucket-owner-read", "B", "A", 1) == S3E_OK && acl.n == 2 && !strcmp(acl.g[1].id, "A") &&
          acl.g[1].perm == S3_PERM_READ);
    CHECK(canned("bucket-owner-full-control", "B", "A", 1) == S3E_OK && acl.n == 2 &&
          acl.g[1].perm == S3_PERM_FULL_CONTROL);
    CHECK(canned("bucket-owner-full-control", "A", "A", 1) == S3E_OK && acl.n == 1);
    CHECK(canned("bucket-owner-read", "B", "A", 0) == S3E_OK && acl.n == 1); /* buckets: as private */
    CHECK(canned("no-such", "A", "A", 0) == S3E_INVALID_ARGUMENT);
    CHECK(canned("", "A", "A", 0) == S3E_INVALID_ARGUMENT);
    CHECK(canned("log-delivery-write", "A", "A", 0) == S3E_NOT_IMPLEMENTED);
}

static enum s3_err grant(enum s3_perm p, const char *v)
{
    return s3_acl_grant_header(p, v, strlen(v), &acl);
}

static void test_grant_headers(void)
{
    memset(&acl, 0, sizeof(acl));
    CHECK(grant(S3_PERM_READ, "id=\"B\"") == S3E_OK && acl.n == 1 && !strcmp(acl.g[0].id, "B"));
    CHECK(grant(S3_PERM_WRITE, " uri=\"" ALL "\" , id=\"C\",uri=\"" AUTH "\"") == S3E_OK && acl.n == 4 &&
          acl.g[1].type == S3_GRANTEE_ALL_USERS && acl.g[2].perm == S3_PERM_WRITE &&
          acl.g[3].type == S3_GRANTEE_AUTH_USERS);
    CHECK(grant(S3_PERM_READ, "ID=\"D\"") == S3E_OK && acl.n == 5);
    CHECK(grant(S3_PERM_READ, "id=B") == S3E_INVALID_ARGUMENT);
    CHECK(grant(S3_PERM_READ, "id=\"B") == S3E_INVALID_ARGUMENT);
    CHECK(grant(S3_PERM_READ, "id=\"\"") == S3E_INVALID_ARGUMENT);
    CHECK(grant(S3_PERM_READ, "id=\"B\" id=\"C\"") == S3E_INVALID_ARGUMENT);
    CHECK(grant(S3_PERM_READ, "id=\"B\",") == S3E_INVALID_ARGUMENT);
    CHECK(grant(S3_PERM_READ, "") == S3E_INVALID_ARGUMENT);
    CHECK(grant(S3_PERM_READ, "uri=\"http://acs.amazonaws.com/groups/s3/LogDelivery\"") == S3E_INVALID_ARGUMENT);
    CHECK(grant(S3_PERM_READ, "emailAddress=\"a@b.c\"") == S3E_NOT_IMPLEMENTED);
    CHECK(grant(S3_PERM_READ, "foo=\"x\"") == S3E_INVALID_ARGUMENT);
    CHECK(grant(S3_PERM_READ, "id=\"a b\"") == S3E_INVALID_ARGUMENT);
    CHECK(grant(S3_PERM_READ, "id=\"a\x01\"") == S3E_INVALID_ARGUMENT);
    CHECK(s3_acl_grant_header(S3_PERM_READ, "id=\"a\0\"", 6, &acl) == S3E_INVALID_ARGUMENT);
    memset(&acl, 0, sizeof(acl));
    for (int i = 0; i < S3_MAX_GRANTS; i++)
        CHECK(grant(S3_PERM_READ, "id=\"X\"") == S3E_OK);
    CHECK(grant(S3_PERM_READ, "id=\"X\"") == S3E_MALFORMED_ACL);
    CHECK_STR(s3_acl_grant_header_name(S3_PERM_WRITE_ACP), "x-amz-grant-write-acp");
    CHECK_STR(s3_perm_name(S3_PERM_FULL_CONTROL), "FULL_CONTROL");
}

static void test_perms(void)
{
    CHECK(canned("public-read", "A", "A", 0) == S3E_OK);
    CHECK(s3_acl_perms(&acl, "A", 1) == S3_PERM_FULL_CONTROL); /* the owner, whatever the grants */
    CHECK(s3_acl_perms(&acl, "", 0) == S3_PERM_READ);
    CHECK(s3_acl_perms(&acl, "B", 0) == S3_PERM_READ);
    CHECK(s3_acl_perms(&acl, "", 1) == 0); /* IgnorePublicAcls */
    CHECK(s3_acl_is_public(&acl));
    CHECK(canned("authenticated-read", "A", "A", 0) == S3E_OK);
    CHECK(s3_acl_perms(&acl, "", 0) == 0 && s3_acl_perms(&acl, "B", 0) == S3_PERM_READ);
    CHECK(s3_acl_perms(&acl, "B", 1) == 0 && s3_acl_is_public(&acl));
    CHECK(canned("private", "A", "A", 0) == S3E_OK);
    CHECK(grant(S3_PERM_WRITE, "id=\"B\"") == S3E_OK && grant(S3_PERM_READ_ACP, "id=\"B\"") == S3E_OK);
    CHECK(!s3_acl_is_public(&acl));
    CHECK(s3_acl_perms(&acl, "B", 1) == (S3_PERM_WRITE | S3_PERM_READ_ACP));
    CHECK(s3_acl_perms(&acl, "C", 0) == 0 && s3_acl_perms(&acl, "", 0) == 0);
    /* An empty owner is nobody: anonymous never owns. */
    memset(&acl, 0, sizeof(acl));
    CHECK(s3_acl_perms(&acl, "", 0) == 0);
}

static void test_stored_form(void)
{
    struct dbuf d;
    dbuf_init(&d, 65536);
    CHECK(canned("public-read-write", "A", "A", 0) == S3E_OK && grant(S3_PERM_READ_ACP, "id=\"B\"") == S3E_OK &&
          grant(S3_PERM_READ, "uri=\"" AUTH "\"") == S3E_OK);
    CHECK(s3_acl_encode(&acl, &d) == 0);
    CHECK(d.len == strlen("owner A\nFULL_CONTROL id A\nREAD AllUsers\nWRITE AllUsers\nREAD_ACP id B\n"
                          "READ AuthenticatedUsers\n") &&
          memcmp(d.ptr, "owner A\nFULL_CONTROL id A\nREAD AllUsers\n", 40) == 0);
    CHECK(s3_acl_decode(d.ptr, d.len, &back) == 0 && memcmp(&acl, &back, sizeof(acl)) == 0);
    static const char *const bad[] = {"", "owner A", "owner A\nREAD id\n", "owner A\nREAD id B C\n",
                                      "owner A\nTAKE id B\n", "owner A\nREAD AllUsers x\n", "READ id B\n",
                                      "owner A B\n", "owner A\nREAD Everyone\n", "owner A\tB\n", "owner\n", "owner A\nREAD AllUsers \n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        CHECK(s3_acl_decode(bad[i], strlen(bad[i]), &back) == -1 && back.n == 0);
    CHECK(s3_acl_decode("owner \n", 7, &back) == 0 && back.owner[0] == '\0' && back.n == 0);
    dbuf_release(&d);
}

static enum s3_err xml(const char *body)
{
    return s3_xml_parse_acl(body, strlen(body), &acl);
}

static void test_xml(void)
{
    CHECK(xml("<AccessControlPolicy xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Owner><ID>A</ID>"
              "<DisplayName>a</DisplayName></Owner><AccessControlList>"
              "<Grant><Grantee xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"CanonicalUser\">"
              "<ID> B </ID></Grantee><Permission>READ</Permission></Grant>"
              "<Grant><Grantee xsi:type=\"Group\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><URI>" ALL
              "</URI></Grantee><Permission>WRITE_ACP</Permission></Grant>"
              "</AccessControlList></AccessControlPolicy>") == S3E_OK);
    CHECK(!strcmp(acl.owner, "A") && acl.n == 2 && !strcmp(acl.g[0].id, "B") && acl.g[0].perm == S3_PERM_READ &&
          acl.g[1].type == S3_GRANTEE_ALL_USERS && acl.g[1].perm == S3_PERM_WRITE_ACP);
    CHECK(xml("<AccessControlPolicy><AccessControlList/></AccessControlPolicy>") == S3E_OK && acl.n == 0);
    CHECK(xml("<AccessControlPolicy><AccessControlList><Grant><Grantee><ID>B</ID></Grantee></Grant>"
              "</AccessControlList></AccessControlPolicy>") == S3E_MALFORMED_ACL);
    CHECK(xml("<AccessControlPolicy><AccessControlList><Grant><Permission>READ</Permission></Grant>"
              "</AccessControlList></AccessControlPolicy>") == S3E_MALFORMED_ACL);
    CHECK(xml("<AccessControlPolicy><AccessControlList><Grant><Grantee><ID>B</ID></Grantee>"
              "<Permission>ALL</Permission></Grant></AccessControlList></AccessControlPolicy>") == S3E_MALFORMED_ACL);
    CHECK(xml("<AccessControlPolicy><AccessControlList><Grant><Grantee><ID>B</ID><URI>" ALL "</URI></Grantee>"
              "<Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>") ==
          S3E_MALFORMED_ACL);
    CHECK(xml("<AccessControlPolicy><AccessControlList><Grant><Grantee><URI>http://x/</URI></Grantee>"
              "<Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>") ==
          S3E_INVALID_ARGUMENT);
    CHECK(xml("<AccessControlPolicy><AccessControlList><Grant><Grantee><EmailAddress>a@b</EmailAddress>"
              "</Grantee><Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>") ==
          S3E_NOT_IMPLEMENTED);
    CHECK(xml("<AccessControlPolicy><Oops") == S3E_MALFORMED_ACL && acl.n == 0);
    CHECK(xml("<Tagging/>") == S3E_MALFORMED_ACL);
    CHECK(xml("<AccessControlPolicy><AccessControlList><Grant><Grantee><ID>a b</ID></Grantee>"
              "<Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>") ==
          S3E_INVALID_ARGUMENT);
    CHECK(xml("") == S3E_MALFORMED_ACL);
    CHECK(xml("<!DOCTYPE x [<!ENTITY a \"b\">]><AccessControlPolicy/>") == S3E_MALFORMED_ACL);
}

static void test_pab(void)
{
    unsigned f = 99;
    const char *b = "<PublicAccessBlockConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                    "<BlockPublicAcls>true</BlockPublicAcls><IgnorePublicAcls>false</IgnorePublicAcls>"
                    "<RestrictPublicBuckets> true </RestrictPublicBuckets></PublicAccessBlockConfiguration>";
    CHECK(s3_xml_parse_pab(b, strlen(b), &f) == S3E_OK && f == (S3_PAB_BLOCK_PUBLIC_ACLS | S3_PAB_RESTRICT_PUBLIC_BUCKETS));
    b = "<PublicAccessBlockConfiguration/>";
    CHECK(s3_xml_parse_pab(b, strlen(b), &f) == S3E_OK && f == 0);
    b = "<PublicAccessBlockConfiguration><BlockPublicPolicy>yes</BlockPublicPolicy></PublicAccessBlockConfiguration>";
    CHECK(s3_xml_parse_pab(b, strlen(b), &f) == S3E_MALFORMED_XML && f == 0);
    b = "<AccessControlPolicy/>";
    CHECK(s3_xml_parse_pab(b, strlen(b), &f) == S3E_MALFORMED_XML);
}

static enum s3_op route(const char *method, const char *path, const char *query)
{
    struct s3_request req = {.method = method, .method_len = strlen(method), .path = path, .path_len = strlen(path),
                             .query = query, .query_len = strlen(query)};
    struct s3_route r;
    enum s3_err e = s3_route_parse(&req, NULL, &r);
    enum s3_op op = e == S3E_OK ? r.op : S3_OP_UNKNOWN;
    s3_route_release(&r);
    return op;
}

static void test_routes(void)
{
    CHECK(route("PUT", "/b", "acl") == S3_OP_PUT_BUCKET_ACL);
    CHECK(route("GET", "/b", "acl") == S3_OP_GET_BUCKET_ACL);
    CHECK(route("PUT", "/b/k", "acl") == S3_OP_PUT_OBJECT_ACL);
    CHECK(route("GET", "/b", "publicAccessBlock") == S3_OP_GET_PUBLIC_ACCESS_BLOCK);
    CHECK(route("PUT", "/b", "publicAccessBlock") == S3_OP_PUT_PUBLIC_ACCESS_BLOCK);
    CHECK(route("DELETE", "/b", "publicAccessBlock") == S3_OP_DELETE_PUBLIC_ACCESS_BLOCK);
    CHECK(route("GET", "/b/k", "publicAccessBlock") == S3_OP_NOT_IMPLEMENTED);
    CHECK_STR(s3_op_name(S3_OP_PUT_BUCKET_ACL), "PutBucketAcl");
    CHECK(s3_err_status(S3E_MALFORMED_ACL) == 400 && !strcmp(s3_err_code(S3E_MALFORMED_ACL), "MalformedACLError"));
    CHECK(s3_err_status(S3E_NO_SUCH_PUBLIC_ACCESS_BLOCK) == 404 &&
          !strcmp(s3_err_code(S3E_NO_SUCH_PUBLIC_ACCESS_BLOCK), "NoSuchPublicAccessBlockConfiguration"));
}

int main(void)
{
    test_anonymous();
    test_canned();
    test_grant_headers();
    test_perms();
    test_stored_form();
    test_xml();
    test_pab();
    test_routes();
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed ? 1 : 0;
}
