/* emu.h — internal interfaces of tgs3-botapi, the local Bot API emulator.
 *
 * The emulator is one process, one libuv loop, one thread. Modules:
 *   main.c     command line, start-up, the h2o server and the loop
 *   serve.c    the request entry: routing, Bot API calls and their answers (latency, drops)
 *   download.c /file/ downloads (non-local mode)
 *   admin.c    /_emulator/...: stats, and run-time faults of a channel for tests
 *   params.c   request parameters: query string, urlencoded, JSON and multipart bodies
 *   state.c    chats, messages, documents, pins; the append-only journal; file ids
 *   methods.c  Bot API dispatch, fault dice, what the methods share, the local methods
 *   files.c    sendDocument, getFile, --file-ttl
 *   messages.c deleteMessage(s), forwardMessage, copyMessage, editMessageCaption, captions
 *   chats.c    getChat, getChatMember, pins
 *   rate.c     flood limits (sliding windows) and the per-(bot, chat) counters
 *   docs.c     the copies of posted documents: RAM places (--store-ram) or the disk
 * Everything runs on the loop thread, so nothing here locks.
 */
#ifndef TGS3_EMU_H
#define TGS3_EMU_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>

#include <h2o.h>
#include <jansson.h>

#include "common/common.h"

#define EMU_LOCAL_MAX_FILE 2097152000LL /* bytes: 2000 MiB, Telegram's bot upload cap */
#define EMU_CLOUD_MAX_UPLOAD 52428800LL /* bytes: 50 MB cloud upload cap */
#define EMU_CLOUD_MAX_DOWNLOAD 20971520LL /* bytes: 20 MiB non-local getFile cap */
#define EMU_MAX_STRINGS (1024 * 1024) /* bytes of non-file parameters per request */
#define EMU_MAX_FILES 50
#define EMU_DELETE_WINDOW 172800 /* s: bots cannot delete channel posts older than 48 h */
#define EMU_CAPTION_MAX 1024 /* code points */

/* ---- configuration (main.c fills it, everybody reads it) ---- */

struct emu_config {
    const char *listen_host;
    int listen_port;
    const char *dir; /* absolute */
    int local;
    int64_t *chats;
    size_t nchats;
    int64_t clock_offset; /* s, added to the wall clock */
    int rate_chat; /* posts by one bot into one chat in any 60 s window; 0 = off */
    int rate_bot; /* posts by one bot in any 1 s window; 0 = off */
    int flood_wait_max; /* s: a flood wait up to this is served as latency, a longer one as 429 */
    int64_t bandwidth; /* bytes per second per connection (uploads and downloads); 0 = unlimited */
    int latency_ms;
    double fail_429; /* fraction of calls answered 429 Too Many Requests, retry after 1 s */
    double fail_5xx; /* fraction of calls answered 500 Internal Server Error: restart */
    double fail_drop; /* fraction of requests whose connection is closed before the method runs */
    double fail_lost; /* fraction of sendDocument calls that post but never answer */
    double fail_getfile; /* fraction of getFile calls answered "temporarily unavailable" */
    uint64_t seed;
    int file_ttl; /* s, local mode: a file getFile downloaded is removed after this; 0 = kept */
    int64_t spill_threshold; /* bytes: request buffers past this spill to DIR/tmp (h2o mmap) */
    int64_t *revoked; /* bot ids whose tokens are refused with 401 (a revoked or wrong token) */
    size_t nrevoked;
    int64_t store_ram; /* bytes of documents kept in memory touched at start (docs.c); 0 = off */
    int64_t store_ram_doc; /* bytes: the size of one such place (a document up to it, over half of it) */
};

extern struct emu_config emu_cfg;

/* Emulated wall clock in seconds (wall clock plus --clock-offset). */
int64_t emu_now(void);

/* ---- the copies of posted documents (docs.c) ---- */

/* Takes the copy buffer and, bytes > 0, makes bytes / doc RAM places of doc
 * bytes in DIR/ram, each written through once (before the emulator
 * listens). 0, or -1 when the buffer or DIR/ram cannot be had; fewer places
 * than asked is a warning. */
int docs_open(const char *dir, int64_t bytes, int64_t doc);
/* Stores size bytes, read from the file in (or from mem when in < 0), as the
 * new file dst: in a free RAM place when one fits, else with O_DIRECT, else
 * through the page cache. 0, or -1 with errno (dst then holds nothing to
 * rely on). */
