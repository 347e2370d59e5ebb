/* admin.c — /_emulator/...: the emulator's own surface for tests and benchmarks.
 *
 * Not Bot API: these answers get no latency and no faults.
 *   /_emulator/stats   counters (methods.c)
 */
#include <string.h>

#include "telegram/emulator/emu.h"

void admin_serve(h2o_req_t *req, const char *path, size_t len)
{
    if (len == 16 && memcmp(path, "/_emulator/stats", 16) == 0) {
        serve_send_json_now(req, 200, methods_stats());
        return;
    }
    serve_answer_error(req, 404, "Not Found", 0, 0);
}
