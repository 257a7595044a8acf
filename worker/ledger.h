/* ledger: the worker's statements on the notifications table: claiming a
 * batch under a lease, and recording a batch of attempt outcomes. */
#ifndef HERALD_WORKER_LEDGER_H
#define HERALD_WORKER_LEDGER_H

#include "common/db.h"
#include "common/notif.h"

#include <stdbool.h>
#include <stdint.h>

/* Columns of a claim result, one row per notification now leased to us. */
enum ledger_claim_col {
    LC_ID = 0,
    LC_RECIPIENT,
    LC_SUBJECT, /* NULL when absent */
    LC_BODY,
    LC_METADATA, /* NULL when absent */
    LC_CREATED_MS,
    LC_ATTEMPTS,
    LC_BUDGET_BASE,
    LC_TENANT,
    LC_SECRET,
    LC_PREV_SECRET, /* NULL unless a rotation's grace still runs */
    LC_DUE_MS,      /* due_at as claimed, ms since the epoch */
    LC_PRIORITY,    /* high, normal or low */
    LC_HTML,        /* email: NULL when absent */
    LC_REPLY_TO,    /* email: NULL when absent */
    LC_EMAIL_FROM,  /* the tenant's From for email; NULL: HERALD_SMTP_FROM */
    LC_EXPIRES_MS,  /* the deadline, Unix ms; NULL when none */
    LC_KIND,        /* 'notification', or 'event' (a status event for the events_url) */
    LC_NCOLS
};

/* ledger_claim: expires the rows among ids that are due past their deadline
 * (status expired, never attempted: API.md "Deadlines"); leases the pending,
 * due, unleased (or leased to consumer: a retried claim whose first try's
 * outcome was unknown) rows among ids (n UUID strings) to consumer for
 * visibility_ms, and marks rows that are not due yet as out of the stream
 * (the sweeper enqueues them when due). cb gets the leased rows (enum
 * ledger_claim_col). Strings are copied. Returns db_query's handle, as
 * ledger_record does. */
struct req *ledger_claim(db *d, const char *consumer, enum notif_channel ch, const char *const *ids,
                         int n, int visibility_ms, int secret_grace_s, db_cb cb, void *arg);

/* What became of one attempt. */
enum ledger_kind {
    LK_SUCCESS = 0, /* status sent */
    LK_RETRY,       /* pending again, due after delay_ms, out of the stream */
    LK_FAILED,      /* status failed: a dead letter */
    LK_DEFER,       /* never attempted (no room, or its destination is held back): lease
                       dropped, due after delay_ms, attempts unchanged */
};

struct ledger_outcome {
    const char *id; /* borrowed until ledger_record returns */
    enum ledger_kind kind;
    int attempt_no;     /* delivery_attempts.attempt: attempts + 1 */
    bool counted;       /* uses up an attempt (false for provider auth errors) */
    int64_t delay_ms;   /* LK_RETRY, LK_DEFER */
    int64_t started_ms; /* wall clock */
    int duration_ms;
    int status_code;          /* 0: none */
    const char *error;        /* NULL for none; borrowed */
    const char *provider_ref; /* NULL for none; borrowed */
};

/* Columns of a record result: the rows that were still ours and changed. */
enum ledger_record_col { LR_ID = 0, LR_NOW_MS, LR_NCOLS };

/* ledger_record: applies n outcomes in one statement: every row that is
 * still leased to consumer gets its new state and clears the lease, and
 * every attempt (not LK_DEFER) is recorded: a success at attempt 1 in the
 * notification's own row (schema/010: first_started_at and its kin), every
 * other in a delivery_attempts row. An attempt that
 * did not count (a provider auth error) is recorded under the number the next
 * counted attempt will use, which later replaces it. cb gets the updated rows
 * (enum ledger_record_col); ids missing from it had lost their lease. */
struct req *ledger_record(db *d, const char *consumer, const struct ledger_outcome *o, int n,
                          db_cb cb, void *arg);

#endif