int docs_store(int in, const char *mem, int64_t size, const char *dst);
/* Removes the document file at path: a RAM place no other link shares goes
 * back to the pool, anything else is unlinked. */
void docs_remove(const char *path);
/* Flips up to 16 bytes in the middle of the file at path, in place (size unchanged): a
 * document Telegram damaged. 0, or -1 with errno. */
int docs_damage(const char *path);
void docs_close(void);

/* ---- parameters (params.c) ---- */

struct emu_param {
    const char *name; /* NUL-terminated, request pool */
    const char *val; /* strings: NUL-terminated copy; files: points into the request entity */
    size_t len;
    int is_file;
    const char *filename; /* files only, NUL-terminated */
};

struct emu_params {
    struct emu_param *v;
    size_t n, cap;
};

/* A transport-level failure: answered with a bare status line and no JSON. */
struct emu_bare {
    int status;
    const char *reason;
};

/* Collects the query string first (it wins on duplicates), then the body. All memory
 * comes from req->pool. Returns 0, or -1 with *bare set. */
int emu_params_parse(h2o_req_t *req, struct emu_params *p, struct emu_bare *bare) WARN_UNUSED;
/* First parameter with this name (any kind), or NULL. */
const struct emu_param *emu_param_get(const struct emu_params *p, const char *name);
/* First string parameter with this name, or NULL. */
const char *emu_param_str(const struct emu_params *p, const char *name);
/* URL-decodes s[0..len) into pool memory, NUL-terminated. */
char *emu_url_decode(h2o_mem_pool_t *pool, const char *s, size_t len, size_t *outlen);

/* ---- state (state.c) ---- */

struct emu_link { /* a getFile copy of a document for one token */
    char *token;
    char *path;
    dev_t dev; /* the copy's identity: the client removes it after reading, and the name is reused */
    ino_t ino;
    struct emu_link *next;
};

struct emu_doc {
    uint64_t id;
    int64_t size; /* bytes */
    uint64_t secret; /* keys file_ids and derives file_unique_id */
    char *name; /* file_name, may be NULL */
    char *mime; /* mime_type, may be NULL */
    int refs; /* live messages holding it */
    int lost; /* its bytes are gone (an admin deleted its last message): file_ids parse, nothing is served */
    struct emu_link *links;
};

struct emu_msg {
    int64_t date; /* s */
    int64_t edit_date; /* s, 0 = never edited */
    uint64_t doc; /* 0 = none */
    char *caption; /* NULL = none */
    int64_t fwd_chat, fwd_id, fwd_date; /* forward origin, fwd_chat 0 = not forwarded */
    int64_t pinned; /* pin service message: id of the pinned message */
    unsigned char exists, deleted, service;
};

struct emu_chat {
    int64_t id;
    int configured;
    struct emu_msg *msgs; /* indexed by message id */
    size_t nmsgs; /* == next message id */
    size_t msgcap;
    int64_t *pins; /* pinned ids, most recent last */
    size_t npins, pincap;
    int64_t live_docs; /* live messages holding documents */
    int64_t live_bytes;
    int banned; /* the channel is gone (/_emulator/ban): "chat not found" for every bot */
    int64_t *kicked; /* bots kicked from it (/_emulator/kick) */
    size_t nkicked, kickcap;
};

struct emu_state {
    char *dir;
    struct emu_chat *chats;
    size_t nchats;
    struct emu_doc **docs; /* indexed by doc id; NULL = gone */
    size_t ndocs; /* == next doc id */
    FILE *journal;
    int replaying;
};

int state_open(struct emu_state *st, const char *dir, const int64_t *chats, size_t nchats) WARN_UNUSED;
void state_close(struct emu_state *st);
/* A configured chat, or NULL. */
struct emu_chat *state_chat(struct emu_state *st, int64_t id);
/* A live message (existing, not deleted), or NULL. */
struct emu_msg *state_msg(struct emu_chat *c, int64_t id);
struct emu_doc *state_doc(struct emu_state *st, uint64_t id);
/* Path of the stored bytes of document id into out. */
void state_doc_path(const struct emu_state *st, uint64_t id, char *out, size_t outsz);
/* Reserves a document id whose bytes the caller writes to state_doc_path(); then state_doc_add. */
uint64_t state_doc_reserve(struct emu_state *st);
void state_doc_add(struct emu_state *st, uint64_t id, int64_t size, const char *name, const char *mime);
/* Appends a message; returns its id. doc may be 0 (service), pinned > 0 marks a pin service message. */
int64_t state_msg_add(struct emu_state *st, struct emu_chat *c, uint64_t doc, const char *caption,
                      int64_t fwd_chat, int64_t fwd_id, int64_t fwd_date, int64_t pinned);
