/* fuzz_emulator.c — the emulator's request parameters (telegram/emulator/params.c): emu_params_parse.
 *
 * Input: "TARGET\nCONTENT-TYPE\nBODY" — the request target with its query
 * string ("/bot1:x/sendDocument?chat_id=-1001"), the Content-Type header
 * value (an empty line: no Content-Type header), and the body, buffered as
 * h2o hands it over. The h2o request is built by hand: a memory pool, path,
 * query_at, one header and the entity, which is all the parser reads; the
 * path, the header value and the body are heap blocks of exactly their size
 * (not pool memory), so that ASan sees a read past any of them.
 * Checked: every parameter has a NUL-terminated name, string values are
 * NUL-terminated at their length, file values lie inside the body, and a
 * refusal carries a bare status.
 */
#include "telegram/emulator/emu.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *end = data + size, *p = data, *next;
    h2o_req_t req;
    struct emu_params params;
    struct emu_bare bare = {0, NULL};

    memset(&req, 0, sizeof(req));
    h2o_mem_init_pool(&req.pool);

    size_t n = fuzz_line(p, end, &next);
    char *path = xmalloc(n ? n : 1), *ct = NULL, *body = NULL;
    memcpy(path, p, n);
    req.path = h2o_iovec_init(path, n);
    const char *q = memchr(path, '?', n);
    req.query_at = q ? (size_t)(q - path) : SIZE_MAX;
    p = next;

    n = fuzz_line(p, end, &next);
    if (n > 0) {
        ct = xmalloc(n);
        memcpy(ct, p, n);
        h2o_add_header(&req.pool, &req.headers, H2O_TOKEN_CONTENT_TYPE, NULL, ct, n);
    }
    p = next;

    size_t bl = (size_t)(end - p);
    if (bl) {
        body = xmalloc(bl);
        memcpy(body, p, bl);
        req.entity = h2o_iovec_init(body, bl);
    }

    if (emu_params_parse(&req, &params, &bare) == 0) {
        FUZZ_CHECK(params.n <= params.cap);
        for (size_t i = 0; i < params.n; i++) {
            const struct emu_param *e = &params.v[i];
            FUZZ_CHECK(e->name != NULL && e->val != NULL);
            (void)strlen(e->name);
            if (e->is_file) {
                FUZZ_CHECK(e->filename != NULL);
                (void)strlen(e->filename);
                FUZZ_CHECK(e->val >= body && e->val + e->len <= body + bl);
            } else {
                FUZZ_CHECK(e->val[e->len] == '\0');
            }
            FUZZ_CHECK(emu_param_get(&params, e->name) != NULL);
        }
        (void)emu_param_str(&params, "chat_id");
        (void)emu_param_get(&params, "document");
    } else {
        FUZZ_CHECK(bare.status >= 400 && bare.reason != NULL);
    }
    h2o_mem_clear_pool(&req.pool);
    free(body);
    free(ct);
    free(path);
    return 0;
}
