/* methods.c — one function per Bot API method: request bodies in, typed results out.
 *
 * Non-file calls send a JSON object body (the server keeps non-string values
 * as raw JSON, so message_ids can be a real array). sendDocument with bytes
 * is multipart, built per attempt in client.c. Answers arrive here after the
 * retry policy has decided they are final, and are turned into the public
 * result types before the caller's callback runs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telegram/tg_int.h"

static void copy_str(char *out, size_t outsz, const json_t *v)
{
    tg_copy_utf8(out, outsz, json_is_string(v) ? json_string_value(v) : "");
}

void call_finish_error(struct tg_call *call, struct tg_result *res)
{
    call_detach(call);
    switch (call->kind) {
    case CALL_GET_ME:
        call->cb.get_me(call->ud, res, NULL);
        break;
    case CALL_SEND:
    case CALL_FORWARD:
        call->cb.send(call->ud, res, NULL);
        break;
    case CALL_BOOL:
        call->cb.done(call->ud, res);
        break;
    case CALL_GET_CHAT:
        call->cb.get_chat(call->ud, res, NULL);
        break;
    case CALL_FETCH:
        call->cb.fetch(call->ud, res, NULL, 0);
        break;
    case CALL_CHAT_MEMBER:
        call->cb.chat_member(call->ud, res, NULL);
        break;
    }
    call_destroy(call);
}

void call_on_answer(struct tg_call *call, struct tg_result *res, json_t *result)
{
    if (res->status != TG_OK) {
        call_finish_error(call, res);
        return;
    }
    switch (call->kind) {
    case CALL_GET_ME: {
        struct tg_bot_info bot;
        json_t *id = json_object_get(result, "id");
        memset(&bot, 0, sizeof(bot));
        if (!json_is_integer(id)) {
            result_set(res, TG_ERR_PARSE, "getMe: no bot id in the answer");
            break;
        }
        bot.id = (int64_t)json_integer_value(id);
        copy_str(bot.username, sizeof(bot.username), json_object_get(result, "username"));
        copy_str(bot.first_name, sizeof(bot.first_name), json_object_get(result, "first_name"));
        call_detach(call);
        call->cb.get_me(call->ud, res, &bot);
        call_destroy(call);
        return;
    }
    case CALL_SEND:
    case CALL_FORWARD: {
        struct tg_document doc;
        if (tg_parse_message(result, &doc) != 0) {
            result_set(res, TG_ERR_PARSE, "the sent message holds no document");
            break;
        }
        call_detach(call);
        call->cb.send(call->ud, res, &doc);
        call_destroy(call);
        return;
    }
    case CALL_BOOL:
        call_detach(call);
        call->cb.done(call->ud, res);
        call_destroy(call);
        return;
    case CALL_GET_CHAT: {
        struct tg_chat_info *chat = xcalloc(1, sizeof(*chat));
        json_t *id = json_object_get(result, "id");
        if (!json_is_integer(id)) {
            free(chat);
            result_set(res, TG_ERR_PARSE, "getChat: no chat id in the answer");
            break;
        }
        chat->id = (int64_t)json_integer_value(id);
        copy_str(chat->type, sizeof(chat->type), json_object_get(result, "type"));
        copy_str(chat->title, sizeof(chat->title), json_object_get(result, "title"));
        json_t *pinned = json_object_get(result, "pinned_message");
        if (pinned && tg_parse_message(pinned, &chat->pinned) == 0)
            chat->has_pinned = 1;
        call_detach(call);
        call->cb.get_chat(call->ud, res, chat);
        call_destroy(call);
        free(chat);
        return;
    }
    case CALL_FETCH:
        fetch_on_file(call, res, result);
        return;
    case CALL_CHAT_MEMBER: {
        struct tg_chat_member m;
        memset(&m, 0, sizeof(m));
        if (!json_is_object(result) || !json_is_string(json_object_get(result, "status"))) {
            result_set(res, TG_ERR_PARSE, "getChatMember: no status in the answer");
            break;
        }
        copy_str(m.status, sizeof(m.status), json_object_get(result, "status"));
        /* The creator holds every right without the flags being sent. */
        int creator = strcmp(m.status, "creator") == 0;
        m.can_post_messages = creator || json_is_true(json_object_get(result, "can_post_messages"));
        m.can_edit_messages = creator || json_is_true(json_object_get(result, "can_edit_messages"));
        m.can_delete_messages = creator || json_is_true(json_object_get(result, "can_delete_messages"));
        call_detach(call);
        call->cb.chat_member(call->ud, res, &m);
        call_destroy(call);
        return;
    }
    }
    call_finish_error(call, res);
}