/* Deletes a live message as the bot does: a document no message holds any more goes. */
void state_msg_delete(struct emu_state *st, struct emu_chat *c, int64_t id);
/* Deletes a live message as an admin does (/_emulator/delete): a document no message holds
 * any more loses its bytes but stays known (lost), so its file_ids still parse. */
void state_msg_remove(struct emu_state *st, struct emu_chat *c, int64_t id);
void state_msg_edit(struct emu_state *st, struct emu_chat *c, int64_t id, const char *caption);
void state_pin(struct emu_state *st, struct emu_chat *c, int64_t id);
void state_unpin(struct emu_state *st, struct emu_chat *c, int64_t id);
void state_doc_link_add(struct emu_doc *d, const char *token, const char *path);

/* Faults, journaled like every mutation. A banned chat is gone for every bot; a kicked bot
 * is out of one chat. Setting what is already set changes nothing. */
void state_ban(struct emu_state *st, struct emu_chat *c, int banned);
void state_kick(struct emu_state *st, struct emu_chat *c, int64_t bot, int kicked);
int state_kicked(const struct emu_chat *c, int64_t bot);
/* 1 when some chat is banned or has a kicked bot. */
int state_restricted(const struct emu_state *st);
/* Telegram serves d to bot while a live message holding it is in a chat that is not banned
 * and that bot was not kicked from; a lost document never. 1 or 0. */
int state_doc_served(const struct emu_state *st, const struct emu_doc *d, int64_t bot);
/* The document whose getFile copy (or stored file) the file at path, sb is, or NULL. */
struct emu_doc *state_doc_of_file(const struct emu_state *st, const char *path, const struct stat *sb);
/* Damages d's bytes in place (docs_damage), its getFile copies included. 0 or -1. */
int state_doc_damage(const struct emu_state *st, const struct emu_doc *d);

/* file_id / file_unique_id. out needs 96 bytes. */
void state_file_id(const struct emu_doc *d, int64_t bot_id, char *out, size_t outsz);
void state_file_unique_id(const struct emu_doc *d, char *out, size_t outsz);
/* Decodes a file_id: 0 and *doc_id on success for this bot; -1 garbage; -2 another bot's or forged. */
int state_file_id_parse(struct emu_state *st, const char *s, int64_t bot_id, uint64_t *doc_id);

/* ---- the request entry (serve.c), downloads (download.c), the test surface (admin.c) ---- */

/* h2o's handler: routes every request (GET and POST; others get a bare 501). */
int serve_on_req(h2o_handler_t *self, h2o_req_t *req);
/* Answers now, without latency: body (JSON when len > 0) with a Retry-After header when
 * retry_after > 0; drop shuts the socket first, so no answer arrives. */
void serve_send_now(h2o_req_t *req, int status, int retry_after, int drop, const char *body, size_t len);
/* Answers doc (its reference taken) now, without latency. */
void serve_send_json_now(h2o_req_t *req, int status, json_t *doc);
/* Answers a Bot API error after --latency-ms. */
void serve_answer_error(h2o_req_t *req, int status, const char *desc, int retry_after, int drop);
/* {"ok":false,"error_code":status,"description":desc[,"parameters":{"retry_after":N}]}, new reference. */
json_t *serve_error_doc(int status, const char *desc, int retry_after);
/* A token of the real server's shape (§3): "<id>:<secret>", 0 < id < 2^54, at most 80 bytes. */
int serve_token_ok(const char *t, size_t len);
/* path[0..len) starts with "/file/bot". */
void download_serve(h2o_req_t *req, const char *path, size_t len);
/* The state the faults of /_emulator/ change. */
void admin_init(struct emu_state *st);
/* path[0..len) starts with "/_emulator/": stats, and the faults ban, unban, kick, unkick,
 * delete and corrupt (admin.c). */
void admin_serve(h2o_req_t *req, const char *path, size_t len);

/* ---- methods (methods.c) ---- */

struct emu_reply {
    int status; /* 200 or the error_code */
    json_t *result; /* owned; set when status == 200 */
    char desc[256];
    int retry_after; /* s, 429 only */
    int64_t defer_ms; /* > 0: a flood wait; the call runs again after this many ms (its post reserved) */
    int64_t delay_ms; /* extra answer delay (a local getFile's download at --bandwidth) */
};

