/* public.c — the buckets open to anonymous writes, known on the loop without a store read; and the
 * stored form of an ACL read back.
 *
 * The intake (intake.c) must decide on a request head, synchronously,
 * whether a body of an unsigned request may be buffered, which only a
 * bucket granting WRITE to AllUsers allows. It asks
 * gw_acl_public_write, an in-memory sorted list of those buckets, read from
 * the index at start-up and again after every change of a bucket's ACL or
 * public access block (gw_acl_public_refresh). At most GW_PUBLIC_WRITE_MAX
 * bucket ACLs are looked at: past that a bucket missing from the list only
 * loses anonymous bodies the intake buffers (64 KiB .. 4 MiB, or chunked),
 * which are then refused as before: the list can only err on the closed side.
 * Loop thread, except the list's read (store thread). Calls nothing in http/ but the s3 library
 * and the store: the intake and the authentication ask it, acl.c refreshes it for a request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/gw.h"
#include "gateway/http/acl.h"

#define GW_PUBLIC_WRITE_MAX 4096 /* bucket ACLs read into the public-write list */

void gw_acl_load(const char *text, const char *owner, struct s3_acl *acl)
{
    if (text == NULL || s3_acl_decode(text, strlen(text), acl) != 0) {
        /* No row is private; a row that does not decode grants nothing either. */
        memset(acl, 0, sizeof(*acl));
    }
    if (acl->owner[0] == '\0')
        snprintf(acl->owner, sizeof(acl->owner), "%s", owner);
}

struct gw_acl_public {
    char **names; /* sorted */
    size_t n;
};

struct gw_acl_public_job {
    struct gw *gw;
    char **names;
    size_t n;
};

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void gw_acl_public_job_read(struct store *st, struct gw_acl_public_job *j)
{
    struct store_bucket_acl *v = NULL;
    size_t n = 0;
    struct s3_acl *acl = xmalloc(sizeof(*acl));
    if (store_bucket_acls_list(st, S3_PAB_IGNORE_PUBLIC_ACLS, GW_PUBLIC_WRITE_MAX, &v, &n) == STORE_OK) {
        j->names = xcalloc(n ? n : 1, sizeof(char *));
        for (size_t i = 0; i < n; i++) {
            gw_acl_load(v[i].acl, "", acl);
            if (s3_acl_perms(acl, "", 0) & S3_PERM_WRITE)
                j->names[j->n++] = xstrdup(v[i].bucket);
        }
    }
    store_bucket_acls_free(v, n);
    free(acl);
}

static void names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

void gw_acl_public_job_install(struct gw_acl_public_job *j)
{
    struct gw_acl_public *p = j->gw->acl_public;
    if (p != NULL && j->names != NULL) {
        names_free(p->names, p->n);
        p->names = j->names;
        p->n = j->n;
        j->names = NULL;
        j->n = 0;
    }
}

void gw_acl_public_job_end(struct gw_acl_public_job *j)
{
    gw_acl_public_job_install(j);
    names_free(j->names, j->n);
    free(j);
}

struct gw_acl_public_job *gw_acl_public_job_new(struct gw *gw)
{
    if (gw->acl_public == NULL)
        gw->acl_public = xcalloc(1, sizeof(*gw->acl_public));
    struct gw_acl_public_job *j = xcalloc(1, sizeof(*j));
    j->gw = gw;
    return j;
}

static void refresh_run(struct store *st, void *arg)
{
    gw_acl_public_job_read(st, arg);
}

static void refresh_done(void *arg)
{
    gw_acl_public_job_end(arg);
}

void gw_acl_public_refresh(struct gw *gw)
{
    gw_store_call(gw, refresh_run, refresh_done, gw_acl_public_job_new(gw));
}

int gw_acl_public_write(const struct gw *gw, const char *bucket)
{
    const struct gw_acl_public *p = gw->acl_public;
    if (p == NULL || p->n == 0)
        return 0;
    return bsearch(&bucket, p->names, p->n, sizeof(char *), cmp_name) != NULL;
}

int gw_acl_anonymous_write(struct gw *gw, const struct s3_request *s3)
{
    struct s3_route route;
    int ok = s3_route_parse(s3, gw->cfg.domain, &route) == S3E_OK && route.bucket[0] != '\0' &&
             gw_acl_public_write(gw, route.bucket);
    s3_route_release(&route);
    return ok;
}

void gw_acl_public_free(struct gw *gw)
{
    if (gw->acl_public == NULL)
        return;
    names_free(gw->acl_public->names, gw->acl_public->n);
    free(gw->acl_public);
    gw->acl_public = NULL;
}
