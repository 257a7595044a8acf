/* check_notif: the invariants of a validated notification, shared by the validate and batch
 * harnesses. Each check aborts through FUZZ_CHECK when broken. */
#ifndef HERALD_TESTS_FUZZ_CHECK_NOTIF_H
#define HERALD_TESTS_FUZZ_CHECK_NOTIF_H

#include <stddef.h>
#include <stdint.h>

#include "common/notif.h"
#include "common/validate.h"

struct json_object;

#define CHECK_NOTIF_NOW_MS 1795000000000LL /* 2026-11-18T08:26:40Z: the clock the harnesses use */

/* check_notif_errors: entries from index first on are well formed: fields and messages are
 * valid UTF-8, bounded, and fields start with prefix (borrowed). */
void check_notif_errors(const struct val_errors *errs, size_t first, const char *prefix);

/* check_notif_valid: in (borrowed) came from a successful val_notification() of obj
 * (borrowed). Checks it against API.md's rules and against obj, then renders it the way the
 * worker does (metadata re-parsed from metadata_json) and checks the rendered texts and, for
 * push, the FCM message. */
void check_notif_valid(const struct notif_input *in, struct json_object *obj);

#endif