struct emu_call {
    h2o_req_t *req;
    const char *token; /* NUL-terminated */
    int64_t bot_id;
    struct emu_params params;
    struct emu_reply r;
    struct emu_state *st; /* set by methods_call */
    int reserved; /* a flood wait reserved this call's post: it runs without rolling dice or taking a slot */
    int64_t waited_ms; /* flood wait served so far */
};

void methods_init(struct emu_state *st);
/* Frees what the methods keep (rate windows, counters, the --file-ttl queue). */
void methods_release(void);
/* Canonical name of a method given in any case, or NULL if unknown. */
const char *methods_lookup(const char *name_lc);
/* Runs one call; fills call->r. The first run rolls --fail-429 and --fail-5xx; a rerun after a
 * flood wait (call->reserved) does not. */
void methods_call(const char *canonical, struct emu_call *call);
/* The /_emulator/stats document (owned by the caller). */
json_t *methods_stats(void);
/* Fault dice (deterministic, --seed): 1 with probability p in [0,1]. */
int methods_roll(double p);
/* Whether the file at path, sb (a getFile copy, for /file/ downloads) may be served to the
 * bot: not when it is a copy of a document Telegram no longer serves to it. */
int methods_file_served(int64_t bot_id, const char *path, const struct stat *sb);
/* Counts an injected fault for the stats: "dropped", "lost" or "getfile". */
void methods_count_fault(const char *what);

/* ---- what the method files share (methods.c) ---- */

/* One Bot API method; each method file ends its table with a NULL name. */
struct emu_method {
    const char *name; /* canonical spelling */
    void (*fn)(struct emu_call *c);
    uint64_t calls, errors; /* counted by methods_call, for the stats */
};

extern struct emu_method emu_file_methods[]; /* files.c */
extern struct emu_method emu_message_methods[]; /* messages.c */
extern struct emu_method emu_chat_methods[]; /* chats.c */

/* The reply: an error (the description formatted), a result (owned by the call from now on),
 * or 429 with retry_after. */
void call_fail(struct emu_call *c, int status, const char *fmt, ...) PRINTF_LIKE(3, 4);
void call_ok(struct emu_call *c, json_t *result);
void call_too_many(struct emu_call *c, int retry_after);
/* The chat the parameter names, or NULL with the reply set: "Bad Request: <missing>" when the
 * parameter is absent or empty, "chat not found" when it names no configured chat or a
 * banned one, 403 "bot was kicked from the channel chat" when the call's bot was kicked. */
struct emu_chat *call_chat(struct emu_call *c, const char *param, const char *missing);
/* The integer parameter (a message or user id), 0 when absent or not a number. */
int64_t call_msg_id(struct emu_call *c, const char *param);
/* The Message id of chat ch as the call's bot sees it (its file_ids), a new reference. */
json_t *call_msg_json(struct emu_call *c, struct emu_chat *ch, int64_t id);
/* The Chat of a channel ({id, title, type}) and the User of a bot, new references. */
json_t *emu_chat_json(int64_t id);
json_t *emu_user_json(int64_t id);
/* A decimal integer, spaces around allowed: 0, or -1 when s is NULL or not one. */
int emu_parse_i64(const char *s, int64_t *out);
/* The caption parameter under the caption rules (§5.2, messages.c): 1 when given (*out NULL
 * for an empty caption, else malloc'ed), 0 when absent (*out NULL), -1 when refused (the
 * reply set: not UTF-8, too long). */
int call_caption(struct emu_call *c, char **out);

/* ---- flood limits (rate.c) ---- */

struct rate_totals {
    uint64_t rate_limited, injected_429, flood_waits, flood_wait_ms; /* flood_wait_ms: ms */
};

/* A post by the call's bot into chat: 1 when it goes ahead now (its slot taken); else 0 with
 * the reply set: 429 with retry_after, or defer_ms for a flood wait served as latency. */
int rate_ok(struct emu_call *c, int64_t chat);
/* Counts a --fail-429 answer for (bot, chat). */
void rate_count_injected(int64_t bot, int64_t chat);
/* The per-(bot, chat) counters as a JSON array (new reference), their sums in *tot. */
json_t *rate_stats(struct rate_totals *tot);
void rate_release(void);

/* ---- downloaded copies (files.c) ---- */

/* Removes downloaded files older than --file-ttl (local mode); called from a timer. */
void files_expire(void);
void files_release(void);

#endif
