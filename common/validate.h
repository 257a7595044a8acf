/* validate: checks one notification request against API.md's rules and turns it into a notif_input.
 */
#ifndef HERALD_COMMON_VALIDATE_H
#define HERALD_COMMON_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/notif.h"

struct buf;
struct json_object;

#define VAL_ERRORS_MAX 10000 /* errors kept per list; later ones only set truncated */

/* One faulty field: both strings owned by the list, valid UTF-8, NUL-terminated. */
struct val_error {
    char *field;   /* e.g. "recipient", "notifications[3].metadata.name" */
    char *message; /* e.g. "must be at most 200 characters" */
};

/* A growable list of field errors; zero-initialise, release with val_errors_free(). */
struct val_errors {
    struct val_error *items; /* owned; len entries */
    size_t len;
    size_t cap;
    bool truncated; /* more than VAL_ERRORS_MAX errors were reported; the rest were dropped */
};

/* val_errors_add: appends copies of field and message (borrowed; keep them
 * short: callers bound them). Aborts on out-of-memory like mem_alloc. */
void val_errors_add(struct val_errors *errs, const char *field, const char *message);
/* val_errors_free: releases every entry; errs may be reused. */
void val_errors_free(struct val_errors *errs);

/* val_notification: validates obj (borrowed; normally from hjson_parse) as one
 * notification per API.md "Validation of a notification". Every faulty field
 * is appended to errs with its name after prefix ("" or e.g.
 * "notifications[3]."; NULL means ""). now_ms is the wall clock used for
 * send_at. Returns 0 and fills out (caller frees with notif_input_free()), or
 * -1 with out zeroed. Unknown, invalid-UTF-8 or over-long field names are
 * reported sanitised (invalid bytes as U+FFFD, cut at 128 bytes). Never
 * blocks. */
int val_notification(struct json_object *obj, const char *prefix, int64_t now_ms,
                     struct notif_input *out, struct val_errors *errs);

#define VAL_BATCH_MAX 500 /* notifications in one batch request */

/* val_batch_cost: what a parsed batch body costs the rate limiter: the
 * length of a non-empty "notifications" array, else 1. obj is borrowed. */
int64_t val_batch_cost(struct json_object *obj);

/* val_batch: validates a batch body {"notifications": [ ... ]} (obj
 * borrowed) with the same rules as val_notification for each element, whose
 * fields are named "notifications[i].field". Returns 0 with *rows (n of them;
 * caller frees each with notif_input_free() and the array with mem_free()),
 * or -1 with every fault in errs and *rows NULL. */
int val_batch(struct json_object *obj, int64_t now_ms, struct notif_input **rows, size_t *n,
              struct val_errors *errs);

/* val_push_message_json: appends to out the FCM v1 "message" object Herald
 * sends for a push notification:
 *   {"token":T,"notification":{"title":S,"body":B},"data":{"k":"v",...}}
 * token NULL leaves "token" out (that is the form whose size API.md limits to
 * 4096 bytes); title NULL leaves "title" out; metadata (borrowed, may be NULL)
 * gives "data", left out when it has no keys: string values as they are, any
 * other value as its compact JSON text. title and body are the rendered texts
 * (title_len, body_len bytes, not NUL-terminated). The caller wraps the
 * result in {"message": ...}. */
void val_push_message_json(const char *token, const char *title, size_t title_len, const char *body,
                           size_t body_len, struct json_object *metadata, struct buf *out);

#endif
