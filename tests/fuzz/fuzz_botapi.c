/* fuzz_botapi.c — Bot API answers (telegram/answer.c): tg_parse_answer and tg_parse_message.
 *
 * Input: "STATUS[ RETRY-AFTER]\nBODY" — the HTTP status of the answer, the
 * value of its Retry-After header if it had one, and the body as the server
 * sent it. The result of a successful answer goes through tg_parse_message as
 * a Message (sendDocument, forwardMessage), as getChat's pinned_message, and
 * element by element when it is an array.
 * Checked: the status is a known one, descriptions stay NUL-terminated
 * within their buffers, retry_after is never negative, a success is never
 * classed as temporary (tg_result_temporary).
 */
#include <jansson.h>

#include "telegram/tg.h"
#include "tests/fuzz/fuzz.h"

static void message(const json_t *m)
{
    struct tg_document doc;
    if (tg_parse_message(m, &doc) == 0) {
        FUZZ_CHECK(doc.file_id[0] != '\0' && memchr(doc.file_id, '\0', sizeof(doc.file_id)) != NULL);
        FUZZ_CHECK(memchr(doc.file_unique_id, '\0', sizeof(doc.file_unique_id)) != NULL);
        FUZZ_CHECK(memchr(doc.caption, '\0', sizeof(doc.caption)) != NULL);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *end = data + size, *next;
    size_t n = fuzz_line(data, end, &next);
    char line[32], *retry = NULL;
    int status = 0;
    size_t i = 0;

    if (n >= sizeof(line))
        n = sizeof(line) - 1;
    memcpy(line, data, n);
    line[n] = '\0';
    while (i < n && i < 3 && line[i] >= '0' && line[i] <= '9')
        status = status * 10 + (line[i++] - '0');
    if (i < n && line[i] == ' ')
        retry = line + i + 1;

    size_t bl = (size_t)(end - next);
    char *body = bl ? xmalloc(bl) : NULL;
    if (bl)
        memcpy(body, next, bl);
    struct tg_result res;
    void *result = NULL;
    tg_parse_answer(status, body, bl, retry, &res, &result);
    FUZZ_CHECK(res.status <= TG_ERR_CANCELLED);
    FUZZ_CHECK(memchr(res.description, '\0', sizeof(res.description)) != NULL);
    FUZZ_CHECK(res.retry_after >= 0 && res.http_status == status);
    FUZZ_CHECK(result == NULL || res.status == TG_OK);
    FUZZ_CHECK(!tg_result_temporary(&res) || res.status != TG_OK);
    if (result != NULL) {
        json_t *r = result;
        message(r);
        message(json_object_get(r, "pinned_message"));
        if (json_is_array(r))
            for (size_t k = 0; k < json_array_size(r); k++)
                message(json_array_get(r, k));
        json_decref(r);
    }
    /* The same answer without asking for the result. */
    tg_parse_answer(status, body, bl, retry, &res, NULL);
    free(body);
    return 0;
}
