/* meta.c — what an object keeps of its request headers, as JSON text in the index.
 *
 * meta_json is an object: {"ct": content type, "h": {stored standard
 * headers, lower-case names}, "m": {user metadata without the x-amz-meta-
 * prefix, lower-case names}, "parts": [part sizes of a multipart object],
 * "tags": [[key, value]…] (object tags), "ck": {"alg": "crc32"…, "v": base64,
 * "type": "COMPOSITE" | "FULL_OBJECT" (absent: FULL_OBJECT)} (the verified
 * x-amz-checksum of the whole object), and for a multipart object "pck":
 * [base64 checksum of each part] and "pn": [part numbers] when they are not 1…N}.
 * Bounded: user metadata is capped at S3's 2 KiB by the handler before it
 * gets here; header values are copied as sent. JSON holds UTF-8 only, so a
 * value that is not UTF-8 is read as ISO-8859-1 (what HTTP/1.1 header bytes
 * historically meant) and stored converted. On the way out a value that is
 * not printable US-ASCII is RFC 2047-encoded (=?UTF-8?B?…?=), as S3 returns
 * non-ASCII user metadata ("User-defined object metadata"), so every emitted
 * value passes s3_header_value_ok. Control bytes never get here: routing
 * refuses them (s3/route.c).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gateway/gw.h"

static const char *const stored_headers[] = {
    "content-encoding", "content-disposition", "content-language", "cache-control", "expires",
};

/* A header value as a JSON string: UTF-8 as is, anything else read as
 * ISO-8859-1 (each byte is the code point). Never NULL, so nothing sent is dropped. */
static json_t *value_json(const char *v, size_t len)
{
    if (s3_utf8_valid(v, len))
        return json_stringn(v, len);
    char *u = xmalloc(2 * len + 1);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c < 0x80) {
            u[o++] = (char)c;
        } else {
            u[o++] = (char)(0xc0 | c >> 6);
            u[o++] = (char)(0x80 | (c & 0x3f));
        }
    }
    json_t *j = json_stringn(u, o);
    free(u);
    return j;
}

/* x-amz-meta-<name>: S3 joins repeated names with ',' (user metadata is
 * case-insensitive, names are stored lower-case). */
static void add_user_meta(json_t *m, const char *hname, size_t hlen, const char *v, size_t vlen)
{
    char *name = xmalloc(hlen + 1);
    for (size_t k = 0; k < hlen; k++) {
        char c = hname[k];
        name[k] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    name[hlen] = '\0';
    json_t *nv = value_json(v, vlen);
    json_t *old = json_object_get(m, name);
    if (json_is_string(old)) {
        size_t ol = json_string_length(old), nl = json_string_length(nv);
        char *joined = xmalloc(ol + 1 + nl);
        memcpy(joined, json_string_value(old), ol);
        joined[ol] = ',';
        memcpy(joined + ol + 1, json_string_value(nv), nl);
        json_decref(nv);
        nv = json_stringn(joined, ol + 1 + nl);
        free(joined);
    }
    json_object_set_new(m, name, nv);
    free(name);
}

/* A Content-Encoding list without its aws-chunked members, the others
 * ", "-joined (the value as sent when it has none); malloc'd, "" when
 * nothing remains. */
static char *encoding_without_aws_chunked(const char *v, size_t len)
{
    char *out = xmalloc(2 * len + 1); /* each ',' may become ", " */
    size_t o = 0, i = 0;
    int removed = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && v[j] != ',')
            j++;
        size_t a = i, b = j;
        while (a < b && (v[a] == ' ' || v[a] == '\t'))
            a++;
        while (b > a && (v[b - 1] == ' ' || v[b - 1] == '\t'))
            b--;
        if (b - a == 11 && !strncasecmp(v + a, "aws-chunked", 11)) {
            removed = 1;
        } else if (b > a) {
            if (o > 0) {
                out[o++] = ',';
                out[o++] = ' ';
            }
            memcpy(out + o, v + a, b - a);
            o += b - a;
        }
        i = j + 1;
    }
    if (!removed) {
        memcpy(out, v, len);
        o = len;
    }
    out[o] = '\0';
    return out;
}

