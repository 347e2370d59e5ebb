/* cache.h — what the engine keeps of the blocks it read: the block cache on disk (cache.c) and
 * the verified blocks in memory (opened.c). Used by the read pipeline (fetch.c), the packer
 * and uploads (which feed and trim them), the server's start and stop, and the metrics.
 */
#ifndef TGS3_GATEWAY_ENGINE_CACHE_H
#define TGS3_GATEWAY_ENGINE_CACHE_H

#include "gateway/gw.h"

/* ---- block cache (cache.c) ------------------------------------------------ */

/* Opens --cache-dir (default DATA_DIR/cache) and scans it on the pool;
 * --cache-size 0 keeps only the coalescing of reads. 0, or -1 (logged). */
int gw_cache_start(struct gw *gw);
void gw_cache_free(struct gw *gw); /* after the loop has drained */
/* Reads blk's sealed document: from the cache when it holds it, else
 * through gw_read_start, shared with every concurrent read of the same
 * block; a fetched document is then cached when admit is 1 (or another
 * reader of the same flight admits it). cb as for tg_fetch_file (it owns
 * data), exactly once unless cancelled. An unposted pack is read from its
 * spool file (spool: its path, from gw_pack_path; else NULL), plaintext,
 * only bytes [spool_off, spool_off + spool_len) when spool_len > 0: cb then
 * gets just those. Loop thread. */
struct gw_cache_read;
/* A fetched document the cache writes to disk is lent, not copied, to its
 * readers: lend gets it read-only instead of cb, and the reader gives it
 * back with gw_cache_return (loop thread) once done. (A reader arriving
 * after the fetch, while the write goes on, gets a copy made on the pool
 * through cb.) */
struct gw_cache_loan;
typedef void (*gw_cache_lend_cb)(void *ud, const unsigned char *data, size_t len, struct gw_cache_loan *loan);
struct gw_cache_read *gw_cache_fetch(struct gw *gw, const struct store_block *blk, int admit, const char *spool,
                                     uint64_t spool_off, uint64_t spool_len, tg_fetch_cb cb, gw_cache_lend_cb lend,
                                     void *ud);
void gw_cache_return(struct gw_cache_loan *loan);
/* Admission: 1 when a read of an object of len bytes may write the blocks it
 * fetches to the cache, 0 when the object is larger than a quarter of
 * --cache-size (reading it, whole or in ranges, would evict everything else
 * and then itself). */
int gw_cache_admits(const struct gw *gw, uint64_t len);
void gw_cache_cancel(struct gw_cache_read *r);
void gw_cache_counters(const struct gw *gw, uint64_t *hits, uint64_t *misses, uint64_t *joined);
/* Caches a sealed document just posted (blk's identity); takes data (a
 * bigbuf) and returns 1, or returns 0 and leaves data to the caller. */
int gw_cache_put(struct gw *gw, const struct store_block *blk, unsigned char *data, size_t len);
/* A document of blk failed verification: its cache file, if any, is removed
 * (so the next read asks Telegram). 1 if there was one. Loop thread. */
int gw_cache_drop(struct gw *gw, const struct store_block *blk);
/* ---- verified blocks kept in memory (engine/opened.c) ------------------------ */

void gw_opened_init(struct gw *gw); /* start-up; without it nothing is kept */
void gw_opened_free(struct gw *gw); /* after the loop has drained */
/* Verified plaintext of recently read blocks, kept in memory (at most
 * GW_OPENED_MAX bytes of unreferenced ones) and shared by reference, so
 * many small reads from one pack authenticate it once. _get takes a
 * reference (NULL on a miss); _keep takes buf (a bigbuf, plaintext at
 * buf + off, len bytes) and returns 1, or 0 leaving buf to the caller.
 * Never for blocks in the spool (chat_id 0): they grow. Loop thread. */
#define GW_OPENED_MAX (64 << 20)
struct gw_opened;
struct gw_opened *gw_opened_get(struct gw *gw, const struct store_block *blk);
const unsigned char *gw_opened_data(const struct gw_opened *o, size_t *len);
void gw_opened_unref(struct gw *gw, struct gw_opened *o);
/* Like _keep for a block still in use: takes buf and returns it shared with
 * one reference for the caller, or NULL leaving buf to the caller. */
struct gw_opened *gw_opened_adopt(struct gw *gw, const struct store_block *blk, unsigned char *buf, size_t off,
                                  size_t len);
int gw_opened_keep(struct gw *gw, const struct store_block *blk, unsigned char *buf, size_t off, size_t len);
/* Frees unreferenced verified blocks past what uploads leave them (GW_OPENED_MAX
 * less the upload buffers held): called as an upload takes its buffer. */
void gw_opened_trim(struct gw *gw);
size_t gw_opened_bytes(const struct gw *gw); /* kept, referenced or not */

#endif
