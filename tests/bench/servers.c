/* servers.c — tgs3-bench's servers: tgs3-botapi and tgs3 on free loopback ports, and what they say about themselves.
 *
 * Every run of the benchmark starts its emulators, gateways and nginx here, with
 * one set of fixed credentials, bot tokens and chat ids, under the run's
 * temporary directory; an emulator's documents go to the disk or to a RAM
 * store on tmpfs, and bench_stop_emulator removes them at once (tmpfs pages
 * stay taken until their files go; the disk is not filled run after run). The emulator's /_emulator/stats and the
 * gateway's index (read-only) tell the Telegram-shaped rows what happened.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "common/common.h"
#include "tests/bench/bench.h"

#define AK "TGS3BENCHACCESSKEY01"
#define SK "tgs3BenchSecretKey0123456789abcdefghijklm"

static const char *const chats[BENCH_MAX_CHATS] = {
    "-1001000000001", "-1001000000002", "-1001000000003", "-1001000000004",
    "-1001000000005", "-1001000000006", "-1001000000007", "-1001000000008",
};

const char *bench_chat(int i)
{
    return i >= 0 && i < BENCH_MAX_CHATS ? chats[i] : chats[0];
}

int bench_ram_room(int64_t need)
{
    struct statvfs vs;
    long avail_kb = bench_mem_available_kb();
    return statvfs("/dev/shm", &vs) == 0 && (double)vs.f_bavail * (double)vs.f_frsize >= 1.25 * (double)need &&
           avail_kb > 0 && (double)avail_kb * 1024.0 >= 2.0 * (double)need;
}

static void ram_path(const struct bench_env *env, const char *name, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s/%s", env->ram_dir, name);
}

int bench_start_emulator(const struct bench_env *env, struct bench_server *s, const char *name,
                         const struct bench_emu_opts *o)
{
    char listen[64], dir[4300], ram_s[32], doc_s[32], bw_s[32], exe[4200];
    int ram = o->ram_bytes > 0 && env->ram_dir[0];
    snprintf(s->dir, sizeof(s->dir), "%s/%s", env->root, name);
    mkdir(s->dir, 0755);
    if (ram)
        ram_path(env, name, dir, sizeof(dir));
    else
        snprintf(dir, sizeof(dir), "%s/docs", s->dir);
    snprintf(s->log, sizeof(s->log), "%s/botapi.log", s->dir);
    s->port = bench_free_port();
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", s->port);
    snprintf(exe, sizeof(exe), "%s/tgs3-botapi", env->bindir);
    char *argv[24 + 2 * BENCH_MAX_CHATS];
    int a = 0;
    argv[a++] = exe;
    argv[a++] = (char *)"--listen";
    argv[a++] = listen;
    argv[a++] = (char *)"--dir";
    argv[a++] = dir;
    argv[a++] = (char *)"--local";
    for (int i = 0; i < o->nchats && i < BENCH_MAX_CHATS; i++) {
        argv[a++] = (char *)"--chat";
        argv[a++] = (char *)chats[i];
    }
    if (!o->limits) { /* the emulator enforces Telegram's limits unless told otherwise */
        argv[a++] = (char *)"--rate-chat";
        argv[a++] = (char *)"0";
        argv[a++] = (char *)"--rate-bot";
        argv[a++] = (char *)"0";
    }
    if (o->bandwidth > 0) {
        snprintf(bw_s, sizeof(bw_s), "%lld", (long long)o->bandwidth);
        argv[a++] = (char *)"--bandwidth";
        argv[a++] = bw_s;
    }
    int wait_s = 30;
    if (ram) {
        snprintf(ram_s, sizeof(ram_s), "%lld", (long long)o->ram_bytes);
        argv[a++] = (char *)"--store-ram";
        argv[a++] = ram_s;
        if (o->ram_doc > 0) {
            snprintf(doc_s, sizeof(doc_s), "%lld", (long long)o->ram_doc);
            argv[a++] = (char *)"--store-ram-doc";
            argv[a++] = doc_s;
        }
        wait_s += (int)(o->ram_bytes >> 30) * 10; /* it touches that memory before it listens */
    }
    argv[a] = NULL;
    if (bench_spawn(&s->proc, "tgs3-botapi", argv, s->log) != 0)
        return -1;
    snprintf(s->host_port, sizeof(s->host_port), "127.0.0.1:%d", s->port);
    return bench_wait_port(&s->proc, s->port, wait_s, s->log);
}