/* ---- requests --------------------------------------------------------------- */

static struct tg_call *json_call(struct tg_client *c, enum call_kind kind, const char *token, const char *method,
                                 json_t *body, void *ud)
{
    struct tg_call *call = call_new(c, kind, token, method, ud);
    call_set_json(call, body);
    return call;
}

struct tg_call *tg_get_me(struct tg_client *c, const char *token, tg_get_me_cb cb, void *ud)
{
    struct tg_call *call = json_call(c, CALL_GET_ME, token, "getMe", json_object(), ud);
    call->cb.get_me = cb;
    call_start(call);
    return call;
}

struct tg_call *tg_get_me_within(struct tg_client *c, const char *token, long timeout_ms, tg_get_me_cb cb,
                                 void *ud)
{
    ASSERT(timeout_ms > 0);
    struct tg_call *call = json_call(c, CALL_GET_ME, token, "getMe", json_object(), ud);
    call->cb.get_me = cb;
    call_set_timeout(call, timeout_ms);
    call_start(call);
    return call;
}

struct tg_call *tg_send_document(struct tg_client *c, const char *token, int64_t chat_id, const void *data,
                                 size_t len, const char *filename, const char *caption, tg_send_cb cb,
                                 void *ud)
{
    struct tg_iov one = {data, len};
    return tg_send_document_iov(c, token, chat_id, &one, 1, filename, caption, cb, ud);
}

struct tg_call *tg_send_document_iov(struct tg_client *c, const char *token, int64_t chat_id,
                                     const struct tg_iov *iov, int n_iov, const char *filename, const char *caption,
                                     tg_send_cb cb, void *ud)
{
    struct tg_call *call = call_new(c, CALL_SEND, token, "sendDocument", ud);
    size_t len = 0;
    ASSERT(n_iov >= 1 && n_iov <= TG_MAX_IOV);
    call->cb.send = cb;
    call->has_doc = 1;
    for (int i = 0; i < n_iov; i++) {
        call->doc.iov[i] = iov[i];
        len += iov[i].len;
    }
    call->doc.n_iov = n_iov;
    call->doc.len = len;
    call->chat_id = chat_id;
    call->filename = xstrdup(filename && filename[0] ? filename : "file");
    call->caption = caption ? xstrdup(caption) : NULL;
    if (len == 0) {
        call_fail_later(call, TG_ERR_API, "file must be non-empty");
        return call;
    }
    if ((long long)len > (c->cfg.mode == TG_MODE_LOCAL ? TG_LOCAL_MAX_UPLOAD : TG_CLOUD_MAX_UPLOAD)) {
        call_fail_later(call, TG_ERR_TOO_BIG, "file is too big for sendDocument");
        return call;
    }
    call_start(call);
    return call;
}

struct tg_call *tg_send_document_path(struct tg_client *c, const char *token, int64_t chat_id, const char *path,
                                      const char *caption, tg_send_cb cb, void *ud)
{
    json_t *body = json_object();
    size_t ulen = strlen(path) + sizeof("file://");
    char *uri = xmalloc(ulen);
    snprintf(uri, ulen, "file://%s", path);
    json_object_set_new(body, "chat_id", json_integer((json_int_t)chat_id));
    json_object_set_new(body, "document", json_string(uri));
    json_object_set_new(body, "disable_content_type_detection", json_true());
    if (caption)
        json_object_set_new(body, "caption", json_string(caption));
    free(uri);
    struct tg_call *call = json_call(c, CALL_SEND, token, "sendDocument", body, ud);
    call->cb.send = cb;
    if (c->cfg.mode != TG_MODE_LOCAL) {
        call_fail_later(call, TG_ERR_API, "file:// documents need a local-mode server");
        return call;
    }
    call_start(call);
    return call;
}

