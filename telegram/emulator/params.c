/* params.c — Bot API request parameters from the query string and the body.
 *
 * As the real server: the query string is read first (so it wins on duplicate names),
 * then an application/x-www-form-urlencoded, application/json (top-level object; non-string
 * values kept as raw JSON text) or multipart/form-data body. A multipart part is a file iff
 * its Content-Disposition has a filename= parameter. Any other body becomes the file "file".
 * File parts are not copied: they point into the fully buffered h2o request entity.
 */
#include <ctype.h>
#include <string.h>

#include "telegram/emulator/emu.h"

static void add(h2o_mem_pool_t *pool, struct emu_params *p, const char *name, const char *val, size_t len,
                int is_file, const char *filename)
{
    if (p->n == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 16;
        struct emu_param *nv = h2o_mem_alloc_pool(pool, ncap * sizeof(*nv));
        if (p->n)
            memcpy(nv, p->v, p->n * sizeof(*nv));
        p->v = nv;
        p->cap = ncap;
    }
    struct emu_param *e = &p->v[p->n++];
    e->name = name;
    e->val = val;
    e->len = len;
    e->is_file = is_file;
    e->filename = filename;
}

/* find(3) is a GNU extension; this one leans on memchr for the first byte. */
static const char *find(const char *hay, size_t n, const char *needle, size_t m)
{
    const char *end = hay + n;
    const char *p = hay;
    if (m == 0)
        return hay;
    while ((size_t)(end - p) >= m) {
        p = memchr(p, needle[0], (size_t)(end - p) - m + 1);
        if (!p)
            return NULL;
        if (memcmp(p, needle, m) == 0)
            return p;
        p++;
    }
    return NULL;
}