void bench_stop_emulator(const struct bench_env *env, struct bench_server *s, const char *name)
{
    char dir[4300];
    struct stat st;
    bench_stop(&s->proc);
    if (env->ram_dir[0])
        ram_path(env, name, dir, sizeof(dir));
    else
        dir[0] = '\0';
    if (dir[0] && stat(dir, &st) == 0 && bench_remove_tree(dir) != 0)
        bench_progress("could not remove %s", dir);
    /* The documents on the disk go too (its log stays): a run keeps at most one emulator's worth. */
    snprintf(dir, sizeof(dir), "%s/docs", s->dir);
    if (s->dir[0] && stat(dir, &st) == 0 && bench_remove_tree(dir) != 0)
        bench_progress("could not remove %s", dir);
}

int bench_start_gateway(const struct bench_env *env, struct bench_server *s, const char *name,
                        const struct bench_server *emu, const struct bench_gw_opts *o)
{
    char listen[64], url[64], exe[4200], data[4300], staging[4300], bs[32];
    char tokens[BENCH_MAX_BOTS][64];
    snprintf(s->dir, sizeof(s->dir), "%s/%s", env->root, name);
    mkdir(s->dir, 0755);
    snprintf(data, sizeof(data), "%s/data", s->dir);
    snprintf(staging, sizeof(staging), "%s/staging", s->dir);
    mkdir(staging, 0755);
    snprintf(s->log, sizeof(s->log), "%s/tgs3.log", s->dir);
    snprintf(exe, sizeof(exe), "%s/tgs3", env->bindir);
    snprintf(url, sizeof(url), "http://%s", emu->host_port);
    snprintf(bs, sizeof(bs), "%lld", (long long)o->block_size);
    s->port = bench_free_port();
    snprintf(listen, sizeof(listen), "127.0.0.1:%d", s->port);
    char *argv[96];
    int a = 0;
    const char *const fixed[] = {"serve", "--listen", listen, "--data-dir", data, "--botapi-url", url,
                                 "--mode", "local", "--staging-dir", staging,
                                 "--access-key", AK, "--secret-key", SK, "--admin-listen", "off",
                                 "--log-level", "warn", "--snapshot-interval", "0", "--shutdown-grace", "5"};
    argv[a++] = exe;
    for (size_t i = 0; i < ARRAY_SIZE(fixed); i++)
        argv[a++] = (char *)fixed[i];
    if (o->block_size > 0) {
        argv[a++] = (char *)"--block-size";
        argv[a++] = bs;
    }
    for (int i = 0; i < o->nbots && i < BENCH_MAX_BOTS; i++) {
        snprintf(tokens[i], sizeof(tokens[i]), "%d:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", 123456780 + i);
        argv[a++] = (char *)"--bot-token";
        argv[a++] = tokens[i];
    }
    for (int i = 0; i < o->nchats && i < BENCH_MAX_CHATS; i++) {
        argv[a++] = (char *)"--chat-id";
        argv[a++] = (char *)chats[i];
    }
    for (size_t i = 0; o->extra && o->extra[i] && a < (int)ARRAY_SIZE(argv) - 1; i++)
        argv[a++] = (char *)o->extra[i];
    argv[a] = NULL;
    if (bench_spawn(&s->proc, "tgs3", argv, s->log) != 0)
        return -1;
    snprintf(s->host_port, sizeof(s->host_port), "127.0.0.1:%d", s->port);
    s->t.host_port = s->host_port;
    s->t.access_key = AK;
    s->t.secret_key = SK;
    return bench_wait_port(&s->proc, s->port, 60, s->log);
}

