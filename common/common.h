/* common.h — the tiny primitives every module shares.
 *
 * Allocation that aborts on out-of-memory (as redis and h2o do), a bounded
 * recycler of block-sized buffers, an always-on assert for programmer errors,
 * a bounded growable buffer (after curl's dynbuf), whole-buffer file I/O, a
 * file lock and a log sink. Libraries never log themselves; only the programs call
 * log_*(). Everything here is thread-safe.
 */
#ifndef TGS3_COMMON_H
#define TGS3_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Intrusive doubly-linked lists, in the manner of BSD's <sys/queue.h>: an
 * element carries its own prev and next pointers (their names given), the
 * owner a head and, for the _T forms, a tail. The element's pointers are
 * NULL while it is on no list. */
#define DLIST_PUSH(head, e, prev, next) \
    do { (e)->prev = NULL; (e)->next = (head); if (head) (head)->prev = (e); (head) = (e); } while (0)
#define DLIST_REMOVE(head, e, prev, next)                                         \
    do {                                                                          \
        if ((e)->prev) (e)->prev->next = (e)->next; else if ((head) == (e)) (head) = (e)->next; \
        if ((e)->next) (e)->next->prev = (e)->prev;                               \
        (e)->prev = (e)->next = NULL;                                             \
    } while (0)
/* With a tail: push at the front, append at the back. */
#define DLIST_PUSH_T(head, tail, e, prev, next) \
    do { DLIST_PUSH(head, e, prev, next); if ((tail) == NULL) (tail) = (e); } while (0)
#define DLIST_APPEND_T(head, tail, e, prev, next) \
    do { (e)->next = NULL; (e)->prev = (tail); if (tail) (tail)->next = (e); else (head) = (e); (tail) = (e); } while (0)
#define DLIST_REMOVE_T(head, tail, e, prev, next) \
    do { if ((e)->next == NULL && (tail) == (e)) (tail) = (e)->prev; DLIST_REMOVE(head, e, prev, next); } while (0)
/* Singly-linked FIFOs (head, tail, a next pointer in the element): append,
 * and remove from anywhere (a walk from the head; nothing happens when e is not there). */
#define SQUEUE_APPEND(head, tail, e, next) \
    do { (e)->next = NULL; if (tail) (tail)->next = (e); else (head) = (e); (tail) = (e); } while (0)
#define SQUEUE_REMOVE(type, head, tail, e, next)                                                                       \
    do {                                                                                                               \
        type **pp_ = &(head), *prev_ = NULL;                                                                           \
        while (*pp_ && *pp_ != (e)) {                                                                                  \
            prev_ = *pp_;                                                                                              \
            pp_ = &(*pp_)->next;                                                                                       \
        }                                                                                                              \
        if (*pp_ == (e)) {                                                                                             \
            *pp_ = (e)->next;                                                                                          \
            if ((tail) == (e))                                                                                         \
                (tail) = prev_;                                                                                        \
        }                                                                                                              \
        (e)->next = NULL;                                                                                              \
    } while (0)
#define WARN_UNUSED __attribute__((warn_unused_result))
#define PRINTF_LIKE(f, a) __attribute__((format(printf, f, a)))

/* Programmer errors only: logs file:line and aborts. Never for input. */
#define ASSERT(cond) ((cond) ? (void)0 : assert_fail(#cond, __FILE__, __LINE__))
void assert_fail(const char *what, const char *file, int line) __attribute__((noreturn));

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Overwrites n bytes in a way the compiler cannot elide (for secrets). */
void secure_zero(void *p, size_t n);

/* File I/O on through short transfers and EINTR. pwrite_all writes all n
 * bytes at off: 0, or -1 with errno (EIO when nothing could be written).
 * pread_full reads at off until n bytes or the end of the file: the bytes
 * read, or -1 with errno. */
int pwrite_all(int fd, const void *buf, size_t n, off_t off) WARN_UNUSED;
ssize_t pread_full(int fd, void *buf, size_t n, off_t off) WARN_UNUSED;
/* The same from offset 0, past the page cache where the file system allows
 * (direct.c): pwrite_all_direct writes buf's whole pages with O_DIRECT and
 * the last partial page through the cache; pread_full_direct reads a file
 * that is not all in the page cache with O_DIRECT, buf having room for the
 * last whole page (bigbuf_new of n rounded up to BIGBUF_ALIGN). Smaller
 * than BIGBUF_MIN, unaligned, or refused: through the page cache. fd must
 * not be shared with another thread meanwhile (O_DIRECT is toggled on it). */
int pwrite_all_direct(int fd, const unsigned char *buf, size_t n) WARN_UNUSED;
ssize_t pread_full_direct(int fd, unsigned char *buf, size_t n) WARN_UNUSED;
/* Whether every page of fd's [0, size) is in the page cache (mincore over a
 * mapping never touched); 0 when unknown. */
