/* form.c — the multipart/form-data of a POST Object request, up to its file.
 *
 * An HTML form upload (PostObject) carries its authentication and its
 * object's metadata as form fields (RFC 7578) ahead of the part named
 * "file"; AWS reads at most 20 KB of them and ignores whatever follows the
 * file. This file reads the boundary out of the Content-Type, then the fields
 * and the file part's headers out of the body's first bytes: views into the
 * caller's buffer, nothing allocated, nothing read past the length given.
 * The file's bytes themselves are the gateway's to stream (http/form.c):
 * they end at the first CRLF "--" boundary after them (RFC 2046 §5.1.1: the
 * boundary never occurs inside a part).
 */
#include <string.h>
#include <strings.h>

#include "s3/s3.h"
#include "s3/s3_int.h"

#define MAX_PART_HEAD 4096 /* bytes of one part's headers */

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* Finds needle in buf[0..len), or NULL. */
static const char *find(const char *buf, size_t len, const char *needle, size_t nlen)
{
    if (nlen == 0 || len < nlen)
        return NULL;
    const char *end = buf + len - nlen;
    for (const char *p = buf; p <= end; p++) {
        p = memchr(p, needle[0], (size_t)(end - p) + 1);
        if (p == NULL)
            return NULL;
        if (memcmp(p, needle, nlen) == 0)
            return p;
    }
    return NULL;
}

/* RFC 2046 bchars: digits, letters and '()+_,-./:=? (and space, not last). */
static int bchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c != 0 && strchr("'()+_,-./:=? ", c));
}

int s3_form_boundary(const char *ct, size_t len, char out[S3_FORM_MAX_BOUNDARY + 1], size_t *out_len)
{
    static const char type[] = "multipart/form-data";
    size_t tl = sizeof(type) - 1;
    if (len < tl || strncasecmp(ct, type, tl) != 0)
        return -1;
    size_t i = tl;
    while (i < len) {
        while (i < len && is_space(ct[i]))
            i++;
        if (i >= len || ct[i] != ';')
            return -1;
        i++;
        while (i < len && is_space(ct[i]))
            i++;
        size_t ns = i;
        while (i < len && ct[i] != '=' && ct[i] != ';' && !is_space(ct[i]))
            i++;
        size_t nl = i - ns;
        if (i >= len || ct[i] != '=')
            return -1;
        i++;
        char v[S3_FORM_MAX_BOUNDARY + 1];
        size_t vl = 0;
        if (i < len && ct[i] == '"') {
            for (i++; i < len && ct[i] != '"'; i++) {
                if (vl >= S3_FORM_MAX_BOUNDARY)
                    return -1;
                v[vl++] = ct[i];
            }
            if (i >= len)
                return -1;
            i++;
        } else {
            for (; i < len && ct[i] != ';' && !is_space(ct[i]); i++) {
                if (vl >= S3_FORM_MAX_BOUNDARY)
                    return -1;
                v[vl++] = ct[i];
            }
        }
        if (nl == 8 && strncasecmp(ct + ns, "boundary", 8) == 0) {
            if (vl == 0 || v[vl - 1] == ' ')
                return -1;
            for (size_t k = 0; k < vl; k++)
                if (!bchar((unsigned char)v[k]))
                    return -1;
            memcpy(out, v, vl);
            out[vl] = '\0';
            *out_len = vl;
            return 0;
        }
    }
    return -1;
}

/* A parameter of a Content-Disposition value: name="value" (quoted; the
 * browsers' escapes %22 and %0D%0A stay as sent) or name=token. */
static int disposition_param(const char *v, size_t len, const char *name, const char **out, size_t *out_len)
{
    size_t nl = strlen(name), i = 0;
    int in_quote = 0;
    while (i < len) {
        /* the start of a parameter: after a ';' outside quotes */
        if (v[i] == '"')
            in_quote = !in_quote;
        if (in_quote || v[i] != ';') {
            i++;
            continue;
        }
        i++;
        while (i < len && is_space(v[i]))
            i++;
        if (len - i > nl && strncasecmp(v + i, name, nl) == 0 && v[i + nl] == '=') {
            i += nl + 1;
            if (i < len && v[i] == '"') {
                size_t s = ++i;
                while (i < len && v[i] != '"')
                    i++;
                if (i >= len)
                    return -1;
                *out = v + s;
                *out_len = i - s;
                return 0;
            }
            size_t s = i;
            while (i < len && v[i] != ';' && !is_space(v[i]))
                i++;
            *out = v + s;
            *out_len = i - s;
            return 0;
        }
    }
    return 1; /* absent */
}

/* One part's headers, h[0..len) (without the blank line): its field name,
 * whether it has a filename, and its Content-Type. */
struct part_head {
    const char *name, *filename, *type;
    size_t name_len, filename_len, type_len;
    int has_filename;
};