int64_t bench_gw_default_block(const struct bench_env *env)
{
    char cmd[4300], line[512];
    int64_t v = -1;
    snprintf(cmd, sizeof(cmd), "'%s/tgs3' serve --help 2>&1", env->bindir);
    FILE *fp = popen(cmd, "r");
    if (fp == NULL)
        return -1;
    while (fgets(line, sizeof(line), fp) != NULL) {
        char *d = strstr(line, "(default ");
        if (strstr(line, "--block-size ") == NULL || d == NULL)
            continue;
        d += strlen("(default ");
        if (strncmp(d, "auto)", 5) == 0 && (d = strstr(line, "auto: ")) != NULL) /* the local mode's */
            d += strlen("auto: ");
        d[strcspn(d, " ;,)")] = '\0';
        v = parse_size(d);
    }
    pclose(fp);
    return v > 0 ? v : -1;
}

int bench_start_nginx(const struct bench_env *env, struct bench_server *s, const char *name)
{
    char conf[4400], docroot[4300], cmd[9000];
    snprintf(s->dir, sizeof(s->dir), "%s/%s", env->root, name);
    snprintf(docroot, sizeof(docroot), "%s/www", s->dir);
    snprintf(cmd, sizeof(cmd), "mkdir -p '%s/tmp' '%s/www/bench'", s->dir, s->dir);
    if (system(cmd) != 0)
        return -1;
    s->port = bench_free_port();
    snprintf(conf, sizeof(conf), "%s/nginx.conf", s->dir);
    snprintf(s->log, sizeof(s->log), "%s/nginx.log", s->dir);
    FILE *fp = fopen(conf, "w");
    if (fp == NULL)
        return -1;
    fprintf(fp,
            "worker_processes 1;\n"
            "daemon off;\nmaster_process off;\n"
            "pid %s/nginx.pid;\nerror_log %s warn;\n"
            "events { worker_connections 1024; }\n"
            "http {\n"
            "  access_log off;\n"
            "  sendfile on; tcp_nopush on; tcp_nodelay on;\n"
            "  keepalive_requests 1000000; keepalive_timeout 300s;\n"
            "  client_body_temp_path %s/tmp/body; proxy_temp_path %s/tmp/proxy;\n"
            "  fastcgi_temp_path %s/tmp/fcgi; uwsgi_temp_path %s/tmp/uwsgi; scgi_temp_path %s/tmp/scgi;\n"
            "  client_max_body_size 0; client_body_buffer_size 64k;\n"
            "  server {\n"
            "    listen 127.0.0.1:%d;\n"
            "    root %s;\n"
            "    location / { dav_methods PUT; create_full_put_path on; dav_access user:rw; }\n"
            "  }\n"
            "}\n",
            s->dir, s->log, s->dir, s->dir, s->dir, s->dir, s->dir, s->port, docroot);
    fclose(fp);
    char *argv[] = {(char *)"/usr/sbin/nginx", (char *)"-p", s->dir, (char *)"-c", conf, (char *)"-e", s->log, NULL};
    if (bench_spawn(&s->proc, "nginx", argv, s->log) != 0)
        return -1;
    snprintf(s->host_port, sizeof(s->host_port), "127.0.0.1:%d", s->port);
    s->t.host_port = s->host_port;
    return bench_wait_port(&s->proc, s->port, 20, s->log);
}

/* ---- requests ------------------------------------------------------------------ */

/* r set for n requests of size bytes to path on s at concurrency conc, bodies from env. */
static void run_init(const struct bench_env *env, struct bench_run *r, const struct bench_server *s,
                     enum bench_method m, int conc, size_t n, const char *path, uint64_t size)
{
    memset(r, 0, sizeof(*r));
    r->t = &s->t;
    r->method = m;
    r->concurrency = conc;
    r->n = n;
    r->path = path;
    r->size = size;
    r->data = env->bodies;
    r->data_len = env->bodies_len;
    r->shift = (size_t)rand() % env->bodies_len; /* request i's body starts at shift + i * 4099, circularly */
}

void bench_request(const struct bench_env *env, struct bench_run *r, const struct bench_server *s,
                   enum bench_method m, int conc, size_t n, const char *path, uint64_t size)
{
    run_init(env, r, s, m, conc, n, path, size);
    bench_http_run(r);
    if (r->errors > 0)
        bench_progress("%s %s%s on %s: %zu of %zu failed (first: %ld)",
                       m == BENCH_PUT ? "PUT" : m == BENCH_GET ? "GET" : "HEAD", path, r->single ? "" : "N",
                       s->host_port, r->errors, r->done, r->first_error);
}

