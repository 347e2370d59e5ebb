/* server.c — the S3 front door: h2o listener, connections, and dispatch to the operations.
 *
 * DESIGN: one h2o context on the gateway's loop. HTTP/1.1 only (no h2c
 * upgrade): h2o 2.2 buffers whole bodies and stops reading the socket while a
 * request is processed, which is what keeps req->entity valid for the body
 * pipeline (engine/put.c), and lets the intake (intake.c) read a large PUT's body
 * itself, as the engine asks for it. Limits set here: max body (--max-body), the request
 * timeout (--req-timeout; it also bounds keep-alive idle time), body spill
 * files in <data-dir>/tmp, and at most --max-connections connections (new
 * ones beyond are closed at once).
 *
 * Each request: its context (http/req.c), the intake's verdict on its head,
 * routing, CORS (ops/cors.c: preflights answered, headers for an Origin),
 * who is asking (http/auth.c: a user or anonymous; a POST form carries its
 * own credentials, ops/post.c), what they may do (http/access.c, by the
 * ACLs), then the operation (ops/).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gateway/gw.h"
#include "gateway/http/acl.h"
#include "gateway/ops/handlers.h"

static void dispatch(struct gw_req *r)
{
    switch (r->route.op) {
    case S3_OP_LIST_BUCKETS: gw_op_list_buckets(r); return;
    case S3_OP_CREATE_BUCKET: gw_op_create_bucket(r); return;
    case S3_OP_DELETE_BUCKET: gw_op_delete_bucket(r); return;
    case S3_OP_HEAD_BUCKET: gw_op_head_bucket(r); return;
    case S3_OP_GET_BUCKET_LOCATION: gw_op_get_bucket_location(r); return;
    case S3_OP_GET_BUCKET_TAGGING: gw_op_bucket_stub(r); return;
    case S3_OP_GET_BUCKET_ACL:
    case S3_OP_GET_OBJECT_ACL: gw_op_get_acl(r); return;
    case S3_OP_PUT_BUCKET_ACL:
    case S3_OP_PUT_OBJECT_ACL: gw_op_put_acl(r); return;
    case S3_OP_GET_PUBLIC_ACCESS_BLOCK:
    case S3_OP_PUT_PUBLIC_ACCESS_BLOCK:
    case S3_OP_DELETE_PUBLIC_ACCESS_BLOCK: gw_op_public_access_block(r); return;
    case S3_OP_LIST_OBJECTS:
    case S3_OP_LIST_OBJECTS_V2: gw_op_list_objects(r); return;
    case S3_OP_DELETE_OBJECTS: gw_op_delete_objects(r); return;
    case S3_OP_PUT_OBJECT: gw_op_put_object(r); return;
    case S3_OP_GET_OBJECT:
    case S3_OP_HEAD_OBJECT: gw_op_get_object(r); return;
    case S3_OP_DELETE_OBJECT: gw_op_delete_object(r); return;
    case S3_OP_GET_OBJECT_TAGGING: gw_op_get_object_tagging(r); return;
    case S3_OP_PUT_OBJECT_TAGGING: gw_op_put_object_tagging(r); return;
    case S3_OP_DELETE_OBJECT_TAGGING: gw_op_delete_object_tagging(r); return;
    case S3_OP_LIST_OBJECT_VERSIONS: gw_op_list_versions(r); return;
    case S3_OP_CREATE_MULTIPART_UPLOAD: gw_op_create_multipart(r); return;
    case S3_OP_UPLOAD_PART: gw_op_upload_part(r); return;
    case S3_OP_COMPLETE_MULTIPART_UPLOAD: gw_op_complete_multipart(r); return;
    case S3_OP_ABORT_MULTIPART_UPLOAD: gw_op_abort_multipart(r); return;
    case S3_OP_LIST_PARTS: gw_op_list_parts(r); return;
    case S3_OP_LIST_MULTIPART_UPLOADS: gw_op_list_uploads(r); return;
    case S3_OP_COPY_OBJECT: gw_op_copy_object(r); return;
    case S3_OP_UPLOAD_PART_COPY: gw_op_upload_part_copy(r); return;
    case S3_OP_GET_BUCKET_CORS: gw_op_get_bucket_cors(r); return;
    case S3_OP_PUT_BUCKET_CORS: gw_op_put_bucket_cors(r); return;
    case S3_OP_DELETE_BUCKET_CORS: gw_op_delete_bucket_cors(r); return;
    case S3_OP_GET_OBJECT_ATTRIBUTES: gw_op_get_object_attributes(r); return;
    case S3_OP_GET_BUCKET_VERSIONING: gw_op_get_bucket_versioning(r); return;
    case S3_OP_PUT_BUCKET_VERSIONING: gw_op_put_bucket_versioning(r); return;
    case S3_OP_GET_OBJECT_LOCK_CONFIGURATION: gw_op_get_object_lock_configuration(r); return;
    case S3_OP_PUT_OBJECT_LOCK_CONFIGURATION: gw_op_put_object_lock_configuration(r); return;
    case S3_OP_GET_OBJECT_RETENTION: gw_op_get_object_retention(r); return;
    case S3_OP_PUT_OBJECT_RETENTION: gw_op_put_object_retention(r); return;
    case S3_OP_GET_OBJECT_LEGAL_HOLD: gw_op_get_object_legal_hold(r); return;
    case S3_OP_PUT_OBJECT_LEGAL_HOLD: gw_op_put_object_legal_hold(r); return;
    case S3_OP_GET_BUCKET_LIFECYCLE: gw_op_get_bucket_lifecycle(r); return;
    case S3_OP_PUT_BUCKET_LIFECYCLE: gw_op_put_bucket_lifecycle(r); return;
    case S3_OP_DELETE_BUCKET_LIFECYCLE: gw_op_delete_bucket_lifecycle(r); return;
    default:
        gw_respond_error(r, S3E_NOT_IMPLEMENTED, NULL);
        return;
    }
}

/* A routed request: who is asking, what they may do, then the operation. */
static void on_routed(struct gw_req *r)
{
    struct gw *gw = r->gw;
    if (r->route.op == S3_OP_POST_OBJECT) {
        gw_op_post_object(r); /* its credentials are fields of its form (ops/post.c) */
        return;
    }
    /* Who is asking: a user (a valid signature) or anonymous (none at all); a bad signature is refused. */
    enum s3_err e = gw_auth_identify(gw, &r->s3, &r->auth, &r->has_auth);
    if (e != S3E_OK) {
        gw_respond_error(r, e, NULL);
        return;
    }
    log_debug("req %s: %s %.*s", r->id, s3_op_name(r->route.op), (int)r->s3.path_len, r->s3.path);
    if (r->body != NULL && r->route.op != S3_OP_PUT_OBJECT && r->route.op != S3_OP_UPLOAD_PART) {
        gw_respond_error(r, S3E_ENTITY_TOO_LARGE, "only object and part bodies may be this large");
        return;
    }
    /* What they may do: the ACLs (http/access.c), then the operation. */
    gw_access_check(r, dispatch);
}

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    struct gw *gw = *(struct gw **)(self + 1);
    struct gw_req *r = gw_req_new(gw, req);

    /* A head the intake refused before reading its body (ambiguous framing,
     * failed authentication, no room to buffer the body): the body was left
     * unread, so the connection closes after this answer. */
    enum s3_err e = gw_intake_verdict(req);
    if (e != S3E_OK) {
        gw_respond_error(r, e, NULL);
        return 0;
    }
    e = s3_route_parse(&r->s3, gw->cfg.domain, &r->route);
    if (e != S3E_OK) {
        gw_respond_error(r, e, NULL);
        return 0;
    }
    /* CORS (ops/cors.c): a browser's preflight carries no credentials and is
     * answered from the bucket's rules; any other request with an Origin gets
     * its rule's headers on whatever answer it gets, errors included. */
    if (r->route.op == S3_OP_CORS_PREFLIGHT)
        gw_op_cors_preflight(r);
    else
        gw_cors_then(r, on_routed);
    return 0;
}

