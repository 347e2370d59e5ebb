/* answer.c — parsing Bot API answers and Message objects into tg_ types.
 *
 * Pure functions over strings and jansson values, so that every mapping rule
 * is tested without a network. The envelope rules come from the Bot API
 * server (Query.h, HttpConnection.cpp): success is {"ok":true,"result":…},
 * failure {"ok":false,"error_code":N,"description":"…","parameters":{…}}, and
 * the HTTP parser of the server answers some errors with a bare status line.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telegram/tg_int.h"

int tg_result_temporary(const struct tg_result *res)
{
    switch (res->status) {
    case TG_ERR_RATE_LIMITED:
    case TG_ERR_TRANSPORT:
    case TG_ERR_HTTP:
        return 1;
    case TG_ERR_API:
        /* The Bot API server's own trouble ("Internal Server Error: restart"), or a
         * getFile whose download from Telegram failed or is still running (§5.3). */
        return res->http_status >= 500 || res->error_code >= 500 ||
               strstr(res->description, "temporarily unavailable") != NULL;
    default:
        return 0;
    }
}

int tg_result_chat_refused(const struct tg_result *res)
{
    static const char *const texts[] = {"chat not found", "kicked", "not a member", "need administrator rights",
                                        "have no write access", "CHAT_WRITE_FORBIDDEN"};
    if (res->status == TG_OK || (res->http_status != 400 && res->http_status != 403))
        return 0;
    for (size_t i = 0; i < ARRAY_SIZE(texts); i++)
        if (strstr(res->description, texts[i]) != NULL)
            return 1;
    return 0;
}

const char *tg_status_name(enum tg_status s)
{
    switch (s) {
    case TG_OK:
        return "ok";
    case TG_ERR_RATE_LIMITED:
        return "rate-limited";
    case TG_ERR_TOO_BIG:
        return "too-big";
    case TG_ERR_NOT_FOUND:
        return "not-found";
    case TG_ERR_UNAUTHORIZED:
        return "unauthorized";
    case TG_ERR_FORBIDDEN:
        return "forbidden";
    case TG_ERR_API:
        return "api-error";
    case TG_ERR_HTTP:
        return "http-error";
    case TG_ERR_TRANSPORT:
        return "transport-error";
    case TG_ERR_PARSE:
        return "parse-error";
    case TG_ERR_IO:
        return "io-error";
    case TG_ERR_CANCELLED:
        return "cancelled";
    }
    return "unknown";
}

void tg_copy_utf8(char *out, size_t outsz, const char *s)
{
    size_t n = strlen(s);
    if (n >= outsz) {
        n = outsz - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(out, s, n);
    out[n] = '\0';
}

void result_set(struct tg_result *res, enum tg_status st, const char *desc)
{
    res->status = st;
    tg_copy_utf8(res->description, sizeof(res->description), desc ? desc : "");
}

static int contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return 1;
    }
    return 0;
}

/* Retry-After: delta-seconds (RFC 9110 10.2.3); HTTP-dates are not sent by the server. */
static int parse_retry_after(const char *v)
{
    if (v == NULL)
        return 0;
    while (*v == ' ' || *v == '\t')
        v++;
    char *end;
    long n = strtol(v, &end, 10);
    if (end == v || n <= 0)
        return 0;
    return n > 86400 * 365 ? 86400 * 365 : (int)n;
}

/* A non-JSON answer: a bare status line from the server's HTTP parser, or a proxy page. */
static void parse_bare(int http_status, int hdr_retry, struct tg_result *res)
{
    char desc[64];
    if (http_status >= 200 && http_status < 300) {
        result_set(res, TG_ERR_PARSE, "unparseable answer");
        return;
    }
    snprintf(desc, sizeof(desc), "HTTP %d", http_status);
    if (http_status == 429) {
        result_set(res, TG_ERR_RATE_LIMITED, desc);
        res->retry_after = hdr_retry;
    } else if (http_status == 413) {
        result_set(res, TG_ERR_TOO_BIG, desc);
    } else {
        result_set(res, TG_ERR_HTTP, desc);
    }
}