void bench_put_signed(const struct bench_env *env, struct bench_run *r, const struct bench_server *s,
                      const char *path, uint64_t size)
{
    static char hex[65];
    unsigned char md[32];
    unsigned int n = 0;
    run_init(env, r, s, BENCH_PUT, 1, 1, path, size); /* request 0's body starts at r->shift */
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
    for (uint64_t done = 0; ok && done < size;) {
        size_t at = (size_t)((r->shift + done) % r->data_len), k = r->data_len - at;
        if (k > size - done)
            k = (size_t)(size - done);
        ok = EVP_DigestUpdate(ctx, r->data + at, k);
        done += k;
    }
    ok = ok && EVP_DigestFinal_ex(ctx, md, &n);
    EVP_MD_CTX_free(ctx);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    r->payload_sha256 = ok ? hex : NULL;
    bench_http_run(r);
    if (r->errors > 0)
        bench_progress("PUT %s (signed payload) on %s: failed (first: %ld)", path, s->host_port, r->first_error);
}

double bench_mibs(const struct bench_run *r)
{
    return r->secs > 0 ? (double)(r->bytes) / BENCH_MIB / r->secs : 0;
}

double bench_ops(const struct bench_run *r)
{
    return r->secs > 0 ? (double)(r->done - r->errors) / r->secs : 0;
}

int bench_make_bucket(const struct bench_env *env, const struct bench_server *s)
{
    struct bench_run r;
    memset(&r, 0, sizeof(r));
    r.t = &s->t;
    r.method = BENCH_PUT;
    r.concurrency = 1;
    r.n = 1;
    r.path = "/bench";
    r.single = 1;
    r.data = env->bodies;
    r.data_len = env->bodies_len;
    bench_http_run(&r);
    int rc = r.errors ? -1 : 0;
    if (rc)
        bench_progress("cannot create bucket on %s (status %ld)", s->host_port, r.first_error);
    bench_run_release(&r);
    return rc;
}

/* ---- what the servers say ---------------------------------------------------------- */

long bench_unposted(const struct bench_server *gw)
{
    char path[4400];
    sqlite3 *db = NULL;
    sqlite3_stmt *s = NULL;
    long n = -1;
    snprintf(path, sizeof(path), "%s/data/index.db", gw->dir);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT count(*) FROM blocks WHERE chat_id = 0 AND refcount > 0", -1, &s, NULL) ==
            SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW)
        n = (long)sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return n;
}

static size_t on_stats(char *p, size_t sz, size_t n, void *ud)
{
    struct dbuf *b = ud;
    return dbuf_add(b, p, sz * n) == 0 ? sz * n : 0;
}

json_t *bench_emu_stats(const struct bench_server *emu)
{
    char url[128];
    struct dbuf b;
    json_t *j = NULL;
    dbuf_init(&b, 1 << 20);
    snprintf(url, sizeof(url), "http://%s/_emulator/stats", emu->host_port);
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_stats);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
    if (curl_easy_perform(e) == CURLE_OK)
        j = json_loadb(b.ptr, b.len, 0, NULL);
    curl_easy_cleanup(e);
    dbuf_release(&b);
    return j;
}

long bench_emu_messages(const struct bench_server *emu, int chat)
{
    long n = -1;
    json_t *j = bench_emu_stats(emu);
    json_t *m = json_object_get(json_object_get(json_object_get(j, "chats"), bench_chat(chat)), "messages");
    if (json_is_integer(m))
        n = (long)json_integer_value(m);
    json_decref(j);
    return n;
}

void bench_emu_pairs(const struct bench_server *emu, struct bench_pairs *out)
{
    memset(out, 0, sizeof(*out));
    json_t *j = bench_emu_stats(emu);
    json_t *pairs = json_object_get(j, "pairs");
    size_t i;
    json_t *p;
    json_array_foreach(pairs, i, p)
    {
        long posts = (long)json_integer_value(json_object_get(p, "posts"));
        long pk = (long)json_integer_value(json_object_get(p, "peak_60s"));
        out->used += posts > 0;
        out->posts += posts;
        out->most = posts > out->most ? posts : out->most;
        out->peak = pk > out->peak ? pk : out->peak;
        out->too_many += (long)json_integer_value(json_object_get(p, "too_many"));
    }
    json_decref(j);
}
