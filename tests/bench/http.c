/* http.c — tgs3-bench's load driver: N requests at a fixed concurrency on one libcurl multi handle.
 *
 * Requests to the gateway are signed with the project's own SigV4 code
 * (s3_sigv4_sign, UNSIGNED-PAYLOAD so the client spends no CPU hashing
 * bodies, or a payload hash computed before the clock starts);
 * requests to nginx go unsigned. Connections are kept alive. PUT
 * bodies are read from one buffer of random bytes, each request starting at
 * another offset so no two bodies share a block (the gateway deduplicates).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "s3/s3.h"
#include "tests/bench/bench.h"

struct slot {
    CURL *e;
    struct bench_run *r;
    size_t req;
    double t0;
    uint64_t pos;   /* body bytes sent */
    size_t start;   /* offset into r->data of this body */
    uint64_t got;   /* body bytes received */
    struct curl_slist *hdrs;
};

static pid_t rss_pid;
static long rss_peak;
static double rss_last;

void bench_rss_watch(pid_t pid)
{
    rss_pid = pid;
    rss_peak = 0;
}

void bench_rss_reset(void)
{
    rss_peak = 0;
}

long bench_rss_peak_kb(void)
{
    return rss_peak;
}

static void rss_sample(int force)
{
    double t = bench_now();
    if (rss_pid <= 0 || (!force && t - rss_last < 0.1))
        return;
    rss_last = t;
    long kb = bench_rss_anon_kb(rss_pid);
    if (kb > rss_peak)
        rss_peak = kb;
}

static size_t on_read(char *buf, size_t sz, size_t nmemb, void *ud)
{
    struct slot *s = ud;
    struct bench_run *r = s->r;
    size_t want = sz * nmemb;
    if ((uint64_t)want > r->size - s->pos)
        want = (size_t)(r->size - s->pos);
    size_t done = 0;
    while (done < want) {
        size_t at = (size_t)((s->start + s->pos) % r->data_len);
        size_t k = r->data_len - at;
        if (k > want - done)
            k = want - done;
        memcpy(buf + done, r->data + at, k);
        done += k;
        s->pos += k;
    }
    return done;
}

static size_t on_write(char *p, size_t sz, size_t nmemb, void *ud)
{
    struct slot *s = ud;
    (void)p;
    s->got += sz * nmemb;
    return sz * nmemb;
}

static int sign(struct bench_run *r, const char *method, const char *path, struct curl_slist **hdrs)
{
    char date[17], line[1200];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof(date), "%Y%m%dT%H%M%SZ", &tm);
    const char *payload = r->payload_sha256 != NULL ? r->payload_sha256 : "UNSIGNED-PAYLOAD";
    struct s3_header h[4] = {
        {"host", 4, r->t->host_port, strlen(r->t->host_port)},
        {"x-amz-content-sha256", 20, payload, strlen(payload)},
        {"x-amz-date", 10, date, 16},
    };
    size_t nh = 3;
    char signed_headers[160] = "host;x-amz-content-sha256;x-amz-date";
    const char *colon = r->header != NULL ? strchr(r->header, ':') : NULL;
    if (colon != NULL) { /* sorts between host and x-amz-content-sha256 for the x-amz-checksum-* names */
        const char *v = colon + 1;
        while (*v == ' ')
            v++;
        h[nh++] = (struct s3_header){r->header, (size_t)(colon - r->header), v, strlen(v)};
        snprintf(signed_headers, sizeof(signed_headers), "host;%.*s;x-amz-content-sha256;x-amz-date",
                 (int)(colon - r->header), r->header);
    }
    struct s3_request req = {method, strlen(method), path, strlen(path), NULL, 0, h, nh};
    struct dbuf auth;
    dbuf_init(&auth, 1024);
    int rc = s3_sigv4_sign(&req, r->t->access_key, r->t->secret_key, "us-east-1", date, payload, signed_headers,
                           &auth);
    if (rc == 0) {
        if (colon != NULL)
            *hdrs = curl_slist_append(*hdrs, r->header);
        snprintf(line, sizeof(line), "x-amz-content-sha256: %s", payload);
        *hdrs = curl_slist_append(*hdrs, line);
        snprintf(line, sizeof(line), "x-amz-date: %s", date);
        *hdrs = curl_slist_append(*hdrs, line);
        snprintf(line, sizeof(line), "Authorization: %.*s", (int)auth.len, auth.ptr);
        *hdrs = curl_slist_append(*hdrs, line);
    }
    dbuf_release(&auth);
    return rc;
}