static enum s3_form_status parse_part_head(const char *h, size_t len, struct part_head *ph)
{
    memset(ph, 0, sizeof(*ph));
    int have_disp = 0;
    size_t i = 0;
    while (i < len) {
        const char *eol = find(h + i, len - i, "\r\n", 2);
        size_t ll = eol ? (size_t)(eol - (h + i)) : len - i;
        const char *line = h + i;
        i += ll + (eol ? 2 : 0);
        const char *colon = memchr(line, ':', ll);
        if (colon == NULL)
            return S3_FORM_MALFORMED;
        size_t hn = (size_t)(colon - line), vs = hn + 1;
        while (vs < ll && is_space(line[vs]))
            vs++;
        const char *val = line + vs;
        size_t vl = ll - vs;
        while (vl > 0 && is_space(val[vl - 1]))
            vl--;
        if (s3_memieq(line, hn, "content-disposition")) {
            if (vl < 9 || strncasecmp(val, "form-data", 9) != 0 || have_disp)
                return S3_FORM_MALFORMED;
            have_disp = 1;
            if (disposition_param(val, vl, "name", &ph->name, &ph->name_len) != 0)
                return S3_FORM_MALFORMED;
            int f = disposition_param(val, vl, "filename", &ph->filename, &ph->filename_len);
            if (f < 0)
                return S3_FORM_MALFORMED;
            ph->has_filename = f == 0;
        } else if (s3_memieq(line, hn, "content-type")) {
            ph->type = val;
            ph->type_len = vl;
        }
    }
    return have_disp && ph->name_len > 0 ? S3_FORM_OK : S3_FORM_MALFORMED;
}

enum s3_form_status s3_form_parse_head(const char *buf, size_t len, int at_end, const char *boundary, size_t blen,
                                       struct s3_form_head *out)
{
    char delim[S3_FORM_MAX_BOUNDARY + 4];
    memset(out, 0, sizeof(*out));
    if (blen == 0 || blen > S3_FORM_MAX_BOUNDARY)
        return S3_FORM_MALFORMED;
    /* delim = CRLF "--" boundary; the body may open with it without the CRLF. */
    memcpy(delim, "\r\n--", 4);
    memcpy(delim + 4, boundary, blen);
    size_t dl = blen + 4;
    size_t pos;
    if (len >= dl - 2 && memcmp(buf, delim + 2, dl - 2) == 0) {
        pos = dl - 2;
    } else {
        const char *d = find(buf, len, delim, dl);
        if (d == NULL)
            return at_end ? S3_FORM_MALFORMED : S3_FORM_MORE;
        pos = (size_t)(d - buf) + dl;
    }
    for (;;) {
        /* after a delimiter: "--" closes the form, else padding and CRLF open a part */
        if (len - pos < 2)
            return at_end ? S3_FORM_MALFORMED : S3_FORM_MORE;
        if (buf[pos] == '-' && buf[pos + 1] == '-')
            return S3_FORM_NO_FILE;
        while (pos < len && is_space(buf[pos]))
            pos++;
        if (len - pos < 2)
            return at_end ? S3_FORM_MALFORMED : S3_FORM_MORE;
        if (buf[pos] != '\r' || buf[pos + 1] != '\n')
            return S3_FORM_MALFORMED;
        pos += 2;
        /* the part's headers, up to the blank line (an empty head is "\r\n" at once) */
        size_t hs = pos, he;
        if (len - pos >= 2 && buf[pos] == '\r' && buf[pos + 1] == '\n') {
            he = pos;
            pos += 2;
        } else {
            size_t span = len - pos < MAX_PART_HEAD + 4 ? len - pos : MAX_PART_HEAD + 4;
            const char *e = find(buf + pos, span, "\r\n\r\n", 4);
            if (e == NULL)
                return span > MAX_PART_HEAD ? S3_FORM_MALFORMED : at_end ? S3_FORM_MALFORMED : S3_FORM_MORE;
            he = (size_t)(e - buf);
            pos = he + 4;
        }
        struct part_head ph;
        enum s3_form_status st = parse_part_head(buf + hs, he - hs, &ph);
        if (st != S3_FORM_OK)
            return st;
        if (s3_memieq(ph.name, ph.name_len, "file")) {
            out->filename = ph.has_filename ? ph.filename : "";
            out->filename_len = ph.has_filename ? ph.filename_len : 0;
            out->file_type = ph.type;
            out->file_type_len = ph.type_len;
            out->file_start = pos;
            return S3_FORM_OK;
        }
        const char *d = find(buf + pos, len - pos, delim, dl);
        if (d == NULL)
            return at_end ? S3_FORM_MALFORMED : S3_FORM_MORE;
        for (size_t k = 0; k < out->n_fields; k++)
            if (out->fields[k].name_len == ph.name_len && strncasecmp(out->fields[k].name, ph.name, ph.name_len) == 0)
                return S3_FORM_DUPLICATE;
        if (out->n_fields >= S3_FORM_MAX_FIELDS)
            return S3_FORM_TOO_MANY;
        struct s3_form_field *f = &out->fields[out->n_fields++];
        f->name = ph.name;
        f->name_len = ph.name_len;
        f->value = buf + pos;
        f->value_len = (size_t)(d - (buf + pos));
        pos = (size_t)(d - buf) + dl;
    }
}

const struct s3_form_field *s3_form_get(const struct s3_form_head *h, const char *name)
{
    for (size_t i = 0; i < h->n_fields; i++)
        if (s3_memieq(h->fields[i].name, h->fields[i].name_len, name))
            return &h->fields[i];
    return NULL;
}