int fd_all_cached(int fd, size_t size);
/* Opens path (created 0600 if missing) and takes an exclusive flock on it
 * without waiting: the descriptor, to keep open as long as the lock should
 * last (it goes with the process), or -1 with errno (EWOULDBLOCK: another
 * process holds it). */
int lock_file(const char *path) WARN_UNUSED;

/* Block buffers: large buffers recycled, so a steady stream of block reads
 * reuses memory already faulted in (huge pages where THP allows) instead of
 * mapping, zeroing and unmapping a fresh block-sized buffer each time.
 * bigbuf_new(n) returns at least n usable bytes, aborting on out-of-memory;
 * bigbuf_free(p) gives it back (NULL: no-op). A bigbuf goes back through
 * bigbuf_free only, never free(), and nothing else goes through bigbuf_free
 * (a header in front of the bytes tells; a mix aborts or ASan reports it).
 * Buffers of at least BIGBUF_MIN bytes are kept for reuse in capacity steps
 * of BIGBUF_STEP; at most BIGBUF_KEEP idle ones are kept (the oldest is freed
 * when one more comes back), so idle memory stays below BIGBUF_KEEP times the
 * largest buffer in use. A request reuses an idle buffer at most 1/8 larger
 * than it. Any thread. bigbuf_prepare(count, n) keeps up to count idle
 * buffers from then on and puts count buffers of n bytes there, every page
 * already faulted in (a server's first requests would pay for that memory
 * otherwise: on the VM measured, fresh memory costs as much as the rest of a
 * large PUT). bigbuf_trim(n) frees every idle buffer that bigbuf_new(n)
 * would not take (a server keeps its prepared ones, and drops what other
 * sizes left); bigbuf_drain frees every idle buffer (at exit).
 * A buffer of at least BIGBUF_MIN bytes starts on a BIGBUF_ALIGN boundary
 * (a page: O_DIRECT reads and writes may use it as it is). */
#define BIGBUF_MIN ((size_t)1 << 20)   /* bytes */
#define BIGBUF_STEP ((size_t)64 << 10) /* bytes */
#define BIGBUF_KEEP 2
#define BIGBUF_ALIGN ((size_t)4096) /* bytes */
unsigned char *bigbuf_new(size_t n);
void bigbuf_free(void *p);
void bigbuf_prepare(size_t count, size_t n);
void bigbuf_trim(size_t n);
void bigbuf_drain(void);
/* Buffers now idle in the recycler, and their bytes (for tests). */
size_t bigbuf_idle(size_t *bytes);

/* Bounded buffer: grows up to max bytes; appends beyond max fail and leave it unchanged.
 * Always NUL-terminated after a successful append (the NUL is not counted in len). */
struct dbuf {
    char *ptr;
    size_t len;
    size_t cap;
    size_t max; /* bytes */
};
void dbuf_init(struct dbuf *b, size_t max);
void dbuf_release(struct dbuf *b);
void dbuf_reset(struct dbuf *b);
int dbuf_add(struct dbuf *b, const void *p, size_t n) WARN_UNUSED; /* 0 ok, -1 over max */
int dbuf_adds(struct dbuf *b, const char *s) WARN_UNUSED;
int dbuf_printf(struct dbuf *b, const char *fmt, ...) PRINTF_LIKE(2, 3) WARN_UNUSED;
/* Hands the buffer to the caller (free() it); b is reset. */
char *dbuf_take(struct dbuf *b, size_t *len);

/* Log sink. Levels filter; the sink writes whole lines to stderr (or a file). */
enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };
void log_set_level(enum log_level lvl);
enum log_level log_get_level(void);
int log_open_file(const char *path); /* NULL → stderr; reopens (SIGHUP) */
void log_msg(enum log_level lvl, const char *fmt, ...) PRINTF_LIKE(2, 3);
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* Redacts Bot API tokens ("/bot<id>:<secret>" and bare "<id>:<secret>") in s,
 * writing at most outsz bytes to out. Use before anything URL-like is logged. */
void redact_tokens(const char *s, char *out, size_t outsz);

/* Wall clock in milliseconds since the epoch; monotonic milliseconds. */
int64_t now_ms(void);  /* the wall clock plus the offset of clock_set_offset_ms */
int64_t wall_ms(void); /* the wall clock itself (signatures, dates clients compare with theirs) */
/* Shifts now_ms() by ms (tgs3 --clock-offset: time travel for retention and lifecycle tests). */
void clock_set_offset_ms(int64_t ms);
int64_t mono_ms(void);

/* Parses a TCP port "1".."65535"; -1 on anything else. */
int parse_port(const char *s);

/* Hex encode n bytes into out (2n+1 bytes). */
void hex_encode(const unsigned char *in, size_t n, char *out);
/* The value of one hex digit ('0'-'9', 'a'-'f', 'A'-'F'): 0-15, or -1 for any
 * other c (a plain char above 0x7f included). */
int hex_digit(int c);
/* Parses "16M", "1G", "4096", "512K" → bytes; -1 on bad input or overflow. */
int64_t parse_size(const char *s);

#endif