char *gw_meta_from_request(struct gw_req *r)
{
    json_t *root = json_object(), *h = json_object(), *m = json_object();
    size_t len;
    const char *ct = gw_req_header(r, "content-type", &len);
    if (ct != NULL && len > 0)
        json_object_set_new(root, "ct", value_json(ct, len));
    for (size_t i = 0; i < ARRAY_SIZE(stored_headers); i++) {
        const char *v = gw_req_header(r, stored_headers[i], &len);
        if (v == NULL)
            continue;
        if (i == 0) {
            /* aws-chunked is transfer framing, not the object's encoding:
             * "gzip, aws-chunked" is stored as "gzip", "aws-chunked" alone
             * as no Content-Encoding at all (S3 does the same). */
            char *enc = encoding_without_aws_chunked(v, len);
            if (enc[0] != '\0')
                json_object_set_new(h, stored_headers[i], value_json(enc, strlen(enc)));
            free(enc);
            continue;
        }
        json_object_set_new(h, stored_headers[i], value_json(v, len));
    }
    for (size_t i = 0; i < r->s3.n_headers; i++) {
        const struct s3_header *hd = &r->s3.headers[i];
        if (hd->name_len > 11 && !strncasecmp(hd->name, "x-amz-meta-", 11))
            add_user_meta(m, hd->name + 11, hd->name_len - 11, hd->value ? hd->value : "", hd->value_len);
    }
    json_object_set_new(root, "h", h);
    json_object_set_new(root, "m", m);
    /* Tags of x-amz-tagging (the handler has rejected a malformed header already). */
    const char *tg = gw_req_header(r, "x-amz-tagging", &len);
    struct s3_tag tags[S3_MAX_TAGS];
    size_t nt = 0;
    if (tg != NULL && s3_tagging_parse_query(tg, len, tags, S3_MAX_TAGS, &nt) == S3E_OK && nt > 0) {
        json_t *arr = json_array();
        for (size_t i = 0; i < nt; i++)
            json_array_append_new(arr, json_pack("[ss]", tags[i].key, tags[i].value));
        json_object_set_new(root, "tags", arr);
    }
    char *out = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return out ? out : xstrdup("{}");
}

/* Printable US-ASCII (and HT) goes out as stored; anything else as one RFC 2047
 * encoded-word, which is US-ASCII and passes s3_header_value_ok. */
static void add_stored(struct gw_req *r, const char *name, const char *v, size_t len)
{
    size_t i = 0;
    while (i < len && ((v[i] >= 0x20 && v[i] < 0x7f) || v[i] == '\t'))
        i++;
    if (i == len) {
        gw_add_header(r, name, v, len);
        return;
    }
    size_t cap = 10 + (len + 2) / 3 * 4 + 3;
    char *enc = xmalloc(cap);
    memcpy(enc, "=?UTF-8?B?", 10);
    size_t n = s3_base64_encode((const unsigned char *)v, len, enc + 10, cap - 10);
    memcpy(enc + 10 + n, "?=", 3);
    gw_add_header(r, name, enc, 10 + n + 2);
    free(enc);
}

void gw_meta_to_response(struct gw_req *r, const char *meta_json)
{
    json_t *root = meta_json ? json_loads(meta_json, 0, NULL) : NULL;
    json_t *ctj = root ? json_object_get(root, "ct") : NULL;
    if (json_is_string(ctj))
        add_stored(r, "content-type", json_string_value(ctj), json_string_length(ctj));
    else
        gw_add_header(r, "content-type", "binary/octet-stream", 19);
    if (root == NULL)
        return;
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(root, "h"), k, v)
    {
        if (json_is_string(v))
            add_stored(r, k, json_string_value(v), json_string_length(v));
    }
    json_object_foreach(json_object_get(root, "m"), k, v)
    {
        if (!json_is_string(v))
            continue;
        size_t kl = strlen(k);
        char *name = xmalloc(11 + kl + 1);
        memcpy(name, "x-amz-meta-", 11);
        memcpy(name + 11, k, kl + 1);
        add_stored(r, name, json_string_value(v), json_string_length(v));
        free(name);
    }
    json_decref(root);
}

char *gw_meta_set_parts(const char *meta_json, const int64_t *part_sizes, size_t n)
{
    json_t *root = meta_json ? json_loads(meta_json, 0, NULL) : NULL;
    if (root == NULL)
        root = json_object();
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_integer(part_sizes[i]));
    json_object_set_new(root, "parts", arr);
    char *out = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return out ? out : xstrdup("{}");
}

/* ---- copies, tags, checksums ------------------------------------------------ */

static json_t *load_or_empty(const char *meta_json)
{
    json_t *root = meta_json ? json_loads(meta_json, 0, NULL) : NULL;
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        root = json_object();
    }
    return root;
}

static char *dump_free(json_t *root)
{
    char *out = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return out ? out : xstrdup("{}");
}

char *gw_meta_copy(const char *src_meta, const char *req_meta, int replace_meta, int replace_tags)
{
    json_t *src = load_or_empty(src_meta), *req = load_or_empty(req_meta);
    static const char *const meta_keys[] = {"ct", "h", "m"};
    for (size_t i = 0; replace_meta && i < ARRAY_SIZE(meta_keys); i++) {
        json_t *v = json_object_get(req, meta_keys[i]);
        if (v != NULL)
            json_object_set(src, meta_keys[i], v);
        else
            json_object_del(src, meta_keys[i]);
    }
    if (replace_tags) {
        json_t *t = json_object_get(req, "tags");
        if (t != NULL)
            json_object_set(src, "tags", t);
        else
            json_object_del(src, "tags");
    }
    json_decref(req);
    return dump_free(src);
}

char *gw_meta_set_tags(const char *meta_json, const struct s3_tag *tags, size_t n)
{
    json_t *root = load_or_empty(meta_json);
    if (n == 0) {
        json_object_del(root, "tags");
    } else {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, json_pack("[ss]", tags[i].key, tags[i].value));
        json_object_set_new(root, "tags", arr);
    }
    return dump_free(root);
}