void tg_parse_answer(int http_status, const char *body, size_t len, const char *retry_after_hdr,
                     struct tg_result *res, void **result_out)
{
    json_t *root = NULL;
    int hdr_retry = parse_retry_after(retry_after_hdr);

    memset(res, 0, sizeof(*res));
    res->http_status = http_status;
    if (result_out)
        *result_out = NULL;
    if (body == NULL || len == 0) {
        parse_bare(http_status, hdr_retry, res);
        goto out;
    }
    root = json_loadb(body, len, 0, NULL);
    json_t *ok = root ? json_object_get(root, "ok") : NULL;
    if (!json_is_boolean(ok)) {
        parse_bare(http_status, hdr_retry, res);
        goto out;
    }
    if (json_is_true(ok)) {
        json_t *result = json_object_get(root, "result");
        if (result == NULL) {
            result_set(res, TG_ERR_PARSE, "answer without result");
            goto out;
        }
        result_set(res, TG_OK, NULL);
        if (result_out)
            *result_out = json_incref(result);
        goto out;
    }

    json_t *code = json_object_get(root, "error_code");
    json_t *desc = json_object_get(root, "description");
    json_t *params = json_object_get(root, "parameters");
    json_t *ra = json_is_object(params) ? json_object_get(params, "retry_after") : NULL;
    const char *d = json_is_string(desc) ? json_string_value(desc) : "";
    int ec = json_is_integer(code) ? (int)json_integer_value(code) : http_status;

    result_set(res, TG_ERR_API, d);
    res->error_code = json_is_integer(code) ? ec : 0;
    if (json_is_integer(ra) && json_integer_value(ra) > 0)
        res->retry_after = json_integer_value(ra) > 86400 * 365 ? 86400 * 365 : (int)json_integer_value(ra);
    else
        res->retry_after = hdr_retry;
    if (ec == 429 || http_status == 429)
        res->status = TG_ERR_RATE_LIMITED;
    else if (ec == 413 || contains_nocase(d, "too big"))
        res->status = TG_ERR_TOO_BIG;
    else if (ec == 401)
        res->status = TG_ERR_UNAUTHORIZED;
    else if (ec == 403)
        res->status = TG_ERR_FORBIDDEN;
    else if (ec == 400 && contains_nocase(d, "not found"))
        res->status = TG_ERR_NOT_FOUND;
out:
    json_decref(root);
}

static int64_t get_int(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

int tg_parse_message(const void *message_json, struct tg_document *doc)
{
    const json_t *msg = message_json;
    memset(doc, 0, sizeof(*doc));
    if (!json_is_object(msg))
        return -1;
    json_t *d = json_object_get(msg, "document");
    json_t *fid = json_object_get(d, "file_id");
    if (!json_is_object(d) || !json_is_string(fid) || json_string_length(fid) >= sizeof(doc->file_id) ||
        json_string_length(fid) == 0)
        return -1;
    json_t *chat = json_object_get(msg, "chat");
    doc->chat_id = json_is_object(chat) ? get_int(chat, "id") : 0;
    doc->message_id = get_int(msg, "message_id");
    doc->date = get_int(msg, "date");
    doc->file_size = get_int(d, "file_size");
    tg_copy_utf8(doc->file_id, sizeof(doc->file_id), json_string_value(fid));
    json_t *uid = json_object_get(d, "file_unique_id");
    if (json_is_string(uid))
        tg_copy_utf8(doc->file_unique_id, sizeof(doc->file_unique_id), json_string_value(uid));
    json_t *cap = json_object_get(msg, "caption");
    if (json_is_string(cap))
        tg_copy_utf8(doc->caption, sizeof(doc->caption), json_string_value(cap));
    /* Bot API 7.0+: forward_origin; the legacy field is still sent beside it. */
    json_t *origin = json_object_get(msg, "forward_origin");
    doc->forward_from_message_id =
        json_is_object(origin) ? get_int(origin, "message_id") : get_int(msg, "forward_from_message_id");
    return 0;
}
