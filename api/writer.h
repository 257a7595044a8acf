/* writer: group commit. Notifications from concurrent requests are written
 * together in one statement (one transaction); each request is answered only
 * after that commit, then the ids are XADDed to the channel streams. */
#ifndef HERALD_API_WRITER_H
#define HERALD_API_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "api/app.h"
#include "common/batch.h"
#include "common/notif.h"
#include "common/util.h"

struct writer;

struct wr_row {
    uint8_t id[16];
    char id_str[UTIL_UUID_LEN];
    int64_t created_ms;
    struct notif_input in; /* owned */
};

enum wr_status {
    WR_CREATED = 0, /* committed */
    WR_REPLAY,      /* the idempotency key was used before with this body */
    WR_KEY_REUSED,  /* the idempotency key was used before with another body */
    WR_IN_PROGRESS, /* the same key is being processed right now */
    WR_BUSY,        /* the commit queue is full; nothing stored */
    WR_UNAVAILABLE, /* the database is unreachable; nothing stored */
    WR_UNKNOWN,     /* the commit's outcome could not be learned */
    WR_ERROR,       /* the statement failed; nothing stored */
};

/* body: with WR_CREATED the item's response, with WR_REPLAY the first
 * response's body; borrowed for the call, NULL otherwise. */
typedef void (*wr_cb)(void *arg, enum wr_status st, const char *body);

struct wr_item {
    int64_t tenant_id;
    const char *route; /* static: "notifications" or "notifications/batch" */
    char *idem_key;    /* owned; NULL without Idempotency-Key */
    uint8_t body_hash[32];
    char *response; /* owned: the 201 body to remember */
    size_t nrows;
    struct wr_row *rows; /* owned array */
    wr_cb cb;
    void *arg;
    /* writer-private */
    struct batch_item link; /* weight: nrows */
    int tries;
    int status;
    char *stored;
};

struct writer *writer_new(struct api_app *app);
void writer_free(struct writer *w);

/* writer_submit: takes ownership of item (even on failure); item->cb runs
 * exactly once, possibly before writer_submit returns (WR_BUSY,
 * WR_IN_PROGRESS). */
void writer_submit(struct writer *w, struct wr_item *item);

/* writer_pending: notifications waiting for or inside a commit. */
size_t writer_pending(const struct writer *w);

#endif
