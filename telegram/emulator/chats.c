/* chats.c — the chat methods: getChat, getChatMember, pinChatMessage, unpinChatMessage,
 * unpinAllChatMessages.
 *
 * Every configured chat is a channel ("tgs3 <id>") where every bot is an administrator with
 * the rights a storage channel needs; the most recent pin is getChat's pinned_message, which
 * is how the gateway finds its index snapshot (§5.6, §5.7). A pin posts a service message.
 */
#include "telegram/emulator/emu.h"

static void get_chat(struct emu_call *c)
{
    struct emu_chat *ch = call_chat(c, "chat_id", "chat_id is empty");
    if (!ch)
        return;
    json_t *o = emu_chat_json(ch->id);
    if (ch->npins)
        json_object_set_new(o, "pinned_message", call_msg_json(c, ch, ch->pins[ch->npins - 1]));
    json_object_set_new(o, "max_reaction_count", json_integer(11));
    json_object_set_new(o, "accent_color_id", json_integer((json_int_t)((uint64_t)(-ch->id) % 7)));
    call_ok(c, o);
}

/* Every bot is an administrator of every configured chat, with the rights a storage channel needs. */
static void get_chat_member(struct emu_call *c)
{
    struct emu_chat *ch = call_chat(c, "chat_id", "chat_id is empty");
    if (!ch)
        return;
    int64_t uid = call_msg_id(c, "user_id");
    if (uid <= 0) {
        call_fail(c, 400, "Bad Request: invalid user_id specified");
        return;
    }
    json_t *u = emu_user_json(uid);
    call_ok(c, json_pack("{s:s,s:o,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b,s:b}", "status", "administrator",
                         "user", u, "can_be_edited", 0, "is_anonymous", 0, "can_manage_chat", 1,
                         "can_delete_messages", 1, "can_manage_video_chats", 0, "can_restrict_members", 0,
                         "can_promote_members", 0, "can_change_info", 0, "can_invite_users", 1,
                         "can_post_messages", 1, "can_edit_messages", 1, "can_post_stories", 0));
}

static void pin_message(struct emu_call *c)
{
    struct emu_chat *ch = call_chat(c, "chat_id", "chat_id is empty");
    if (!ch)
        return;
    int64_t id = call_msg_id(c, "message_id");
    if (!state_msg(ch, id) || id <= 1) {
        call_fail(c, 400, "Bad Request: message to pin not found");
        return;
    }
    state_pin(c->st, ch, id);
    state_msg_add(c->st, ch, 0, NULL, 0, 0, 0, id);
    call_ok(c, json_true());
}

static void unpin_message(struct emu_call *c)
{
    struct emu_chat *ch = call_chat(c, "chat_id", "chat_id is empty");
    if (!ch)
        return;
    const char *s = emu_param_str(&c->params, "message_id");
    if (s && *s) {
        int64_t id = call_msg_id(c, "message_id");
        if (!state_msg(ch, id)) {
            call_fail(c, 400, "Bad Request: message to unpin not found");
            return;
        }
        state_unpin(c->st, ch, id);
    } else if (ch->npins) {
        state_unpin(c->st, ch, ch->pins[ch->npins - 1]);
    }
    call_ok(c, json_true());
}

static void unpin_all(struct emu_call *c)
{
    struct emu_chat *ch = call_chat(c, "chat_id", "chat_id is empty");
    if (!ch)
        return;
    while (ch->npins)
        state_unpin(c->st, ch, ch->pins[ch->npins - 1]);
    call_ok(c, json_true());
}

struct emu_method emu_chat_methods[] = {
    {"getChat", get_chat, 0, 0},
    {"getChatMember", get_chat_member, 0, 0},
    {"pinChatMessage", pin_message, 0, 0},
    {"unpinChatMessage", unpin_message, 0, 0},
    {"unpinAllChatMessages", unpin_all, 0, 0},
    {NULL, NULL, 0, 0},
};
