/* tg_int.h — internals shared by the telegram/ sources; not part of the public API.
 *
 * A struct tg_call is one logical Bot API operation (possibly several HTTP
 * attempts, and for tg_fetch_file several stages). client.c owns the curl
 * multi + libuv glue, the attempt lifecycle and the one retry policy;
 * methods.c builds requests and turns answers into the public result types;
 * fetch.c adds the getFile → read/unlink or download stages.
 */
#ifndef TGS3_TG_INT_H
#define TGS3_TG_INT_H

#include <curl/curl.h>
#include <jansson.h>

#include "telegram/tg.h"

enum call_kind { CALL_GET_ME, CALL_SEND, CALL_FORWARD, CALL_BOOL, CALL_GET_CHAT, CALL_FETCH, CALL_CHAT_MEMBER };

/* The sendDocument file part, read by curl straight from the caller's buffer. */
struct doc_part {
    struct tg_iov iov[TG_MAX_IOV]; /* the document is these pieces, in order */
    int n_iov;
    size_t len; /* bytes, all pieces */
    size_t pos; /* bytes already handed to curl in this attempt */
    int done;   /* the last byte was handed to curl in this attempt */
};

struct fetch_state {
    int64_t expected_size; /* bytes, or < 0 when unknown */
    size_t max_size;       /* bytes */
    char *path;            /* local mode: absolute file_path */
    uv_work_t work;        /* local mode: the read on libuv's pool */
    struct tg_call *call;  /* the call this state belongs to */
    unsigned char *buf;    /* bigbuf */
    size_t size;           /* bytes: the file's size from fstat */
    size_t got;            /* bytes read so far */
    struct tg_result res;  /* outcome of the local read, delivered after close/unlink */
    int vanished;          /* the local read found no file at path (another reader removed it) */
};

struct tg_client {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer; /* curl's timeout */
    struct tg_config cfg; /* cfg.api_url points at api_url */
    char *api_url;
    struct tg_call *calls; /* doubly linked list of calls in flight */
    size_t inflight;
    struct sock_ctx *socks; /* uv_poll watchers handed to curl */
    uint64_t rng;           /* xorshift state for backoff jitter */
    int closing;
    struct tg_stats stats;
};

struct tg_call {
    struct tg_client *c; /* NULL once detached from the client */
    uv_loop_t *loop;
    struct tg_call *prev, *next;
    enum call_kind kind;
    size_t method; /* index into the stats' method names */
    void *ud;
    union {
        tg_get_me_cb get_me;
        tg_send_cb send;
        tg_fetch_cb fetch;
        tg_bool_cb done;
        tg_get_chat_cb get_chat;
        tg_chat_member_cb chat_member;
    } cb;

    char *token; /* secret: cleansed on free */
    char *url;   /* contains the token: cleansed on free */
    char *json;  /* JSON request body, or NULL */
    size_t json_len;
    /* sendDocument multipart fields (json == NULL) */
    int has_doc;
    struct doc_part doc;
    int64_t chat_id;
    char *filename;
    char *caption;

    CURL *easy; /* non-NULL while an attempt is on the multi handle */
    curl_mime *mime;
    struct curl_slist *headers;
    struct dbuf answer;
    struct dbuf errbody; /* raw_answer stages: the body of a non-200 answer (JSON error) */
    int overflow;       /* the answer exceeded answer.max */
    char retry_hdr[16]; /* Retry-After header value of the current attempt, "" if none */

    int64_t deadline_ms; /* monotonic ms by which the call ends, whatever its attempts; 0: none */
    int attempts;       /* HTTP attempts over the call's life */
    int stage_attempts; /* HTTP attempts in the current stage that failed for another reason than a 429 */
    int stage_waits;    /* 429 answers waited out in the current stage */
    int maybe_posted;   /* a send attempt lost its answer after the request was fully sent */
    int requests;       /* requests curl sent in the current attempt (it re-sends on a dead reused connection) */
    int raw_answer;     /* the answer is file bytes (cloud download), not JSON */
    uv_timer_t *timer;  /* retry wait / deferred result; heap, freed in its close callback */
    int has_pending;    /* the timer delivers `pending` instead of retrying */
    struct tg_result pending;

    struct fetch_state *fetch;
    int fs_busy;   /* a local read runs on the pool: memory is freed from its completion */
    int cancelled; /* detached while fs_busy */
};

/* client.c */
struct tg_call *call_new(struct tg_client *c, enum call_kind kind, const char *token, const char *method,
                         void *ud);
/* Sets the JSON body (takes ownership of a json_t, decref'd here). */
void call_set_json(struct tg_call *call, json_t *body);
void call_start(struct tg_call *call);
/* Bounds the whole call (attempts, retry waits, stages) by timeout_ms from now; before call_start. */
void call_set_timeout(struct tg_call *call, long timeout_ms);
/* Replaces the URL and starts a fresh stage (attempt counter of the stage reset). */
void call_restart(struct tg_call *call, char *url);
/* Delivers res from the loop later (never synchronously from the starting function). */
void call_fail_later(struct tg_call *call, enum tg_status st, const char *desc);
/* Unlinks the call from its client: after this, tg_client_free will not see it. */
void call_detach(struct tg_call *call);
/* Releases everything (the call must be detached or being cancelled). */
void call_destroy(struct tg_call *call);
void result_set(struct tg_result *res, enum tg_status st, const char *desc);

/* methods.c: a final answer of a JSON stage (after retries) */
void call_on_answer(struct tg_call *call, struct tg_result *res, json_t *result);
/* Invokes the call's callback with an error and no payload, then destroys it. */
void call_finish_error(struct tg_call *call, struct tg_result *res);

/* fetch.c */
void fetch_on_file(struct tg_call *call, struct tg_result *res, json_t *file);
void fetch_on_download(struct tg_call *call, struct tg_result *res);
void fetch_release(struct tg_call *call);

/* Copies s into out[outsz], cutting at a UTF-8 character boundary (answer.c). */
void tg_copy_utf8(char *out, size_t outsz, const char *s);

#endif
