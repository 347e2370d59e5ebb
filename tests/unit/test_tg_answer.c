/* test_tg_answer.c — tg_parse_answer and tg_parse_message from strings, no network. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telegram/tg.h"
#include "tests/unit/check.h"

static void parse(int status, const char *body, const char *hdr, struct tg_result *res, json_t **out)
{
    void *o = NULL;
    tg_parse_answer(status, body, body ? strlen(body) : 0, hdr, res, out ? &o : NULL);
    if (out)
        *out = o;
}

static void test_ok(void)
{
    struct tg_result r;
    json_t *out;
    parse(200, "{\"ok\":true,\"result\":true}", NULL, &r, &out);
    CHECK(r.status == TG_OK);
    CHECK(r.http_status == 200);
    CHECK(json_is_true(out));
    json_decref(out);

    parse(200, "{\"ok\":true,\"result\":{\"id\":5,\"username\":\"b\"}}", NULL, &r, &out);
    CHECK(r.status == TG_OK);
    CHECK(json_integer_value(json_object_get(out, "id")) == 5);
    json_decref(out);

    /* result_out NULL is allowed */
    parse(200, "{\"ok\":true,\"result\":[]}", NULL, &r, NULL);
    CHECK(r.status == TG_OK);

    parse(200, "{\"ok\":true}", NULL, &r, &out);
    CHECK(r.status == TG_ERR_PARSE);
    CHECK(out == NULL);
}

static void test_errors(void)
{
    struct tg_result r;
    json_t *out;

    parse(400, "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: chat not found\"}", NULL, &r, &out);
    CHECK(r.status == TG_ERR_NOT_FOUND);
    CHECK(r.error_code == 400);
    CHECK(strcmp(r.description, "Bad Request: chat not found") == 0);
    CHECK(out == NULL);

    parse(400, "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: message to delete not found\"}",
          NULL, &r, NULL);
    CHECK(r.status == TG_ERR_NOT_FOUND);

    parse(400, "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: message can't be deleted\"}",
          NULL, &r, NULL);
    CHECK(r.status == TG_ERR_API);

    parse(400, "{\"ok\":false,\"error_code\":400,\"description\":\"Bad Request: file is too big\"}", NULL, &r,
          NULL);
    CHECK(r.status == TG_ERR_TOO_BIG);

    parse(413, "{\"ok\":false,\"error_code\":413,\"description\":\"Request Entity Too Large\"}", NULL, &r, NULL);
    CHECK(r.status == TG_ERR_TOO_BIG);

    parse(401, "{\"ok\":false,\"error_code\":401,\"description\":\"Unauthorized\"}", NULL, &r, NULL);
    CHECK(r.status == TG_ERR_UNAUTHORIZED);
    CHECK(r.http_status == 401);

    parse(403, "{\"ok\":false,\"error_code\":403,\"description\":\"Forbidden: bot is not a member of the channel chat\"}",
          NULL, &r, NULL);
    CHECK(r.status == TG_ERR_FORBIDDEN);

    parse(404, "{\"ok\":false,\"error_code\":404,\"description\":\"Not Found: method not found\"}", NULL, &r, NULL);
    CHECK(r.status == TG_ERR_API);
    CHECK(r.error_code == 404);

    parse(500, "{\"ok\":false,\"error_code\":500,\"description\":\"Internal Server Error: can't upload the file\"}",
          NULL, &r, NULL);
    CHECK(r.status == TG_ERR_API);
    CHECK(r.http_status == 500);

    /* description is truncated, never overflowing, and stays valid UTF-8 */
    char big[2000];
    strcpy(big, "{\"ok\":false,\"error_code\":400,\"description\":\"");
    size_t n = strlen(big);
    for (int i = 0; i < 300; i++) {
        big[n++] = (char)0xC3; /* é */
        big[n++] = (char)0xA9;
    }
    strcpy(big + n, "\"}");
    parse(400, big, NULL, &r, NULL);
    CHECK(r.status == TG_ERR_API);
    CHECK(strlen(r.description) < TG_MAX_DESCRIPTION);
    CHECK(strlen(r.description) % 2 == 0);
}

