/* bench.h — shared pieces of tgs3-bench: child processes, the HTTP load driver, timing.
 *
 * The benchmark is a program that prints numbers: nothing in it fails on a
 * time. It starts its own tgs3-botapi, tgs3 and nginx on free loopback ports
 * (proc.c), drives them with libcurl multi (http.c) and prints one table
 * (bench.c).
 */
#ifndef TGS3_BENCH_H
#define TGS3_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- processes (proc.c) ---------------------------------------------------- */

struct bench_proc {
    pid_t pid; /* 0 when not running */
    char name[32];
};

double bench_now(void);        /* monotonic seconds */
int bench_free_port(void);     /* a loopback TCP port nobody listens on now; -1 on error */
/* Starts argv[0] with stdout and stderr appended to log; 0 or -1 (printed). */
int bench_spawn(struct bench_proc *p, const char *name, char *const argv[], const char *log);
/* Waits until 127.0.0.1:port accepts (0), or the process died / secs passed (-1, printed with the log tail). */
int bench_wait_port(struct bench_proc *p, int port, double secs, const char *log);
void bench_stop(struct bench_proc *p); /* SIGTERM, then SIGKILL after 15 s; waits */
void bench_stop_all(void);             /* every process still running (exit paths) */
void bench_kill_all_now(void);         /* SIGKILL to every child (signal handlers) */
long bench_rss_anon_kb(pid_t pid);     /* RssAnon from /proc/PID/status, or -1 */
long bench_mem_available_kb(void);      /* MemAvailable from /proc/meminfo, or -1 */

/* ---- HTTP load (http.c) -------------------------------------------------- */

enum bench_method { BENCH_PUT, BENCH_GET, BENCH_HEAD };

struct bench_target {
    const char *host_port; /* "127.0.0.1:PORT" */
    const char *access_key; /* NULL: unsigned requests (nginx) */
    const char *secret_key;
};

struct bench_run {
    /* in */
    const struct bench_target *t;
    enum bench_method method;
    int concurrency;
    size_t n;                    /* requests */
    const char *path;            /* "/bucket/prefix-": request i goes to path + i (unless single) */
    int single;                  /* every request goes to path itself */
    uint64_t size;               /* bytes of each PUT body / expected GET body */
    const unsigned char *data;   /* PUT bodies read from here, circularly */
    size_t data_len;
    size_t shift;                /* body i starts at data[(shift + i * 4099) % data_len] */
    double deadline_s;           /* stop starting requests after this many seconds (0: none) */
    /* out */
    double secs;                 /* wall time of the whole run */
    size_t done, errors;         /* requests finished, of which failed */
    long first_error;            /* HTTP status (or -curl code) of the first failure */
    uint64_t bytes;              /* body bytes sent or received */
    double *lat;                 /* seconds per finished request (malloc'd, sorted) */
};

/* Runs r to completion; RSS of the watched process is sampled meanwhile. */
void bench_http_run(struct bench_run *r);
void bench_run_release(struct bench_run *r);
double bench_pct(const struct bench_run *r, double p); /* latency percentile, seconds */
/* Peak RssAnon (KiB) of the watched process since the last reset (sampled every 100 ms while runs go). */
void bench_rss_watch(pid_t pid);
long bench_rss_peak_kb(void);
void bench_rss_reset(void);

/* ---- ceilings (ceilings.c) ------------------------------------------------ */

#define BENCH_DISK_READERS 5 /* threads reading the disk back side by side (a GET reads a block and four ahead) */
struct evp_md_st;
/* MiB/s of md (EVP_md5(), EVP_sha256()) over buf[0..len) repeated for a second. */
double bench_digest_rate(const struct evp_md_st *md, const unsigned char *buf, size_t len);
/* MiB/s of AES-256-GCM sealing over buf[0..len), repeated for a second. */
double bench_gcm_rate(const unsigned char *buf, size_t len);
/* The disk under dir: len bytes written with O_DIRECT in blocks of bs, then read back by
 * several threads side by side, MiB/s each into *wr, *rd; 0 where O_DIRECT is refused. */
void bench_disk_rates(const unsigned char *buf, size_t len, const char *dir, size_t bs, double *wr, double *rd);
/* len random bytes (AES-128-CTR keystream, rand() seeded key): incompressible. */
unsigned char *bench_random_data(size_t len);

#endif
