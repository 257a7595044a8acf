/* itpdb: a database of a test's own on the test server (for tests that need a schema
 * state or a partition length of their own), heraldctl migrate on it, and herald-api and
 * herald-worker pointed at it. Every helper fails the test on errors. The state (pdb)
 * is defined once, in itpdb.c. */
#ifndef HERALD_TESTS_ITPDB_H
#define HERALD_TESTS_ITPDB_H

#include "itsup.h"
#include "common/mem.h"

#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

struct pdb {
    char name[64];
    char url[512];
    char url_env[560]; /* HERALD_DATABASE_URL=url */
    PGconn *conn;
};

extern struct pdb pdb;

/* pdb_create: drops and creates database name (nothing migrated) and connects to it. */
void pdb_create(const char *name);
/* pdb_drop: disconnects and drops the database (teardown; never fails the test). */
void pdb_drop(void);
/* pdb_sqlv: runs sql with params on the private database; fails the test on errors.
 * Caller frees with PQclear. */
PGresult *pdb_sqlv(const char *sql, int n, const char *const *params);
/* pdb_sql: pdb_sqlv with the parameters as variadic strings, NULL-terminated. */
PGresult *pdb_sql(const char *sql, ...) __attribute__((sentinel));
/* pdb_exec: pdb_sql for statements whose result is not needed. */
void pdb_exec(const char *sql, ...) __attribute__((sentinel));
/* pdb_value: the first cell of sql's answer ("" for NULL or no row); caller frees. */
char *pdb_value(const char *sql, ...) __attribute__((sentinel));
/* pdb_long: pdb_value as a number. */
long pdb_long(const char *sql);
/* pdb_past_cutoff: waits (bounded) until the database's clock has passed the bound below
 * which the conversion (006) left every key in the first partition, so that rows with ids
 * of now go to the new partitions. */
void pdb_past_cutoff(void);
/* pdb_migrate: heraldctl migrate on the private database with extra_env (may be NULL),
 * from schema_dir (NULL: the source tree's); fails the test unless it exits 0. Returns
 * its stdout; caller frees. */
char *pdb_migrate(const char *schema_dir, const char *const *extra_env);
/* pdb_spawn: argv with the private database and extra_env (NULL-terminated). */
pid_t pdb_spawn(const char *const *argv, const char *const *extra_env);

#endif
