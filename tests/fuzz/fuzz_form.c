/* fuzz_form.c — a POST Object form's head: s3_form_boundary and s3_form_parse_head.
 *
 * Input: a Content-Type value on the first line, then the form body. The body
 * is copied into a heap block of exactly its size (ASan sees a read past it)
 * and parsed whole and at every prefix length a browser's packets could cut
 * it at (here: each 7th byte), as the gateway re-parses a growing buffer. On
 * success every view lies inside the body, the fields are at most
 * S3_FORM_MAX_FIELDS and the file starts within it.
 */
#include "tests/fuzz/fuzz.h"

static void parse(const char *buf, size_t len, int at_end, const char *b, size_t bl)
{
    struct s3_form_head h;
    enum s3_form_status st = s3_form_parse_head(buf, len, at_end, b, bl, &h);
    FUZZ_CHECK(st >= S3_FORM_OK && st <= S3_FORM_NO_FILE);
    if (at_end)
        FUZZ_CHECK(st != S3_FORM_MORE);
    if (st != S3_FORM_OK)
        return;
    FUZZ_CHECK(h.n_fields <= S3_FORM_MAX_FIELDS && h.file_start <= len);
    for (size_t i = 0; i < h.n_fields; i++) {
        const struct s3_form_field *f = &h.fields[i];
        FUZZ_CHECK(f->name >= buf && f->name + f->name_len <= buf + len);
        FUZZ_CHECK(f->value >= buf && f->value + f->value_len <= buf + len);
        FUZZ_CHECK(s3_form_get(&h, "key") == NULL || s3_form_get(&h, "key")->name != NULL);
    }
    FUZZ_CHECK(h.filename_len == 0 || (h.filename >= buf && h.filename + h.filename_len <= buf + len));
    FUZZ_CHECK(h.file_type == NULL || (h.file_type >= buf && h.file_type + h.file_type_len <= buf + len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t cl = nl ? (size_t)(nl - data) : size;
    char *ct = malloc(cl ? cl : 1);
    memcpy(ct, data, cl);
    char b[S3_FORM_MAX_BOUNDARY + 1];
    size_t bl = 0;
    int ok = s3_form_boundary(ct, cl, b, &bl) == 0;
    free(ct);
    if (ok)
        FUZZ_CHECK(bl >= 1 && bl <= S3_FORM_MAX_BOUNDARY && strlen(b) == bl);
    else {
        memcpy(b, "XyZ", 4);
        bl = 3;
    }
    size_t off = nl ? cl + 1 : size, len = size - off;
    char *body = malloc(len ? len : 1);
    memcpy(body, data + off, len);
    parse(body, len, 1, b, bl);
    for (size_t cut = 0; cut < len; cut += 7)
        parse(body, cut, 0, b, bl);
    free(body);
    return 0;
}