static void test_rate_limit(void)
{
    struct tg_result r;
    const char *with_params = "{\"ok\":false,\"error_code\":429,\"description\":\"Too Many Requests: retry after "
                              "35\",\"parameters\":{\"retry_after\":35}}";
    const char *no_params = "{\"ok\":false,\"error_code\":429,\"description\":\"Too Many Requests: retry after 7\"}";

    parse(429, with_params, "35", &r, NULL);
    CHECK(r.status == TG_ERR_RATE_LIMITED);
    CHECK(r.retry_after == 35);

    parse(429, with_params, NULL, &r, NULL);
    CHECK(r.status == TG_ERR_RATE_LIMITED);
    CHECK(r.retry_after == 35);

    parse(429, no_params, " 7", &r, NULL);
    CHECK(r.status == TG_ERR_RATE_LIMITED);
    CHECK(r.retry_after == 7);

    parse(429, no_params, NULL, &r, NULL);
    CHECK(r.status == TG_ERR_RATE_LIMITED);
    CHECK(r.retry_after == 0);

    /* a bare 429 status line with only the header */
    parse(429, "", "3", &r, NULL);
    CHECK(r.status == TG_ERR_RATE_LIMITED);
    CHECK(r.retry_after == 3);

    parse(429, no_params, "garbage", &r, NULL);
    CHECK(r.retry_after == 0);
}

static void test_bare_and_garbage(void)
{
    struct tg_result r;
    json_t *out;

    parse(413, NULL, NULL, &r, &out);
    CHECK(r.status == TG_ERR_TOO_BIG);
    CHECK(r.http_status == 413);
    CHECK(out == NULL);

    parse(502, "", NULL, &r, NULL);
    CHECK(r.status == TG_ERR_HTTP);
    CHECK(r.http_status == 502);
    CHECK(strcmp(r.description, "HTTP 502") == 0);

    parse(505, NULL, NULL, &r, NULL);
    CHECK(r.status == TG_ERR_HTTP);

    parse(502, "<html>Bad Gateway</html>", NULL, &r, NULL);
    CHECK(r.status == TG_ERR_HTTP);
    CHECK(r.http_status == 502);

    parse(200, "<html>hello</html>", NULL, &r, &out);
    CHECK(r.status == TG_ERR_PARSE);
    CHECK(out == NULL);

    parse(200, "", NULL, &r, NULL);
    CHECK(r.status == TG_ERR_PARSE);

    parse(200, "{\"ok\":tru", NULL, &r, NULL);
    CHECK(r.status == TG_ERR_PARSE);

    parse(200, "[1,2]", NULL, &r, NULL);
    CHECK(r.status == TG_ERR_PARSE);

    parse(200, "{\"ok\":\"yes\",\"result\":1}", NULL, &r, NULL);
    CHECK(r.status == TG_ERR_PARSE);

    /* body with an embedded NUL is handled by length */
    const char nul[] = "{\"ok\":true,\"result\":1}\0garbage";
    void *o = NULL;
    tg_parse_answer(200, nul, sizeof(nul) - 1, NULL, &r, &o);
    CHECK(r.status != TG_OK || o != NULL);
    json_decref(o);
}

static void test_message(void)
{
    struct tg_document d;
    const char *msg =
        "{\"message_id\":42,\"sender_chat\":{\"id\":-1001234567890,\"title\":\"tgs3\",\"type\":\"channel\"},"
        "\"chat\":{\"id\":-1001234567890,\"title\":\"tgs3\",\"type\":\"channel\"},\"date\":1760000000,"
        "\"document\":{\"file_name\":\"blk-000042.bin\",\"mime_type\":\"application/octet-stream\","
        "\"file_id\":\"BQACAgIAAx0Efxxxx\",\"file_unique_id\":\"AgADlgwAAivf4FY\",\"file_size\":3000000000},"
        "\"caption\":\"{\\\"k\\\":\\\"bucket/key\\\",\\\"v\\\":1}\"}";
    json_t *j = json_loads(msg, 0, NULL);
    CHECK(j != NULL);
    CHECK(tg_parse_message(j, &d) == 0);
    CHECK(d.message_id == 42);
    CHECK(d.chat_id == -1001234567890LL);
    CHECK(d.date == 1760000000);
    CHECK(d.file_size == 3000000000LL);
    CHECK(strcmp(d.file_id, "BQACAgIAAx0Efxxxx") == 0);
    CHECK(strcmp(d.file_unique_id, "AgADlgwAAivf4FY") == 0);
    CHECK(strcmp(d.caption, "{\"k\":\"bucket/key\",\"v\":1}") == 0);
    json_decref(j);

    j = json_loads("{\"message_id\":43,\"chat\":{\"id\":-1},\"date\":1,\"text\":\"hello\"}", 0, NULL);
    CHECK(tg_parse_message(j, &d) == -1);
    json_decref(j);

    j = json_loads("{\"message_id\":44,\"chat\":{\"id\":-1},\"date\":1,\"document\":{\"file_size\":5}}", 0, NULL);
    CHECK(tg_parse_message(j, &d) == -1);
    json_decref(j);

    /* no caption → empty string */
    j = json_loads("{\"message_id\":45,\"chat\":{\"id\":-7},\"date\":1,\"document\":{\"file_id\":\"X\"}}", 0, NULL);
    CHECK(tg_parse_message(j, &d) == 0);
    CHECK(d.caption[0] == '\0');
    CHECK(d.chat_id == -7);
    CHECK(d.file_size == 0);
    CHECK(d.forward_from_message_id == 0);
    json_decref(j);

    /* a forwarded copy names its original (forward_origin, else the legacy field) */
    j = json_loads("{\"message_id\":46,\"chat\":{\"id\":-7},\"date\":2,\"document\":{\"file_id\":\"X\"},"
                   "\"forward_origin\":{\"type\":\"channel\",\"chat\":{\"id\":-7},\"message_id\":12,\"date\":1},"
                   "\"forward_from_message_id\":12}",
                   0, NULL);
    CHECK(tg_parse_message(j, &d) == 0);
    CHECK(d.message_id == 46 && d.forward_from_message_id == 12);
    json_decref(j);
    j = json_loads("{\"message_id\":47,\"chat\":{\"id\":-7},\"date\":2,\"document\":{\"file_id\":\"X\"},"
                   "\"forward_from_message_id\":13}",
                   0, NULL);
    CHECK(tg_parse_message(j, &d) == 0);
    CHECK(d.forward_from_message_id == 13);
    json_decref(j);

    CHECK(tg_parse_message(NULL, &d) == -1);
    j = json_string("x");
    CHECK(tg_parse_message(j, &d) == -1);
    json_decref(j);
}

