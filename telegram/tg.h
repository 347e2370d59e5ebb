/* tg.h — the Bot API client library: asynchronous calls on a libuv loop via libcurl multi.
 *
 * One struct tg_client per loop thread. Every call starts a transfer and
 * returns at once; its callback runs later on the same loop thread, exactly
 * once, unless the request was cancelled first (then never). Nothing here
 * blocks: HTTP goes through curl's multi_socket API driven by libuv, and the
 * local-mode file reads and unlinks go through uv_fs_* on libuv's pool.
 *
 * The library does not log and does not know about S3 or SQLite. Answers are
 * parsed with jansson into a struct tg_result; rate limits (429) come back
 * with retry_after. Bounded retries with backoff for 5xx, dropped connections
 * and (short) 429 waits live in one place (client.c, bounded by the client config).
 *
 * Tokens are passed per call (the gateway owns the bot pool). URLs contain the
 * token, so none of them is ever put into an error description.
 */
#ifndef TGS3_TG_H
#define TGS3_TG_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/common.h"

#define TG_MAX_FILE_ID 256
#define TG_MAX_UNIQUE_ID 64
#define TG_MAX_DESCRIPTION 256
#define TG_MAX_CAPTION 1024      /* code points */
#define TG_MAX_JSON_ANSWER (4u << 20)  /* bytes: a Bot API answer we accept */
#define TG_LOCAL_MAX_UPLOAD 2097152000LL /* bytes: 2000 MiB, local server */
#define TG_CLOUD_MAX_UPLOAD 52428800LL   /* bytes: 50 MB, cloud */
#define TG_CLOUD_MAX_DOWNLOAD 20971520LL /* bytes: 20 MiB, cloud getFile */

enum tg_status {
    TG_OK = 0,
    TG_ERR_RATE_LIMITED, /* 429; retry_after seconds set */
    TG_ERR_TOO_BIG,      /* 413, "file is too big", or over our own limits */
    TG_ERR_NOT_FOUND,    /* message/file/chat not found (400 with such a description) */
    TG_ERR_UNAUTHORIZED, /* 401: bad token */
    TG_ERR_FORBIDDEN,    /* 403 */
    TG_ERR_API,          /* other ok:false answers */
    TG_ERR_HTTP,         /* non-JSON answer, bare status line, 5xx */
    TG_ERR_TRANSPORT,    /* connection refused/dropped/timeout */
    TG_ERR_PARSE,        /* unparseable or oversized answer */
    TG_ERR_IO,           /* local file read/unlink failed */
    TG_ERR_CANCELLED,
};

struct tg_result {
    enum tg_status status;
    int http_status;     /* 0 when no answer arrived */
    int error_code;      /* from the JSON envelope, 0 if none */
    int retry_after;     /* seconds, from parameters.retry_after or Retry-After; 0 if none */
    int attempts;        /* how many HTTP attempts were made */
    char description[TG_MAX_DESCRIPTION]; /* from the envelope or curl; never contains the token */
    int maybe_posted;    /* sends only: some attempt's request was fully sent but its answer was lost,
                            so a message may exist that the caller was not told about */
};

const char *tg_status_name(enum tg_status s);
/* The one rule for "is this failure temporary": 1 when the same request may
 * succeed later, or through another bot or chat (rate limits, lost
 * connections, answers that are not the Bot API's, the server's own 5xx
 * trouble, a download it has not finished); 0 for a refusal of the request
 * itself (bad token, missing chat or message, too big) and for success.
 * Callers decide what to do with it: retry, try another pair, answer 503. */
int tg_result_temporary(const struct tg_result *res);
/* 1 when res refuses the request because of the chat itself, for this bot:
 * deleted or banned ("chat not found"), the bot kicked or not a member, or
 * without the right to post. Not temporary, but another chat may do. */
int tg_result_chat_refused(const struct tg_result *res);

enum tg_mode { TG_MODE_LOCAL = 0, TG_MODE_CLOUD };