static struct tg_call *chat_msg_call(struct tg_client *c, enum call_kind kind, const char *token, const char *method,
                                     int64_t chat_id, int64_t message_id, void *ud)
{
    json_t *body = json_object();
    json_object_set_new(body, "chat_id", json_integer((json_int_t)chat_id));
    json_object_set_new(body, "message_id", json_integer((json_int_t)message_id));
    if (strcmp(method, "pinChatMessage") == 0)
        json_object_set_new(body, "disable_notification", json_true());
    return json_call(c, kind, token, method, body, ud);
}

struct tg_call *tg_delete_messages(struct tg_client *c, const char *token, int64_t chat_id, const int64_t *ids,
                                   size_t n, tg_bool_cb cb, void *ud)
{
    json_t *body = json_object();
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_integer((json_int_t)ids[i]));
    json_object_set_new(body, "chat_id", json_integer((json_int_t)chat_id));
    json_object_set_new(body, "message_ids", arr);
    struct tg_call *call = json_call(c, CALL_BOOL, token, "deleteMessages", body, ud);
    call->cb.done = cb;
    if (n == 0 || n > 100) {
        call_fail_later(call, TG_ERR_API, "deleteMessages takes 1 to 100 message ids");
        return call;
    }
    call_start(call);
    return call;
}

struct tg_call *tg_delete_message(struct tg_client *c, const char *token, int64_t chat_id, int64_t message_id,
                                  tg_bool_cb cb, void *ud)
{
    struct tg_call *call = chat_msg_call(c, CALL_BOOL, token, "deleteMessage", chat_id, message_id, ud);
    call->cb.done = cb;
    call_start(call);
    return call;
}

struct tg_call *tg_pin_message(struct tg_client *c, const char *token, int64_t chat_id, int64_t message_id,
                               tg_bool_cb cb, void *ud)
{
    struct tg_call *call = chat_msg_call(c, CALL_BOOL, token, "pinChatMessage", chat_id, message_id, ud);
    call->cb.done = cb;
    call_start(call);
    return call;
}

struct tg_call *tg_forward_message(struct tg_client *c, const char *token, int64_t to_chat_id,
                                   int64_t from_chat_id, int64_t message_id, tg_send_cb cb, void *ud)
{
    json_t *body = json_object();
    json_object_set_new(body, "chat_id", json_integer((json_int_t)to_chat_id));
    json_object_set_new(body, "from_chat_id", json_integer((json_int_t)from_chat_id));
    json_object_set_new(body, "message_id", json_integer((json_int_t)message_id));
    json_object_set_new(body, "disable_notification", json_true());
    struct tg_call *call = json_call(c, CALL_FORWARD, token, "forwardMessage", body, ud);
    call->cb.send = cb;
    call_start(call);
    return call;
}

struct tg_call *tg_get_chat(struct tg_client *c, const char *token, int64_t chat_id, tg_get_chat_cb cb, void *ud)
{
    json_t *body = json_object();
    json_object_set_new(body, "chat_id", json_integer((json_int_t)chat_id));
    struct tg_call *call = json_call(c, CALL_GET_CHAT, token, "getChat", body, ud);
    call->cb.get_chat = cb;
    call_start(call);
    return call;
}

struct tg_call *tg_get_chat_member(struct tg_client *c, const char *token, int64_t chat_id, int64_t user_id,
                                   tg_chat_member_cb cb, void *ud)
{
    json_t *body = json_object();
    json_object_set_new(body, "chat_id", json_integer((json_int_t)chat_id));
    json_object_set_new(body, "user_id", json_integer((json_int_t)user_id));
    struct tg_call *call = json_call(c, CALL_CHAT_MEMBER, token, "getChatMember", body, ud);
    call->cb.chat_member = cb;
    call_start(call);
    return call;
}
