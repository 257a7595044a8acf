/* ctl_db: heraldctl's synchronous PostgreSQL connection (libpq), with one-line error reporting. */
#ifndef HERALD_CTL_CTL_DB_H
#define HERALD_CTL_CTL_DB_H

#include <stdbool.h>

#include <libpq-fe.h>

#include "ctl/ctl.h"

/* ctl_db_open: loads the configuration (cfg_load) and connects to
 * HERALD_DATABASE_URL, giving up after HERALD_DB_TIMEOUT_MS (libpq's
 * connect_timeout, in whole seconds, at least 2). Each statement then gets
 * statement_timeout = HERALD_DB_TIMEOUT_MS, or none when unbounded is true
 * (migrations, which may wait for the migration lock and build indexes).
 * Blocks. Returns 0, or prints one line and returns HD_EXIT_CONFIG (bad
 * configuration) or HD_EXIT_DB (database unreachable). */
int ctl_db_open(struct ctl *c, bool unbounded) HD_MUSTCHECK;

/* ctl_db_close: closes the connection and frees the configuration; safe to
 * call whatever ctl_db_open() did. */
void ctl_db_close(struct ctl *c);

/* ctl_db_exec: runs one parameterised statement with n text parameters
 * (vals[i] NULL for SQL NULL; borrowed). Blocks up to the statement timeout.
 * Returns the result, never NULL; caller frees it with PQclear(). */
PGresult *ctl_db_exec(struct ctl *c, const char *sql, int n, const char *const *vals);

/* ctl_db_exec_bin: as ctl_db_exec, with per-parameter lengths and formats
 * (1 = binary) for bytea values. */
PGresult *ctl_db_exec_bin(struct ctl *c, const char *sql, int n, const char *const *vals,
                          const int *lens, const int *fmts);

/* ctl_db_exec_script: runs sql, which may hold several statements, over the
 * simple query protocol. Only for migration files read from disk: values
 * always go through ctl_db_exec(). Returns the last result, never NULL;
 * caller frees it with PQclear(). */
PGresult *ctl_db_exec_script(struct ctl *c, const char *sql);

/* ctl_db_ok: whether r is a successful command or query result. */
bool ctl_db_ok(const PGresult *r);

/* ctl_db_is: whether r failed with SQLSTATE state (e.g. "23505"). */
bool ctl_db_is(const PGresult *r, const char *state);

/* ctl_db_fail: reports a failed result as one line, "heraldctl: <what>:
 * <server message>", and returns the exit code to use: HD_EXIT_DB when the
 * connection was lost or a statement timed out, CTL_EXIT_FAIL otherwise. r
 * is borrowed; the caller still clears it. */
int ctl_db_fail(struct ctl *c, const PGresult *r, const char *what);

#endif