static void test_status_names(void)
{
    CHECK(strcmp(tg_status_name(TG_OK), "ok") == 0);
    CHECK(strcmp(tg_status_name(TG_ERR_RATE_LIMITED), "rate-limited") == 0);
    CHECK(strcmp(tg_status_name(TG_ERR_CANCELLED), "cancelled") == 0);
}

/* Refusals because of the chat itself: another chat may take the document; other refusals are not that. */
static void test_chat_refused(void)
{
    static const struct {
        int http;
        const char *desc;
        int want;
    } cases[] = {
        {400, "Bad Request: chat not found", 1},
        {403, "Forbidden: bot was kicked from the channel chat", 1},
        {403, "Forbidden: bot is not a member of the channel chat", 1},
        {400, "Bad Request: need administrator rights in the channel chat", 1},
        {400, "Bad Request: message to delete not found", 0},
        {400, "Bad Request: wrong file_id or the file is temporarily unavailable", 0},
        {500, "Internal Server Error: chat not found", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct tg_result r;
        memset(&r, 0, sizeof(r));
        r.status = TG_ERR_API;
        r.http_status = cases[i].http;
        snprintf(r.description, sizeof(r.description), "%s", cases[i].desc);
        CHECK(tg_result_chat_refused(&r) == cases[i].want);
    }
}

/* The one rule for temporary failures: what callers retry, move to another pair, or answer 503 for. */
static void test_temporary(void)
{
    struct tg_result r;
    memset(&r, 0, sizeof(r));
    r.status = TG_OK;
    CHECK(!tg_result_temporary(&r));
    r.status = TG_ERR_RATE_LIMITED;
    CHECK(tg_result_temporary(&r));
    r.status = TG_ERR_TRANSPORT;
    CHECK(tg_result_temporary(&r));
    r.status = TG_ERR_HTTP;
    CHECK(tg_result_temporary(&r));
    r.status = TG_ERR_API;
    r.http_status = 400;
    r.error_code = 400;
    snprintf(r.description, sizeof(r.description), "Bad Request: chat not found");
    CHECK(!tg_result_temporary(&r));
    snprintf(r.description, sizeof(r.description), "Bad Request: file is temporarily unavailable");
    CHECK(tg_result_temporary(&r));
    r.description[0] = '\0';
    r.http_status = 500;
    CHECK(tg_result_temporary(&r));
    r.http_status = 200;
    r.error_code = 502;
    CHECK(tg_result_temporary(&r));
    r.error_code = 0;
    r.status = TG_ERR_NOT_FOUND;
    CHECK(!tg_result_temporary(&r));
    r.status = TG_ERR_UNAUTHORIZED;
    CHECK(!tg_result_temporary(&r));
    r.status = TG_ERR_TOO_BIG;
    CHECK(!tg_result_temporary(&r));
}

int main(void)
{
    test_ok();
    test_chat_refused();
    test_errors();
    test_rate_limit();
    test_bare_and_garbage();
    test_message();
    test_status_names();
    test_temporary();
    printf("%d passed, %d failed\n", passed, failed);
    fflush(stdout);
    return failed ? 1 : 0;
}
