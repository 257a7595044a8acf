/* job: one held stream entry, from read to acknowledgement: the claimed row,
 * the attempt and its outcome; jobs are kept on one list per state and found
 * by notification id or entry id. */
#ifndef HERALD_WORKER_JOB_H
#define HERALD_WORKER_JOB_H

#include "common/batch.h"
#include "common/hmap.h"
#include "common/log.h"
#include "common/util.h"
#include "worker/dlv.h"
#include "worker/ledger.h"
#include "worker/xfer.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

enum job_state {
    JS_CLAIMING = 0, /* read; the lease is being claimed */
    JS_SENDING,      /* leased; the transfer waits for its host or runs */
    JS_RECORDING,    /* the outcome waits for, or is in, a record batch */
    JS_WAITING,      /* leased; the channel cannot build the request yet (DLV_WAIT) */
    JS_STATE_COUNT
};

struct jobs;

struct job {
    struct jobs *set;
    void *owner; /* the engine, for callbacks */
    enum job_state state;
    char entry_id[48];
    char id[UTIL_UUID_LEN];
    /* the claimed row; owned */
    char *recipient, *subject, *body, *metadata, *tenant, *secret, *prev_secret;
    char *html, *reply_to, *email_from; /* email only; NULL when absent */
    int64_t expires_ms;                 /* the deadline, wall clock; 0: none */
    int64_t created_ms, due_ms;         /* wall clock; due_ms: due_at as claimed */
    char priority[8];
    int attempts, budget_base;
    int64_t leased_mono; /* when the claim answered; the lease runs from about then */
    struct dlv_msg msg;  /* built once from the row when claimed; borrows it */
    /* the attempt */
    struct dlv_req req;
    struct xfer_capture cap;
    struct dlv_result res;
    bool res_valid;        /* the channel ran: release its state */
    bool probe;            /* its transfer probes a half-open circuit */
    struct event *wait_ev; /* JS_WAITING: fires when the job must be handed back */
    /* the outcome */
    enum ledger_kind kind;
    bool counted;
    int64_t delay_ms;
    int64_t started_ms; /* wall clock */
    int duration_ms;
    struct batch_item rlink; /* in the record queue (worker/record.c) */
    struct job *prev, *next; /* the list of its state */
};

struct jobs {
    struct job *head[JS_STATE_COUNT]; /* one list per state, newest first */
    int n[JS_STATE_COUNT];
    int total;
    hmap *by_id;    /* notification id -> job */
    hmap *by_entry; /* entry id -> job */
};

void jobs_init(struct jobs *s);
/* jobs_fini: after every job was freed. */
void jobs_fini(struct jobs *s);

/* job_new: a job in JS_CLAIMING for entry_id carrying notification nid (any
 * case); NULL when one for that id or entry is already held. */
struct job *job_new(struct jobs *s, void *owner, const char *entry_id, const char *nid);

/* job_find: the job for notification id (lowercase), or NULL. */
struct job *job_find(struct jobs *s, const char *id);
bool job_holds_entry(struct jobs *s, const char *entry_id);

/* job_set_state: moves j to the list of state st. */
void job_set_state(struct job *j, enum job_state st);

/* job_take_row: copies row k of a claim result (enum ledger_claim_col) into
 * j and builds its message once. */
void job_take_row(struct job *j, const PGresult *res, int k, int64_t leased_mono);
bool job_claimed(const struct job *j);

/* job_free: unlinks and frees j; its attempt must have been released. */
void job_free(struct job *j);

/* job_ctx: a log context naming j. */
struct hlog_ctx job_ctx(const struct job *j, const char *channel);

#endif