struct tg_config {
    const char *api_url;     /* "http://127.0.0.1:8081" (no trailing slash), copied */
    enum tg_mode mode;
    int max_attempts;        /* total tries for retryable failures; default 5 */
    int max_retry_wait;      /* seconds: a 429 asking for longer is returned, not waited; default 60 */
    long connect_timeout_ms; /* default 10000 */
    long timeout_ms;         /* whole transfer; default 600000 */
    int max_connections;     /* curl CURLMOPT_MAX_TOTAL_CONNECTIONS; default 64 */
    int send_no_wait_429;    /* sendDocument returns every 429 at once (a scheduler re-places the post) */
};

struct tg_client;
struct tg_call;

/* Creates a client on loop (the caller's thread owns both). cfg is copied.
 * Returns NULL if curl cannot be initialised. */
struct tg_client *tg_client_new(uv_loop_t *loop, const struct tg_config *cfg);
/* Cancels every outstanding call (their callbacks are not called), then frees.
 * The loop must be run afterwards until the client's handles have closed
 * (uv_run(loop, UV_RUN_DEFAULT) returns). tg_client_free(NULL) is a no-op. */
void tg_client_free(struct tg_client *c);
/* Number of calls in flight (for metrics and shutdown). */
size_t tg_client_inflight(const struct tg_client *c);

/* Counters for the gateway's metrics (the library itself never logs).
 * Every HTTP attempt is counted once by method and outcome; a download of
 * file bytes (cloud mode) counts as the method "download". */
#define TG_STATS_METHODS 10
#define TG_STATS_RESULTS (TG_ERR_CANCELLED + 1)
struct tg_stats {
    uint64_t calls[TG_STATS_METHODS][TG_STATS_RESULTS]; /* attempts by method index and enum tg_status */
    uint64_t rate_limited; /* 429 answers */
    uint64_t wait_ms;      /* ms: retry_after waits taken after 429 answers */
};
/* Copies the client's counters into out (loop thread). */
void tg_client_stats(const struct tg_client *c, struct tg_stats *out);
/* Name of method index i < TG_STATS_METHODS ("getMe", "sendDocument", …, "other"). */
const char *tg_stats_method_name(size_t i);

/* Cancels a call: its callback will not run; its resources are released.
 * Safe to call from inside other callbacks; not from the call's own callback. */
void tg_call_cancel(struct tg_call *call);

/* ---- methods ---------------------------------------------------------------- */

struct tg_bot_info {
    int64_t id;
    char username[64];
    char first_name[128];
};
typedef void (*tg_get_me_cb)(void *ud, const struct tg_result *res, const struct tg_bot_info *bot);
struct tg_call *tg_get_me(struct tg_client *c, const char *token, tg_get_me_cb cb, void *ud);
/* getMe that ends within timeout_ms (> 0) instead of the client's timeout_ms:
 * one deadline bounds every attempt and retry wait, and a call that reaches
 * it ends with TG_ERR_TRANSPORT. For liveness probes, which must notice a
 * server that accepts connections but never answers; a timed-out attempt
 * closes only its own connection. */
struct tg_call *tg_get_me_within(struct tg_client *c, const char *token, long timeout_ms, tg_get_me_cb cb,
                                 void *ud);

struct tg_document {
    int64_t chat_id;
    int64_t message_id;
    int64_t date;            /* unix seconds */
    int64_t file_size;       /* bytes */
    char file_id[TG_MAX_FILE_ID];
    char file_unique_id[TG_MAX_UNIQUE_ID];
    char caption[4 * TG_MAX_CAPTION + 1]; /* UTF-8 */
    int64_t forward_from_message_id;      /* a forwarded copy: the original's id (0: not a forward) */
};

typedef void (*tg_send_cb)(void *ud, const struct tg_result *res, const struct tg_document *doc);

/* sendDocument with a multipart file part read from data[0..len). data must
 * stay valid and unchanged until the callback runs or the call is cancelled.
 * filename is sent as the part's filename; caption may be NULL. Always sends
 * disable_content_type_detection=true, an empty Expect: header. len == 0 →
 * immediate TG_ERR_API callback (Telegram refuses empty files). */
