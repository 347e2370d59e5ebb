/* chats.c — the health of each storage chat: usable, refusing, or lost.
 *
 * DESIGN
 * A post refused because of the chat itself (deleted or banned: "chat not
 * found"; the bot kicked, not a member, or without the right to post) marks
 * the chat refusing: the scheduler stops placing documents there at once.
 * At every health tick each refusing chat is asked about (getChat through
 * the first bot); an answer reopens it (unless --chat-max-messages closed it
 * since), a refusal that lasts --chat-lost-after makes it lost, and every
 * shard it holds is queued for repair (damage.c). A chat the operator
 * retired (tgs3 chat retire, recorded in the index) is closed from the
 * start and never asked again. The state is
 * in memory: after a restart a chat is tried again and, if it still
 * refuses, marked again by its first refusal.
 *
 * Threads: the loop.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/engine/stripe.h"
#include "gateway/gw.h"

struct chat_health {
    enum gw_chat_state state;
    int64_t since_ms;     /* when it started refusing */
    struct tg_call *call; /* getChat in flight */
    struct gw_chats *cs;
    size_t i;
};

struct gw_chats {
    struct gw *gw;
    struct chat_health *c; /* per configured chat */
};

static struct gw_chats *chats_get(struct gw *gw)
{
    if (gw->chats == NULL) {
        struct gw_chats *cs = xcalloc(1, sizeof(*cs));
        cs->gw = gw;
        cs->c = xcalloc(gw->cfg.n_chat_ids ? gw->cfg.n_chat_ids : 1, sizeof(*cs->c));
        for (size_t i = 0; i < gw->cfg.n_chat_ids; i++) {
            cs->c[i].cs = cs;
            cs->c[i].i = i;
        }
        gw->chats = cs;
    }
    return gw->chats;
}

void gw_chat_refused(struct gw *gw, size_t ci, const char *why)
{
    struct chat_health *h = &chats_get(gw)->c[ci];
    if (h->state != GW_CHAT_OK)
        return;
    h->state = GW_CHAT_REFUSING;
    h->since_ms = mono_ms();
    if (gw->pool != NULL)
        tg_pool_set_chat_open(gw->pool, ci, 0);
    log_error("chat %lld refuses documents (%s): nothing new goes there until it answers again",
              (long long)gw->cfg.chat_ids[ci], why);
}

void gw_chat_retired(struct gw *gw, size_t ci)
{
    struct chat_health *h = &chats_get(gw)->c[ci];
    h->state = GW_CHAT_RETIRED;
    if (gw->pool != NULL)
        tg_pool_set_chat_open(gw->pool, ci, 0);
    log_warn("chat %lld is retired (tgs3 chat retire): nothing new goes there; its shards are rebuilt elsewhere",
             (long long)gw->cfg.chat_ids[ci]);
}

enum gw_chat_state gw_chat_state(const struct gw *gw, size_t ci)
{
    return gw->chats != NULL ? gw->chats->c[ci].state : GW_CHAT_OK;
}

static void on_chat(void *ud, const struct tg_result *res, const struct tg_chat_info *chat)
{
    struct chat_health *h = ud;
    struct gw *gw = h->cs->gw;
    (void)chat;
    h->call = NULL;
    if (res->status == TG_OK) {
        h->state = GW_CHAT_OK;
        if (gw->pool != NULL && gw->chat_blocks != NULL && gw->chat_blocks[h->i] < gw->cfg.chat_max_messages)
            tg_pool_set_chat_open(gw->pool, h->i, 1);
        log_info("chat %lld answers again: documents go there again", (long long)gw->cfg.chat_ids[h->i]);
        return;
    }
    if (!tg_result_temporary(res) && h->state == GW_CHAT_REFUSING && mono_ms() - h->since_ms >= gw->cfg.chat_lost_after_ms) {
        h->state = GW_CHAT_LOST;
        log_error("chat %lld is lost (%s for %lld s): its shards are rebuilt in the other chats",
                  (long long)gw->cfg.chat_ids[h->i], res->description, (long long)(gw->cfg.chat_lost_after_ms / 1000));
        gw_repair_chat(gw, gw->cfg.chat_ids[h->i], "chat lost");
    }
}

void gw_chats_check(struct gw *gw)
{
    if (gw->chats == NULL || gw->n_bots == 0 || gw->tg == NULL)
        return;
    for (size_t i = 0; i < gw->cfg.n_chat_ids; i++) {
        struct chat_health *h = &gw->chats->c[i];
        if (h->state != GW_CHAT_OK && h->state != GW_CHAT_RETIRED && h->call == NULL)
            h->call = tg_get_chat(gw->tg, gw->bots[0].token, gw->cfg.chat_ids[i], on_chat, h);
    }
}

void gw_chats_free(struct gw *gw)
{
    struct gw_chats *cs = gw->chats;
    if (cs == NULL)
        return;
    for (size_t i = 0; i < gw->cfg.n_chat_ids; i++)
        if (cs->c[i].call != NULL)
            tg_call_cancel(cs->c[i].call);
    free(cs->c);
    free(cs);
    gw->chats = NULL;
}

void gw_chats_counters(const struct gw *gw, size_t *refusing, size_t *lost)
{
    *refusing = *lost = 0;
    for (size_t i = 0; gw->chats != NULL && i < gw->cfg.n_chat_ids; i++) {
        *refusing += gw->chats->c[i].state == GW_CHAT_REFUSING;
        *lost += gw->chats->c[i].state == GW_CHAT_LOST || gw->chats->c[i].state == GW_CHAT_RETIRED;
    }
}
