/* consumer_priv: the consumer's state, shared by worker/consumer.c (groups,
 * reading, life cycle) and worker/upkeep.c (reclaim, reap, acks, trims);
 * nothing else includes it. */
#ifndef HERALD_WORKER_CONSUMER_PRIV_H
#define HERALD_WORKER_CONSUMER_PRIV_H

#include "common/stream.h"
#include "worker/consumer.h"
#include "worker/readplan.h"

#include <event2/util.h>

#define CONS_REQS (PRIO_COUNT + 1) /* XREADGROUPs of a round: one per priority, the old stream */

/* One XREADGROUP of a round. */
struct cons_req {
    cons *k;
    int *streams; /* stream indexes, n of them */
    int n;
    int count;
};

/* An entry read this round, copied out of the reply. */
struct cons_got {
    int stream, pos; /* its stream, and its place among that stream's entries */
    char token[CONS_TOKEN_LEN];
    char *nid; /* owned; NULL when the entry has no id */
};

struct cons {
    struct event_base *base;
    rds *rd, *wr;
    enum notif_channel ch;
    int n, lanes; /* streams, lanes per priority */
    char (*keys)[STREAM_KEY_LEN];
    char *consumer;
    struct cons_hooks hooks;
    void *arg;
    int block_ms;
    int visibility_ms;
    struct event *retry;   /* next read after a failure */
    struct event *reclaim; /* periodic XAUTOCLAIM */
    struct event *flush;   /* zero-delay: send queued acks */
    struct event *trim;    /* periodic XTRIM MINID of acknowledged entries */
    struct event *reap;    /* periodic removal of consumers that died */
    struct req_scope reqs; /* commands not yet answered */
    /* groups */
    bool ready;   /* every lane's group exists */
    int creating; /* XGROUP CREATE replies owed */
    bool create_failed;
    bool legacy_on, legacy_checking; /* the version 1 stream exists and is read */
    /* reading */
    struct readplan plan;
    bool reading;
    int round;     /* 1, 2, or 0 for the blocking read */
    int cap;       /* slots this cycle */
    int fill_prio; /* round 2: the priority read again */
    struct cons_req req[CONS_REQS];
    int nreq, req_left;
    int *ret; /* entries per stream this round */
    struct cons_got *got;
    int ngot, capgot;
    bool round_nogroup;
    char round_err[128];
    /* reclaiming */
    bool reclaiming;
    int reclaim_i;
    char (*cursor)[STREAM_ID_LEN]; /* XAUTOCLAIM position per stream */
    /* acks and trims */
    char **acks; /* tokens waiting for XACK */
    int nacks, capacks;
    bool *acked; /* per stream: entries acknowledged since its last trim */
    bool trimming;
    int trim_i;
    int reaping; /* XINFO CONSUMERS replies owed */
    bool stopped, detached;
    bool failing; /* the last read failed: log recovery once */
    void (*leave_fn)(void *);
    void *leave_arg;
    int leave_left;
    void (*idle_fn)(void *); /* cons_when_idle */
    void *idle_arg;
    struct event *idle_ev;
};

/* consumer.c */
bool cons_done(cons *k);
void cons_send(cons *k, rds *r, rds_cb cb, void *arg, int argc, const char **argv);
/* cons_send_owning: cons_send with arg mem_alloc'd for this command alone */
void cons_send_owning(cons *k, rds *r, rds_cb cb, void *arg, int argc, const char **argv);
int cons_token_parse(const cons *k, const char *token, const char **eid);
int cons_take(cons *k, int stream, const redisReply *entries);
void cons_hand(cons *k, bool reclaimed);
void cons_legacy_check(cons *k);

/* upkeep.c: the periodic and zero-delay events' callbacks */
void upkeep_reclaim_tick(evutil_socket_t fd, short what, void *arg);
void upkeep_reap_tick(evutil_socket_t fd, short what, void *arg);
void upkeep_flush_cb(evutil_socket_t fd, short what, void *arg);
void upkeep_trim_tick(evutil_socket_t fd, short what, void *arg);

#endif