static void start(CURLM *m, struct bench_run *r, struct slot *s, size_t i)
{
    static const char *const names[] = {"PUT", "GET", "HEAD"};
    char path[512], url[640];
    if (r->single)
        snprintf(path, sizeof(path), "%s", r->path);
    else
        snprintf(path, sizeof(path), "%s%zu", r->path, i);
    snprintf(url, sizeof(url), "http://%s%s", r->t->host_port, path);
    curl_easy_reset(s->e);
    curl_slist_free_all(s->hdrs);
    s->hdrs = curl_slist_append(NULL, "Expect:");
    if (r->t->access_key != NULL && sign(r, names[r->method], path, &s->hdrs) != 0)
        fprintf(stderr, "tgs3-bench: cannot sign %s\n", path);
    s->req = i;
    s->pos = 0;
    s->got = 0;
    s->start = r->data_len ? (r->shift + i * 4099) % r->data_len : 0;
    curl_easy_setopt(s->e, CURLOPT_URL, url);
    curl_easy_setopt(s->e, CURLOPT_HTTPHEADER, s->hdrs);
    curl_easy_setopt(s->e, CURLOPT_PRIVATE, s);
    curl_easy_setopt(s->e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s->e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(s->e, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(s->e, CURLOPT_BUFFERSIZE, 512L * 1024);
    curl_easy_setopt(s->e, CURLOPT_TCP_NODELAY, 1L);
    if (r->method == BENCH_PUT) {
        curl_easy_setopt(s->e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(s->e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->size);
        curl_easy_setopt(s->e, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(s->e, CURLOPT_READDATA, s);
        curl_easy_setopt(s->e, CURLOPT_UPLOAD_BUFFERSIZE, 2L * 1024 * 1024);
    } else if (r->method == BENCH_HEAD) {
        curl_easy_setopt(s->e, CURLOPT_NOBODY, 1L);
    }
    s->t0 = bench_now();
    curl_multi_add_handle(m, s->e);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

void bench_http_run(struct bench_run *r)
{
    CURLM *m = curl_multi_init();
    size_t nslots = (size_t)r->concurrency;
    struct slot *slots = calloc(nslots, sizeof(*slots));
    size_t next = 0;
    double t0 = bench_now();
    r->lat = calloc(r->n ? r->n : 1, sizeof(double));
    r->done = r->errors = 0;
    r->bytes = 0;
    r->first_error = 0;
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)nslots + 4);
    for (size_t i = 0; i < nslots; i++) {
        slots[i].e = curl_easy_init();
        slots[i].r = r;
        if (next < r->n)
            start(m, r, &slots[i], next++);
    }
    int running = 1;
    while (running > 0 || r->done < next) {
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int q;
        while ((msg = curl_multi_info_read(m, &q)) != NULL) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            struct slot *s = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            long status = 0;
            curl_easy_getinfo(s->e, CURLINFO_RESPONSE_CODE, &status);
            int ok = msg->data.result == CURLE_OK && status >= 200 && status < 300;
            if (ok && r->method == BENCH_GET && s->got != r->size)
                ok = 0;
            if (!ok) {
                if (r->errors == 0)
                    r->first_error = msg->data.result != CURLE_OK ? -(long)msg->data.result : status;
                r->errors++;
            }
            r->bytes += r->method == BENCH_PUT ? s->pos : s->got;
            r->lat[r->done++] = bench_now() - s->t0;
            curl_multi_remove_handle(m, s->e);
            if (next < r->n && (r->deadline_s <= 0 || bench_now() - t0 < r->deadline_s))
                start(m, r, s, next++);
        }
        if (r->done >= next && running == 0)
            break;
        curl_multi_poll(m, NULL, 0, 50, NULL);
        rss_sample(0);
    }
    rss_sample(1);
    r->secs = bench_now() - t0;
    qsort(r->lat, r->done, sizeof(double), cmp_double);
    for (size_t i = 0; i < nslots; i++) {
        curl_easy_cleanup(slots[i].e);
        curl_slist_free_all(slots[i].hdrs);
    }
    free(slots);
    curl_multi_cleanup(m);
}

void bench_run_release(struct bench_run *r)
{
    free(r->lat);
    r->lat = NULL;
}

double bench_pct(const struct bench_run *r, double p)
{
    if (r->done == 0)
        return 0;
    size_t i = (size_t)(p * (double)(r->done - 1) + 0.5);
    return r->lat[i];
}