size_t gw_meta_get_tags(const char *meta_json, struct s3_tag *tags, size_t max)
{
    json_t *root = load_or_empty(meta_json);
    json_t *arr = json_object_get(root, "tags"), *pair;
    size_t i, n = 0;
    json_array_foreach(arr, i, pair)
    {
        const char *k = json_string_value(json_array_get(pair, 0));
        const char *v = json_string_value(json_array_get(pair, 1));
        if (k == NULL || v == NULL || n >= max)
            continue;
        snprintf(tags[n].key, sizeof(tags[n].key), "%s", k);
        snprintf(tags[n].value, sizeof(tags[n].value), "%s", v);
        n++;
    }
    json_decref(root);
    return n;
}

char *gw_meta_set_checksum(const char *meta_json, const char *alg, const char *b64)
{
    json_t *root = load_or_empty(meta_json);
    json_object_set_new(root, "ck", json_pack("{ssss}", "alg", alg, "v", b64));
    return dump_free(root);
}

void gw_meta_extra_to_response(struct gw_req *r, const char *meta_json, int full_object)
{
    json_t *root = load_or_empty(meta_json);
    size_t nt = json_array_size(json_object_get(root, "tags"));
    if (nt > 0) {
        char c[24];
        int n = snprintf(c, sizeof(c), "%zu", nt);
        gw_add_header(r, "x-amz-tagging-count", c, (size_t)n);
    }
    size_t ml;
    const char *mode = gw_req_header(r, "x-amz-checksum-mode", &ml);
    json_t *ck = json_object_get(root, "ck");
    const char *alg = json_string_value(json_object_get(ck, "alg"));
    const char *v = json_string_value(json_object_get(ck, "v"));
    if (full_object && mode != NULL && ml == 7 && !strncasecmp(mode, "ENABLED", 7) && alg && v) {
        char name[48];
        const char *type = json_string_value(json_object_get(ck, "type"));
        snprintf(name, sizeof(name), "x-amz-checksum-%s", alg);
        gw_add_header(r, name, v, strlen(v));
        type = type ? type : "FULL_OBJECT";
        gw_add_header(r, "x-amz-checksum-type", type, strlen(type));
    }
    json_decref(root);
}

/* ---- multipart objects: part numbers and checksums --------------------------- */

int gw_parts_contiguous(const int *numbers, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (numbers[i] != (int)i + 1)
            return 0;
    return 1;
}

char *gw_meta_set_part_checksums(const char *meta_json, const int *numbers, const char *const *values, size_t n,
                                 const char *alg, const char *type, const char *value)
{
    json_t *root = load_or_empty(meta_json);
    if (!gw_parts_contiguous(numbers, n)) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, json_integer(numbers[i]));
        json_object_set_new(root, "pn", arr);
    }
    if (alg != NULL) {
        json_object_set_new(root, "ck", json_pack("{ssssss}", "alg", alg, "v", value, "type", type));
        if (values != NULL) {
            json_t *arr = json_array();
            for (size_t i = 0; i < n; i++)
                json_array_append_new(arr, json_string(values[i] ? values[i] : ""));
            json_object_set_new(root, "pck", arr);
        }
    }
    return dump_free(root);
}

int gw_meta_get_checksum(const char *meta_json, char alg[16], char value[S3_CHECKSUM_MAX], char type[16])
{
    json_t *root = load_or_empty(meta_json);
    json_t *ck = json_object_get(root, "ck");
    const char *a = json_string_value(json_object_get(ck, "alg"));
    const char *v = json_string_value(json_object_get(ck, "v"));
    const char *t = json_string_value(json_object_get(ck, "type"));
    int ok = a != NULL && v != NULL && s3_checksum_alg(a, strlen(a)) != NULL;
    if (ok) {
        snprintf(alg, 16, "%s", s3_checksum_alg(a, strlen(a)));
        snprintf(value, S3_CHECKSUM_MAX, "%s", v);
        snprintf(type, 16, "%s", t ? t : "FULL_OBJECT");
    }
    json_decref(root);
    return ok;
}

size_t gw_meta_get_parts(const char *meta_json, int marker, size_t max, struct gw_meta_part **out, size_t *total,
                         int *truncated)
{
    json_t *root = load_or_empty(meta_json);
    json_t *sizes = json_object_get(root, "parts"), *pn = json_object_get(root, "pn");
    json_t *pck = json_object_get(root, "pck");
    size_t n = json_array_size(sizes), k = 0;
    *out = NULL;
    *total = n;
    *truncated = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *num = json_array_get(pn, i);
        int number = json_is_integer(num) ? (int)json_integer_value(num) : (int)i + 1;
        if (number <= marker)
            continue;
        if (k == max) {
            *truncated = 1;
            break;
        }
        if (*out == NULL)
            *out = xcalloc(max < n ? max : n, sizeof(**out));
        struct gw_meta_part *p = &(*out)[k++];
        p->number = number;
        p->size = json_integer_value(json_array_get(sizes, i));
        const char *ck = json_string_value(json_array_get(pck, i));
        snprintf(p->ck, sizeof(p->ck), "%s", ck ? ck : "");
    }
    json_decref(root);
    return k;
}