char *emu_url_decode(h2o_mem_pool_t *pool, const char *s, size_t len, size_t *outlen)
{
    char *out = h2o_mem_alloc_pool(pool, len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '+') {
            out[o++] = ' ';
        } else if (s[i] == '%' && i + 2 < len && hex_digit((unsigned char)s[i + 1]) >= 0 &&
                   hex_digit((unsigned char)s[i + 2]) >= 0) {
            out[o++] = (char)(hex_digit((unsigned char)s[i + 1]) * 16 + hex_digit((unsigned char)s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    if (outlen)
        *outlen = o;
    return out;
}

/* name=value&... ; returns -1 when the strings budget is exceeded. */
static int parse_urlencoded(h2o_mem_pool_t *pool, struct emu_params *p, const char *s, size_t len, size_t *budget)
{
    size_t i = 0;
    while (i < len) {
        size_t end = i;
        while (end < len && s[end] != '&')
            end++;
        if (end > i) {
            const char *eq = memchr(s + i, '=', end - i);
            size_t nlen = eq ? (size_t)(eq - (s + i)) : end - i;
            const char *v = eq ? eq + 1 : s + end;
            size_t vlen = eq ? (size_t)(s + end - v) : 0;
            if (nlen + vlen > *budget)
                return -1;
            *budget -= nlen + vlen;
            size_t dlen;
            char *name = emu_url_decode(pool, s + i, nlen, NULL);
            char *val = emu_url_decode(pool, v, vlen, &dlen);
            add(pool, p, name, val, dlen, 0, NULL);
        }
        i = end + 1;
    }
    return 0;
}

static int parse_json(h2o_mem_pool_t *pool, struct emu_params *p, const char *s, size_t len, size_t *budget)
{
    json_error_t err;
    json_t *root = json_loadb(s, len, JSON_DECODE_ANY, &err);
    int rc = 0;
    if (!root || !json_is_object(root))
        goto out;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        size_t klen = strlen(key);
        char *name = h2o_mem_alloc_pool(pool, klen + 1);
        memcpy(name, key, klen + 1);
        if (json_is_string(v)) {
            size_t vlen = json_string_length(v);
            if (klen + vlen > *budget) {
                rc = -1;
                goto out;
            }
            *budget -= klen + vlen;
            char *val = h2o_mem_alloc_pool(pool, vlen + 1);
            memcpy(val, json_string_value(v), vlen);
            val[vlen] = '\0';
            add(pool, p, name, val, vlen, 0, NULL);
        } else {
            char *txt = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            if (!txt)
                continue;
            size_t vlen = strlen(txt);
            if (klen + vlen > *budget) {
                free(txt);
                rc = -1;
                goto out;
            }
            *budget -= klen + vlen;
            char *val = h2o_mem_alloc_pool(pool, vlen + 1);
            memcpy(val, txt, vlen + 1);
            free(txt);
            add(pool, p, name, val, vlen, 0, NULL);
        }
    }
out:
    json_decref(root);
    return rc;
}

/* Reads a header parameter value at *s (quoted with backslash escapes, or a token). */
static char *hdr_value(h2o_mem_pool_t *pool, const char **s, const char *end)
{
    const char *q = *s;
    char *out = h2o_mem_alloc_pool(pool, (size_t)(end - q) + 1);
    size_t o = 0;
    if (q < end && *q == '"') {
        q++;
        while (q < end && *q != '"') {
            if (*q == '\\' && q + 1 < end)
                q++;
            out[o++] = *q++;
        }
        if (q < end)
            q++;
    } else {
        while (q < end && *q != ';' && *q != ' ' && *q != '\t')
            out[o++] = *q++;
    }
    out[o] = '\0';
    *s = q;
    return out;
}

/* Content-Disposition: form-data; name="x"; filename="y" */
static void parse_disposition(h2o_mem_pool_t *pool, const char *s, const char *end, char **name, char **filename)
{
    const char *q = memchr(s, ';', (size_t)(end - s));
    while (q && q < end) {
        q++;
        while (q < end && (*q == ' ' || *q == '\t'))
            q++;
        const char *k = q;
        while (q < end && *q != '=' && *q != ';')
            q++;
        size_t klen = (size_t)(q - k);
        while (klen && (k[klen - 1] == ' ' || k[klen - 1] == '\t'))
            klen--;
        if (q >= end || *q == ';')
            continue;
        q++;
        while (q < end && (*q == ' ' || *q == '\t'))
            q++;
        char *v = hdr_value(pool, &q, end);
        if (h2o_lcstris(k, klen, H2O_STRLIT("name")))
            *name = emu_url_decode(pool, v, strlen(v), NULL);
        else if (h2o_lcstris(k, klen, H2O_STRLIT("filename")))
            *filename = emu_url_decode(pool, v, strlen(v), NULL);
        q = memchr(q, ';', (size_t)(end - q));
    }
}

static int boundary_of(h2o_mem_pool_t *pool, const char *ct, size_t ctlen, char **out)
{
    const char *end = ct + ctlen;
    const char *q = ct;
    while (q < end) {
        q = memchr(q, ';', (size_t)(end - q));
        if (!q)
            break;
        q++;
        while (q < end && (*q == ' ' || *q == '\t'))
            q++;
        if ((size_t)(end - q) > 9 && h2o_lcstris(q, 9, H2O_STRLIT("boundary="))) {
            q += 9;
            *out = hdr_value(pool, &q, end);
            size_t n = strlen(*out);
            return n >= 1 && n <= 70 ? 0 : -1;
        }
    }
    return -1;
}

static int parse_multipart(h2o_mem_pool_t *pool, struct emu_params *p, const char *ct, size_t ctlen, const char *body,
                           size_t len, size_t *budget, struct emu_bare *bare)
{
    char *boundary = NULL;
    if (boundary_of(pool, ct, ctlen, &boundary) != 0) {
        bare->status = 400;
        bare->reason = "Bad Request";
        return -1;
    }
    size_t blen = strlen(boundary);
    char *delim = h2o_mem_alloc_pool(pool, blen + 5);
    memcpy(delim, "\r\n--", 4);
    memcpy(delim + 4, boundary, blen + 1);
    size_t dlen = blen + 4;
    const char *end = body + len;
    /* The first delimiter may come without the leading CRLF. */
    const char *q;
    if (len >= dlen - 2 && memcmp(body, delim + 2, dlen - 2) == 0)
        q = body + dlen - 2;
    else {
        q = find(body, len, delim, dlen);
        if (!q)
            return 0;
        q += dlen;
    }
    size_t files = 0;
    for (;;) {
        if (end - q >= 2 && q[0] == '-' && q[1] == '-')
            return 0;
        while (q < end && (*q == ' ' || *q == '\t'))
            q++;
        if (end - q < 2 || q[0] != '\r' || q[1] != '\n')
            return 0;
        q += 2;
        const char *hend = find(q, (size_t)(end - q), "\r\n\r\n", 4);
        const char *content;
        if (end - q >= 2 && q[0] == '\r' && q[1] == '\n') {
            hend = q - 2;
            content = q + 2;
        } else {
            if (!hend)
                return 0;
            content = hend + 4;
        }
        char *name = NULL, *filename = NULL;
        const char *h = q;
        while (h < hend) {
            const char *eol = find(h, (size_t)(hend + 2 - h), "\r\n", 2);
            if (!eol)
                eol = hend;
            const char *colon = memchr(h, ':', (size_t)(eol - h));
            if (colon && h2o_lcstris(h, (size_t)(colon - h), H2O_STRLIT("content-disposition")))
                parse_disposition(pool, colon + 1, eol, &name, &filename);
            h = eol + 2;
        }
        const char *cend = find(content, (size_t)(end - content), delim, dlen);
        if (!cend)
            return 0;
        size_t clen = (size_t)(cend - content);
        if (name) {
            if (filename) {
                if (++files > EMU_MAX_FILES) {
                    bare->status = 413;
                    bare->reason = "Request Entity Too Large";
                    return -1;
                }
                add(pool, p, name, content, clen, 1, filename);
            } else {
                if (clen + strlen(name) > *budget) {
                    bare->status = 413;
                    bare->reason = "Request Entity Too Large";
                    return -1;
                }
                *budget -= clen + strlen(name);
                char *val = h2o_mem_alloc_pool(pool, clen + 1);
                memcpy(val, content, clen);
                val[clen] = '\0';
                add(pool, p, name, val, clen, 0, NULL);
            }
        }
        q = cend + dlen;
    }
}

int emu_params_parse(h2o_req_t *req, struct emu_params *p, struct emu_bare *bare)
{
    h2o_mem_pool_t *pool = &req->pool;
    size_t budget = EMU_MAX_STRINGS;
    p->v = NULL;
    p->n = p->cap = 0;
    if (req->query_at != SIZE_MAX) {
        const char *qs = req->path.base + req->query_at + 1;
        size_t qlen = req->path.len - req->query_at - 1;
        if (parse_urlencoded(pool, p, qs, qlen, &budget) != 0)
            goto too_big;
    }
    if (req->entity.base == NULL || req->entity.len == 0)
        return 0;
    ssize_t hi = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    const char *ct = hi >= 0 ? req->headers.entries[hi].value.base : "";
    size_t ctlen = hi >= 0 ? req->headers.entries[hi].value.len : 0;
    size_t base = 0;
    while (base < ctlen && ct[base] != ';' && ct[base] != ' ')
        base++;
    if (h2o_lcstris(ct, base, H2O_STRLIT("application/x-www-form-urlencoded"))) {
        if (parse_urlencoded(pool, p, req->entity.base, req->entity.len, &budget) != 0)
            goto too_big;
    } else if (h2o_lcstris(ct, base, H2O_STRLIT("application/json"))) {
        if (parse_json(pool, p, req->entity.base, req->entity.len, &budget) != 0)
            goto too_big;
    } else if (h2o_lcstris(ct, base, H2O_STRLIT("multipart/form-data"))) {
        return parse_multipart(pool, p, ct, ctlen, req->entity.base, req->entity.len, &budget, bare);
    } else {
        add(pool, p, "file", req->entity.base, req->entity.len, 1, "file");
    }
    return 0;
too_big:
    bare->status = 413;
    bare->reason = "Request Entity Too Large";
    return -1;
}

const struct emu_param *emu_param_get(const struct emu_params *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->v[i].name, name) == 0)
            return &p->v[i];
    return NULL;
}

const char *emu_param_str(const struct emu_params *p, const char *name)
{
    for (size_t i = 0; i < p->n; i++)
        if (!p->v[i].is_file && strcmp(p->v[i].name, name) == 0)
            return p->v[i].val;
    return NULL;
}