static void on_sock_closed(uv_handle_t *h)
{
    struct gw_conn *c = (struct gw_conn *)h;
    if (c->sock != NULL)
        gw_intake_unregister(c);
    c->gw->connections--;
    if (c->closing)
        c->gw->conns_closing--;
    if (c->prev)
        c->prev->next = c->next;
    else if (c->gw->conns == c)
        c->gw->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    free(c);
}

static void on_accept(uv_stream_t *listener, int status)
{
    struct gw *gw = listener->data;
    if (status != 0)
        return;
    struct gw_conn *c = xcalloc(1, sizeof(*c));
    c->gw = gw;
    uv_tcp_init(listener->loop, &c->tcp);
    gw->connections++;
    /* At the cap a new connection takes the place of the one idle longest;
     * only when every connection is busy with a request is it refused. */
    if (gw->connections - gw->conns_closing > gw->cfg.max_connections && !gw->stopping)
        gw_intake_make_room(gw);
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0 ||
        gw->connections - gw->conns_closing > gw->cfg.max_connections || gw->stopping) {
        uv_close((uv_handle_t *)&c->tcp, on_sock_closed);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    h2o_socket_t *sock = h2o_uv_socket_create((uv_stream_t *)&c->tcp, on_sock_closed);
    c->sock = sock;
    gw_intake_register(c);
    c->next = gw->conns;
    if (gw->conns)
        gw->conns->prev = c;
    gw->conns = c;
    h2o_accept(&gw->accept_ctx, sock);
    gw_intake_accepted(c);
}

