/* db: a pool of asynchronous libpq connections driven by the process's event_base. */
#ifndef HERALD_COMMON_DB_H
#define HERALD_COMMON_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/req.h"

struct event_base;
struct buf;
typedef struct db db;

enum db_status {
    DB_OK = 0,      /* the statement ran; res holds its result */
    DB_ERROR,       /* the server refused the statement; nothing it did was kept */
    DB_UNAVAILABLE, /* never sent: no connection could be had in time */
    DB_LOST,        /* sent, then the connection broke or timed out: outcome unknown */
};

struct db_result {
    enum db_status status;
    PGresult *res;        /* DB_OK: borrowed, valid only during the callback */
    const char *sqlstate; /* DB_ERROR: five-character SQLSTATE, borrowed */
    const char *message;  /* every status but DB_OK: borrowed, valid during the callback */
};

/* A query callback runs exactly once per db_query (never, if the request
 * is cancelled first), on the loop, never inside db_query itself (except
 * after db_shutdown, below). Copy what you keep from r. */
typedef void (*db_cb)(void *arg, const struct db_result *r);

/* db_open: starts nconns connections in the background (never blocks; a
 * hostname in url is resolved by libpq itself, so use numeric addresses on
 * the hot path). Connections that fail or break are re-made with backoff.
 * timeout_ms bounds connecting and each statement (queue time included).
 * Caller frees with db_close(). */
db *db_open(struct event_base *base, const char *url, int nconns, int timeout_ms, unsigned flags);

/* DB_KEYED_PLANS: for sessions whose statements find their rows by key
 * (the worker's: ids joined from unnest(array)). Each prepared statement is
 * planned once, without its parameters (plan_cache_mode=force_generic_plan),
 * and the planner is steered off sequential scans, hash joins and merge joins
 * (enable_seqscan, enable_hashjoin, enable_mergejoin off: heavy costs, not
 * bans; a statement with no other way still runs). A plan made while a table
 * was empty (the first batches after a deploy, a purge or a new partition) is
 * then a nested loop of key lookups like one made on a full table, instead of
 * a scan kept for the life of the plan; and the lookups prune partitions per
 * row as they run. Planning every execution instead (force_custom_plan) cost
 * a fifth of PostgreSQL's CPU under load. The worker's sweeper shares these
 * sessions: its statements read the partial indexes, which the settings do
 * not touch. */
#define DB_KEYED_PLANS 1u

/* db_shutdown: drops every connection; queued and running queries get
 * DB_UNAVAILABLE / DB_LOST synchronously, and from now on db_query answers
 * DB_UNAVAILABLE at once (inside db_query), so callbacks that query again
 * during a teardown find a live handle. Idempotent. */
void db_shutdown(db *d);
/* db_close: db_shutdown, then frees d. */
void db_close(db *d);

/* db_query: runs one parameterised statement (text parameters, NULL for SQL
 * NULL; lens NULL means NUL-terminated) in its own implicit transaction on
 * the first free connection. sql and params are copied. Returns the
 * request's handle (common/req.h: cancel it, or add it to the module's
 * scope), valid until its callback starts; NULL after db_shutdown, when the
 * callback has already run. */
struct req *db_query(db *d, const char *sql, int nparams, const char *const *params, db_cb cb,
                     void *arg);

/* db_query_prepared: db_query for a statement run often. sql must be a
 * string that lives as long as d (a static array): it is known by its
 * address, prepared once on each connection (again after a reconnect) and
 * then sent by name, so the server parses it once per session (and plans it
 * once too, unless the session plans every execution). Past 32
 * distinct statements it behaves as db_query. */
struct req *db_query_prepared(db *d, const char *sql, int nparams, const char *const *params,
                              db_cb cb, void *arg);

/* db_up: true while at least one connection is established. */
bool db_up(const db *d);
/* db_busy: queries sent or waiting for a connection. */
int db_pending(const db *d);

/* db_array_add: appends s (n bytes; s NULL for SQL NULL) as an element of a
 * PostgreSQL array literal being built in b ("{" and "}" are the caller's). */
void db_array_add(struct buf *b, const char *s, size_t n);

/* db_get: the text of a cell, "" for NULL; borrowed from res. */
const char *db_get(const PGresult *res, int row, int col);
bool db_isnull(const PGresult *res, int row, int col);

#endif