struct tg_call *tg_send_document(struct tg_client *c, const char *token, int64_t chat_id, const void *data,
                                 size_t len, const char *filename, const char *caption, tg_send_cb cb,
                                 void *ud);
/* A document sent from several pieces of memory, in order (a shard's header,
 * body and tag): the same as tg_send_document of their concatenation. */
#define TG_MAX_IOV 4
struct tg_iov {
    const void *base;
    size_t len;
};
struct tg_call *tg_send_document_iov(struct tg_client *c, const char *token, int64_t chat_id,
                                     const struct tg_iov *iov, int n_iov, const char *filename, const char *caption,
                                     tg_send_cb cb, void *ud);
/* sendDocument by "file://<abs path>" (local mode only): the server reads the file. */
struct tg_call *tg_send_document_path(struct tg_client *c, const char *token, int64_t chat_id, const char *path,
                                      const char *caption, tg_send_cb cb, void *ud);

/* Fetches a document's bytes: getFile, then in local mode reads the absolute
 * file_path from disk (uv_fs) and unlinks it; in cloud mode downloads
 * /file/bot<token>/<file_path>. Retries "wrong file_id or the file is
 * temporarily unavailable". expected_size (≥ 0) is checked; max_size bounds
 * the buffer. On success the callback receives a buffer it owns, from
 * bigbuf_new: it goes back through bigbuf_free (common.h), never free(). */
typedef void (*tg_fetch_cb)(void *ud, const struct tg_result *res, unsigned char *data, size_t len);
struct tg_call *tg_fetch_file(struct tg_client *c, const char *token, const char *file_id, int64_t expected_size,
                              size_t max_size, tg_fetch_cb cb, void *ud);

typedef void (*tg_bool_cb)(void *ud, const struct tg_result *res);
/* deleteMessages (1..100 ids); missing messages are skipped by the server. */
struct tg_call *tg_delete_messages(struct tg_client *c, const char *token, int64_t chat_id, const int64_t *ids,
                                   size_t n, tg_bool_cb cb, void *ud);
struct tg_call *tg_delete_message(struct tg_client *c, const char *token, int64_t chat_id, int64_t message_id,
                                  tg_bool_cb cb, void *ud);
struct tg_call *tg_pin_message(struct tg_client *c, const char *token, int64_t chat_id, int64_t message_id,
                               tg_bool_cb cb, void *ud);

/* forwardMessage: the forwarded copy's document (with a file_id for this bot). */
struct tg_call *tg_forward_message(struct tg_client *c, const char *token, int64_t to_chat_id,
                                   int64_t from_chat_id, int64_t message_id, tg_send_cb cb, void *ud);

struct tg_chat_info {
    int64_t id;
    char type[16];
    char title[256];
    int has_pinned;             /* 1 if pinned_message with a document was present */
    struct tg_document pinned;  /* valid when has_pinned */
};
typedef void (*tg_get_chat_cb)(void *ud, const struct tg_result *res, const struct tg_chat_info *chat);
struct tg_call *tg_get_chat(struct tg_client *c, const char *token, int64_t chat_id, tg_get_chat_cb cb, void *ud);

/* getChatMember: the bot's own membership in a chat (start-up rights check). */
struct tg_chat_member {
    char status[24];          /* "creator", "administrator", "member", "left", "kicked", … */
    int can_post_messages;    /* channels: may post */
    int can_edit_messages;
    int can_delete_messages;
};
typedef void (*tg_chat_member_cb)(void *ud, const struct tg_result *res, const struct tg_chat_member *m);
struct tg_call *tg_get_chat_member(struct tg_client *c, const char *token, int64_t chat_id, int64_t user_id,
                                   tg_chat_member_cb cb, void *ud);

/* ---- bot × chat pool: the upload scheduler (pool.c) ------------------------ *
 *
 * Pure bookkeeping, no I/O and no clock of its own: every call takes the
 * caller's monotonic time in ms, so it is tested without a network. Token
 * buckets per (bot, chat) pair (posts per minute), per bot (posts per second)
 * and per chat (posts per minute, all bots together), or with cfg.window a
 * sliding window per pair (Telegram's rule: pair_per_min posts in any 60 s,
 * so a burst, then as the window frees) whose allowance adapts to the 429s
 * seen; a 429 pauses the pair it came from, and the whole bot when its retry_after is short (the per-second
 * limit). The caller asks tg_pool_pick for the pair that can post soonest,
 * posts there after tg_pool_take, and reports 429s with tg_pool_pause. Chats
 * can be closed for new posts (rollover). One thread (the loop's) owns a pool.
 */
