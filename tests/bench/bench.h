/* bench.h — shared pieces of tgs3-bench: child processes, servers, the HTTP load driver, the table.
 *
 * The benchmark is a program that prints numbers: nothing in it fails on a
 * time. It starts its own tgs3-botapi, tgs3 and nginx on free loopback ports
 * (proc.c, servers.c), drives them with libcurl multi (http.c) and prints one
 * table (report.c): the ceilings (bench.c), tgs3 against nginx in rounds whose
 * medians make the rows (large.c, its rows printed by table.c), stripes
 * against --redundancy none (redundancy.c) and the runs under Telegram's
 * limits (telegram.c).
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
long bench_file_size(const char *path);  /* bytes, or -1 */
/* Lines of a tgs3 log from byte from on that warn or tell of an error; the first
 * of them into first (a line, cut to firstsz). -1 when the log cannot be read. */
long bench_log_warnings(const char *log, long from, char *first, size_t firstsz);
double bench_cpu_secs(pid_t pid);       /* user + system CPU seconds of a process so far (/proc/PID/stat), or -1 */
double bench_busy_secs(void);           /* CPU seconds the whole machine has spent busy so far (/proc/stat), or -1 */
int bench_remove_tree(const char *dir); /* rm -rf dir; 0 when it went. Async-signal-safe (fork, exec, waitpid). */

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
    const char *header;          /* a further "name: value" line (name lower-case, signed), or NULL */
    const char *payload_sha256;  /* one request: the body's hex SHA-256 to sign (else UNSIGNED-PAYLOAD) */
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

/* ---- the table (report.c) ------------------------------------------------ */

#define BENCH_MIB (1024.0 * 1024.0)

