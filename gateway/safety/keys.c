/* keys.c — the master key file and the journal sweep at start-up.
 *
 * The key file (--key-file, default DATA_DIR/master.key) is created on the
 * first start with 32 random bytes, mode 0600, and never leaves the
 * machine: it is not uploaded, not in snapshots, never logged. Losing it
 * loses every sealed block and every snapshot.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gateway/blocks/blk.h"
#include "gateway/gw.h"

static void key_path(const struct gw *gw, char *out, size_t n)
{
    if (gw->cfg.key_file != NULL)
        snprintf(out, n, "%s", gw->cfg.key_file);
    else
        snprintf(out, n, "%s/master.key", gw->cfg.data_dir);
}

int gw_keys_load(struct gw *gw, int create)
{
    char path[4096], err[512];
    int created = 0, loose = 0;
    key_path(gw, path, sizeof(path));
    enum blk_status s = blk_keyring_load(path, create, &gw->keys, &created, &loose, err, sizeof(err));
    if (s != BLK_OK) {
        log_error("master key: %s", err);
        return -1;
    }
    if (created)
        log_warn("created a new master key in %s: back it up now; losing it loses every object stored with it",
                 path);
    if (loose)
        log_warn("master key %s is readable by other users; chmod 600 it", path);
    log_info("master key %s loaded (key id %d for new blocks)%s", path, blk_keyring_current(gw->keys),
             gw->cfg.no_encryption ? "; --no-encryption: blocks are posted UNSEALED" : "");
    return 0;
}

void gw_keys_free(struct gw *gw)
{
    blk_keyring_free(gw->keys);
    gw->keys = NULL;
}

void gw_journal_sweep(struct store *st, struct store_inflight **unconfirmed, size_t *n)
{
    size_t swept = 0;
    *unconfirmed = NULL;
    *n = 0;
    enum store_status s = store_inflight_sweep(st, now_ms(), unconfirmed, n, &swept);
    if (s != STORE_OK) {
        log_error("journal sweep: %s (%s)", store_status_name(s), store_errmsg(st));
        return;
    }
    if (swept > 0 || *n > 0)
        log_warn("journal: %zu blocks were left in flight by the last run: %zu posted ones queued for deletion "
                 "or holds released; %zu posts were never answered (the stray probe looks for them)",
                 swept + *n, swept, *n);
}