struct tg_pool_config {
    size_t n_bots, n_chats;
    double pair_per_min; /* posts per (bot, chat) per minute; default 20 */
    double pair_burst;   /* posts a pair may save up; default 1 (steady pacing); unused with window */
    int window;          /* 1: a pair may make pair_per_min posts in any 60 s (a burst, then as the window
                            frees), an allowance that a 429 halves and each quiet window grows by one */
    double bot_per_sec;  /* posts per bot per second; default 30 (burst: one second's worth) */
    double chat_per_min; /* posts per chat per minute over all bots; 0 = no limit */
};
struct tg_pool_stats {
    uint64_t posts;       /* tokens taken */
    uint64_t rate_limited; /* 429s reported */
};
struct tg_pool;
struct tg_pool *tg_pool_new(const struct tg_pool_config *cfg, int64_t now_ms);
void tg_pool_free(struct tg_pool *p); /* NULL ok */
/* The open pair that can post soonest: *bot, *chat set; returns the ms to wait
 * before it may post (0 = now), or -1 when no chat is open. Ties go
 * round-robin so load spreads over all pairs. */
int64_t tg_pool_pick(struct tg_pool *p, int64_t now_ms, size_t *bot, size_t *chat);
/* The same among the chats c with avoid[c] == 0 (avoid: one byte per chat, or NULL):
 * the shards of one stripe go to different chats. */
int64_t tg_pool_pick_avoid(struct tg_pool *p, int64_t now_ms, const unsigned char *avoid, size_t *bot, size_t *chat);
/* Ms until (bot, chat) may post, ignoring whether the chat is open. */
int64_t tg_pool_wait(struct tg_pool *p, size_t bot, size_t chat, int64_t now_ms);
/* Spends one post of the pair, its bot and its chat (may go into debt). */
void tg_pool_take(struct tg_pool *p, size_t bot, size_t chat, int64_t now_ms);
/* A 429 with retry_after seconds (≥ 1 used when 0) from a post by bot into chat.
 * With cfg.window it also halves the pair's allowance (floor 1, at most once a
 * window); each window after without a 429 gives one post back. */
void tg_pool_pause(struct tg_pool *p, size_t bot, size_t chat, int retry_after, int64_t now_ms);
/* Rollover: a closed chat is never picked again (until reopened). */
void tg_pool_set_chat_open(struct tg_pool *p, size_t chat, int open);
int tg_pool_chat_is_open(const struct tg_pool *p, size_t chat);
size_t tg_pool_open_chats(const struct tg_pool *p);
/* Posts per minute the open pairs sustain together (the rate model). */
double tg_pool_rate_per_min(const struct tg_pool *p);
struct tg_pool_stats tg_pool_pair_stats(const struct tg_pool *p, size_t bot, size_t chat);
/* Posts the pair may make in one window at now_ms (cfg.window; without it the pair's burst). */
int tg_pool_pair_allowance(const struct tg_pool *p, size_t bot, size_t chat, int64_t now_ms);
/* 429s reported over all pairs. */
uint64_t tg_pool_rate_limited(const struct tg_pool *p);

/* ---- pure helpers (tested without a network) ------------------------------ */

/* Parses a Bot API answer (status + body + Retry-After header value or NULL).
 * On success *result_out receives a new reference to the "result" JSON value
 * (json_t *, caller json_decref's) when result_out is non-NULL. */
void tg_parse_answer(int http_status, const char *body, size_t len, const char *retry_after_hdr,
                     struct tg_result *res, void **result_out);
/* Fills doc from a Message JSON object (json_t *); returns 0 or -1 if it holds no document. */
int tg_parse_message(const void *message_json, struct tg_document *doc);

#endif