/* A row of the table (also shown on stderr at once as progress). */
void bench_row(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A progress line on stderr ("# ..."), not in the table. */
void bench_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void bench_table_print(void); /* the table on stdout */
double bench_ratio(double a, double b); /* a / b, 0 when b is 0 */

/* A figure measured once per round: the rows show its median and spread. */
#define BENCH_MAX_ROUNDS 5
struct bench_stat {
    double v[BENCH_MAX_ROUNDS];
    int n;
};
void bench_stat_add(struct bench_stat *s, double v); /* beyond BENCH_MAX_ROUNDS values: ignored */
double bench_median(const struct bench_stat *s);     /* 0 when empty; the mean of the middle two for even n */
double bench_spread(const struct bench_stat *s);     /* (max - min) / median, 0 when empty or the median is 0 */
/* The median in width.prec, unit, and its spread: "  471 ±5%  ", " 4126/s ±12% ", into buf; buf returned. */
const char *bench_stat_str(const struct bench_stat *s, int width, int prec, const char *unit, char *buf, size_t cap);

/* ---- servers (servers.c) ------------------------------------------------------ */

#define BENCH_MAX_CHATS 8 /* channels a bench emulator and gateway use at most */
#define BENCH_MAX_BOTS 4
#define BENCH_RAM_DOC ((int64_t)(16 << 20) + (64 << 10)) /* the emulator's RAM place: a 16 MiB block and its header */
#define BENCH_MAX_SIZES 4 /* sizes of large objects in the main table */
#define BENCH_COLD ((uint64_t)256 << 20) /* bytes of the cold and warm PUTs (and of every warm-up PUT) */

/* What every part of the run shares; bench.c fills it once, in main. */
struct bench_env {
    const char *root;             /* the run's temporary directory */
    const char *bindir;           /* tgs3 and tgs3-botapi live here */
    const char *ram_dir;          /* a tmpfs directory for the emulators' RAM stores, or "" (none) */
    const unsigned char *bodies;  /* random PUT bodies */
    size_t bodies_len;
    uint64_t large;               /* bytes of a large object outside the main table: the largest of sizes */
    uint64_t sizes[BENCH_MAX_SIZES]; /* the main table's large objects, one section each, in this order */
    int nsizes;
    int rounds;                   /* runs of the main table's rows, 1..BENCH_MAX_ROUNDS (the median shown) */
    size_t n_small;               /* 4 KiB requests per small-object measurement */
};

struct bench_server {
    struct bench_proc proc;
    int port;
    char host_port[32];
    char dir[4200];
    char log[4300];
    struct bench_target t;
};

struct bench_emu_opts {
    int nchats;          /* 1..BENCH_MAX_CHATS */
    int limits;          /* Telegram's rate limits on (the emulator's defaults) */
    int64_t ram_bytes;   /* documents in a RAM store of this many bytes under env->ram_dir (0: on the disk) */
    int64_t ram_doc;     /* bytes of one RAM place (0: the emulator's default, 16 MiB + 64 KiB) */
    int64_t bandwidth;   /* bytes per second per connection (0: no limit) */
};

struct bench_gw_opts {
    int nbots;                 /* 1..BENCH_MAX_BOTS */
    int nchats;                /* 1..BENCH_MAX_CHATS */
    int64_t block_size;        /* bytes; 0: no --block-size (the gateway's default) */
    const char *const *extra;  /* NULL-terminated further flags, or NULL */
};

/* Starts tgs3-botapi in env->root/name (RAM store in env->ram_dir/name) on a
 * free port; 0 when it listens, else -1 (printed). Chats: BENCH_CHAT(0..). */
int bench_start_emulator(const struct bench_env *env, struct bench_server *s, const char *name,
                         const struct bench_emu_opts *o);
/* Stops it and removes its documents (RAM store and disk); its log stays. */
void bench_stop_emulator(const struct bench_env *env, struct bench_server *s, const char *name);
/* Starts tgs3 serve against emu with data in env->root/name (kept across a
 * stop and a start of the same name); 0 when it listens, else -1 (printed). */
int bench_start_gateway(const struct bench_env *env, struct bench_server *s, const char *name,
                        const struct bench_server *emu, const struct bench_gw_opts *o);
const char *bench_chat(int i); /* the id of the emulator's i-th chat */
/* The gateway's default --block-size, as `tgs3 serve --help` prints it; bytes, or -1. */
int64_t bench_gw_default_block(const struct bench_env *env);
/* nginx (one worker, static GET, WebDAV PUT) in env->root/name; 0 when it listens, else -1. */
int bench_start_nginx(const struct bench_env *env, struct bench_server *s, const char *name);
/* Whether RAM stores of need bytes fit: /dev/shm has 1.25 x need free and the machine 2 x need available. */
int bench_ram_room(int64_t need);
int bench_make_bucket(const struct bench_env *env, const struct bench_server *s); /* PUT /bench; 0 or -1 */

/* n requests of size bytes to path on s at concurrency conc (bodies from
 * env); failures are printed. The caller releases r. */
void bench_request(const struct bench_env *env, struct bench_run *r, const struct bench_server *s,
                   enum bench_method m, int conc, size_t n, const char *path, uint64_t size);
/* One PUT of size bytes to path on s with a signed payload: the body's SHA-256,
 * computed before the clock starts, in x-amz-content-sha256 (as aws and the
 * SDKs send over plain HTTP), so the gateway verifies it. */
void bench_put_signed(const struct bench_env *env, struct bench_run *r, const struct bench_server *s,
                      const char *path, uint64_t size);
double bench_mibs(const struct bench_run *r); /* body MiB/s */
double bench_ops(const struct bench_run *r);  /* successful requests per second */

struct json_t;
struct json_t *bench_emu_stats(const struct bench_server *emu); /* /_emulator/stats, or NULL; json_decref it */
long bench_emu_messages(const struct bench_server *emu, int chat); /* messages a chat holds, or -1 */
/* Over the (bot, chat) pairs of an emulator, so far. */
struct bench_pairs {
    long used;     /* pairs that posted */
    long peak;     /* the most posts one pair made in a 60 s window */
    long too_many; /* 429 answers */
    long posts;    /* documents posted, all pairs */
    long most;     /* documents the busiest pair posted */
};
void bench_emu_pairs(const struct bench_server *emu, struct bench_pairs *p);
long bench_unposted(const struct bench_server *gw); /* blocks of the index not yet in Telegram, or -1 */

/* ---- the runs of other files ------------------------------------------------ */

/* What bench.c measured in process before the servers start. */
struct bench_ceil {
    double md5, sha, gcm;   /* MiB/s, one core */
    double disk_wr, disk_rd; /* O_DIRECT MiB/s, 0 when not measured */
    int64_t ram_bytes;      /* the main table's emulators keep documents in RAM stores of this size (0: on the disk) */
};
/* The main table (large.c, table.c): env->rounds rounds, each nginx then tgs3
 * freshly started: the cold and warm PUTs, a section per size, the small
 * objects; the rows are the medians. 0, or -1 when a server did not start. */
int bench_main_suite(const struct bench_env *env, const struct bench_ceil *c);
/* Bytes of the RAM store a tgs3 round of the main table fills (every block it stores). */
int64_t bench_main_ram_need(const struct bench_env *env);

/* Stripes against --redundancy none (redundancy.c): a large PUT without
 * Telegram's limits, an uncached read at a per-connection bandwidth. */
void bench_redundancy_suite(const struct bench_env *env);
/* Telegram's limits on (telegram.c): large uploads against the rate model,
 * with and without stripes; n_small 4 KiB objects through one pair. */
void bench_telegram_suite(const struct bench_env *env, size_t n_small);
/* x-amz-checksum (checksums.c): each CRC's MiB/s in process, and a large PUT
 * with x-amz-checksum-crc64nvme and with -crc32c against the same PUT without. */
void bench_checksum_suite(const struct bench_env *env);

#endif