int gw_server_start(struct gw *gw)
{
    char host[256];
    const char *colon = strrchr(gw->cfg.listen, ':');
    size_t hl = (size_t)(colon - gw->cfg.listen);
    if (hl >= sizeof(host))
        return -1;
    memcpy(host, gw->cfg.listen, hl);
    host[hl] = '\0';
    int port = parse_port(colon + 1);

    /* Spill large bodies into the data dir, not /tmp (often a tmpfs). */
    int tl = snprintf(h2o_socket_buffer_mmap_settings.fn_template, sizeof(h2o_socket_buffer_mmap_settings.fn_template),
                      "%s/tmp/h2o.b.XXXXXX", gw->cfg.data_dir);
    if (tl < 0 || (size_t)tl >= sizeof(h2o_socket_buffer_mmap_settings.fn_template)) {
        log_error("--data-dir path too long");
        return -1;
    }
    /* Bodies past 4 MiB live in a file-backed mapping: page cache, not anonymous memory. */
    h2o_socket_buffer_mmap_settings.threshold = 4u << 20;

    h2o_config_init(&gw->h2o_config);
    gw->h2o_config.server_name = h2o_iovec_init(H2O_STRLIT("tgs3"));
    /* Room for aws-chunked framing (about 90 bytes per 64 KiB chunk) on top of the largest body. */
    gw->h2o_config.max_request_entity_size = (size_t)gw->cfg.max_body + (size_t)(gw->cfg.max_body / 64) + 4096;
    gw->h2o_config.http1.req_timeout = (uint64_t)gw->cfg.req_timeout_ms;
    gw->h2o_config.http1.upgrade_to_http2 = 0;
    h2o_hostconf_t *hostconf = h2o_config_register_host(&gw->h2o_config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *pathconf = h2o_config_register_path(hostconf, "/", 0);
    h2o_handler_t *handler = h2o_create_handler(pathconf, sizeof(*handler) + sizeof(struct gw *));
    *(struct gw **)(handler + 1) = gw;
    handler->on_req = on_req;

    h2o_context_init(&gw->h2o_ctx, gw->loop, &gw->h2o_config);
    gw_intake_start(gw);
    gw_acl_public_refresh(gw);
    gw->accept_ctx.ctx = &gw->h2o_ctx;
    gw->accept_ctx.hosts = gw->h2o_config.hosts;

    struct sockaddr_in addr;
    uv_tcp_init(gw->loop, &gw->listener);
    gw->listener.data = gw;
    if (port < 0 || uv_ip4_addr(host, port, &addr) != 0) {
        log_error("--listen %s: not an IPv4 address and port", gw->cfg.listen);
        return -1;
    }
    int rc = uv_tcp_bind(&gw->listener, (const struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&gw->listener, 1024, on_accept);
    if (rc != 0) {
        log_error("cannot listen on %s: %s", gw->cfg.listen, uv_strerror(rc));
        return -1;
    }
    gw->listening = 1;
    return 0;
}

static void on_listener_closed(uv_handle_t *h)
{
    (void)h;
}

void gw_server_stop_accepting(struct gw *gw)
{
    if (gw->listening) {
        gw->listening = 0;
        uv_close((uv_handle_t *)&gw->listener, on_listener_closed);
        /* HTTP/1: connections close after their current response instead of staying alive. */
        h2o_context_request_shutdown(&gw->h2o_ctx);
    }
}

int gw_server_receiving(struct gw *gw)
{
    int n = 0;
    /* h2o keeps a request's bytes in sock->input until the request is done and
     * consumes them before the next one: an idle kept-alive connection holds
     * none, one whose headers or body are still arriving holds some. */
    for (struct gw_conn *c = gw->conns; c != NULL; c = c->next)
        if (c->sock != NULL && !uv_is_closing((uv_handle_t *)&c->tcp) && c->sock->input != NULL &&
            c->sock->input->size > 0)
            n++;
    return n;
}

/* Runs every entry of t now: for a connection's timeout that closes it. */
static void expire_all(struct gw *gw, h2o_timeout_t *t)
{
    if (!h2o_linklist_is_empty(&t->_entries))
        h2o_timeout_run(gw->loop, t, UINT64_MAX);
}

void gw_server_dispose(struct gw *gw)
{
    /* Connections still open at the end (idle keep-alive ones, or requests cut
     * by --shutdown-grace) sit in h2o's timeouts, and h2o_context_dispose
     * asserts those are empty: expire them, which closes the connections. */
    expire_all(gw, &gw->h2o_ctx.handshake_timeout);
    expire_all(gw, &gw->h2o_ctx.http1.req_timeout);
    expire_all(gw, &gw->h2o_ctx.http2.idle_timeout);
    expire_all(gw, &gw->h2o_ctx.zero_timeout);
    expire_all(gw, &gw->h2o_ctx.hundred_ms_timeout);
    expire_all(gw, &gw->h2o_ctx.one_sec_timeout);
    /* h2o_context_request_shutdown arms a one-second GOAWAY timer (HTTP/2); a
     * shutdown quicker than that must unlink it, or h2o_context_dispose asserts. */
    if (h2o_timeout_is_linked(&gw->h2o_ctx.http2._graceful_shutdown_timeout))
        h2o_timeout_unlink(&gw->h2o_ctx.http2._graceful_shutdown_timeout);
    h2o_context_dispose(&gw->h2o_ctx);
    gw_intake_stop(gw);
    gw_acl_public_free(gw);
    h2o_config_dispose(&gw->h2o_config);
    gw_cors_cache_free(gw);
}
