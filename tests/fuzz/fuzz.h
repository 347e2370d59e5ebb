/* fuzz.h — what the fuzz targets share: the libFuzzer entry points and a request reader.
 *
 * Every tests/fuzz/fuzz_<name>.c defines LLVMFuzzerTestOneInput for one parser
 * that reads bytes from a client or from Telegram. The same file links either
 * with libFuzzer (clang, `make fuzz`) or with replay.c (gcc, `make test`,
 * which feeds it every file of tests/fuzz/corpus/<name>/).
 *
 * Several targets take an HTTP request written as text, the way it looks on
 * the wire after h2o has parsed it:
 *
 *     METHOD SP TARGET LF          target = path [ "?" query ]
 *     Name: value LF               any number of header lines
 *     LF                           an empty line ends the headers
 *     body                         the rest (the targets that read one)
 *
 * Lines may end in CRLF. Each view (method, path, query, every header name
 * and value) is copied into a heap block of exactly its size, so that
 * AddressSanitizer sees a parser that reads one byte past a view.
 */
#ifndef TGS3_FUZZ_H
#define TGS3_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "s3/s3.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_MAX_HEADERS 64

struct fuzz_req {
    struct s3_request req;
    struct s3_header headers[FUZZ_MAX_HEADERS];
    char *blocks[3 + 2 * FUZZ_MAX_HEADERS]; /* every heap copy, freed by fuzz_req_release */
    size_t n_blocks;
    const uint8_t *body; /* points into the input */
    size_t body_len;
};

/* A heap copy of exactly n bytes (one byte for n == 0, so the pointer is never NULL). */
static inline char *fuzz_req_copy(struct fuzz_req *fr, const uint8_t *p, size_t n)
{
    char *c = malloc(n ? n : 1);
    if (c == NULL)
        abort();
    if (n)
        memcpy(c, p, n);
    fr->blocks[fr->n_blocks++] = c;
    return c;
}

/* Length of the line at p (without its LF and a CR before it); *next is where the next line starts. */
static inline size_t fuzz_line(const uint8_t *p, const uint8_t *end, const uint8_t **next)
{
    const uint8_t *lf = memchr(p, '\n', (size_t)(end - p));
    const uint8_t *e = lf ? lf : end;
    *next = lf ? lf + 1 : end;
    if (e > p && e[-1] == '\r')
        e--;
    return (size_t)(e - p);
}

/* Reads the text form above into fr; always succeeds (a missing part is empty). */
static inline void fuzz_req_parse(struct fuzz_req *fr, const uint8_t *data, size_t size)
{
    const uint8_t *end = data + size, *p = data, *next;
    memset(fr, 0, sizeof(*fr));

    size_t n = fuzz_line(p, end, &next);
    const uint8_t *sp = memchr(p, ' ', n);
    size_t ml = sp ? (size_t)(sp - p) : n;
    fr->req.method = fuzz_req_copy(fr, p, ml);
    fr->req.method_len = ml;
    const uint8_t *t = sp ? sp + 1 : p + n;
    size_t tl = (size_t)(p + n - t);
    const uint8_t *q = memchr(t, '?', tl);
    size_t pl = q ? (size_t)(q - t) : tl;
    fr->req.path = fuzz_req_copy(fr, t, pl);
    fr->req.path_len = pl;
    if (q) {
        fr->req.query_len = tl - pl - 1;
        fr->req.query = fuzz_req_copy(fr, q + 1, fr->req.query_len);
    }
    p = next;

    while (p < end) {
        n = fuzz_line(p, end, &next);
        if (n == 0) {
            p = next;
            break;
        }
        const uint8_t *colon = memchr(p, ':', n);
        if (colon && fr->req.n_headers < FUZZ_MAX_HEADERS) {
            struct s3_header *h = &fr->headers[fr->req.n_headers++];
            const uint8_t *v = colon + 1;
            while (v < p + n && (*v == ' ' || *v == '\t'))
                v++;
            h->name_len = (size_t)(colon - p);
            h->name = fuzz_req_copy(fr, p, h->name_len);
            h->value_len = (size_t)(p + n - v);
            h->value = fuzz_req_copy(fr, v, h->value_len);
        }
        p = next;
    }
    fr->req.headers = fr->headers;
    fr->body = p;
    fr->body_len = (size_t)(end - p);
}

static inline void fuzz_req_release(struct fuzz_req *fr)
{
    for (size_t i = 0; i < fr->n_blocks; i++)
        free(fr->blocks[i]);
    fr->n_blocks = 0;
}

/* A broken invariant of a parser's result: logs file:line and aborts, which
 * libFuzzer and the replay driver both report as a crash. */
#define FUZZ_CHECK(cond) ((cond) ? (void)0 : assert_fail(#cond, __FILE__, __LINE__))

#endif
