/* itpdb: a database of a test's own on the test server, heraldctl migrate on
 * it, and processes pointed at it. */
#include "itpdb.h"
#include "common/mem.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pdb pdb;

/* pdb_create: drops and creates database name (nothing migrated) and connects to it. */
void pdb_create(const char *name) {
    const char *base = getenv("HERALD_TEST_DATABASE_URL");
    cr_assert(base && strrchr(base, '/'), "HERALD_TEST_DATABASE_URL");
    char sql[256];
    snprintf(pdb.name, sizeof(pdb.name), "%s", name);
    snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    it_sql_exec(sql, NULL);
    snprintf(sql, sizeof(sql), "CREATE DATABASE %s", name);
    it_sql_exec(sql, NULL);
    size_t keep = (size_t)(strrchr(base, '/') - base);
    snprintf(pdb.url, sizeof(pdb.url), "%.*s/%s", (int)keep, base, name);
    snprintf(pdb.url_env, sizeof(pdb.url_env), "HERALD_DATABASE_URL=%s", pdb.url);
    const char *keys[] = {"dbname", NULL};
    const char *vals[] = {pdb.url, NULL};
    pdb.conn = PQconnectdbParams(keys, vals, 1);
    cr_assert(PQstatus(pdb.conn) == CONNECTION_OK, "connect %s: %s", name,
              PQerrorMessage(pdb.conn));
}

/* pdb_drop: disconnects and drops the database (teardown; never fails the test). */
void pdb_drop(void) {
    if (pdb.conn)
        PQfinish(pdb.conn);
    pdb.conn = NULL;
    if (pdb.name[0] && getenv("HERALD_TEST_DATABASE_URL")) {
        char sql[256];
        snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)", pdb.name);
        PGresult *r = PQexec(it_db(), sql);
        PQclear(r);
    }
    pdb.name[0] = '\0';
}

/* pdb_sqlv: runs sql with params on the private database; fails the test on errors.
 * Caller frees with PQclear. */
PGresult *pdb_sqlv(const char *sql, int n, const char *const *params) {
    PGresult *r = PQexecParams(pdb.conn, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    cr_assert(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, "SQL failed: %s\n  %s",
              PQresultErrorMessage(r), sql);
    return r;
}

/* pdb_args: the variadic string parameters after sql, up to the NULL, into params[16]. */
static int pdb_args(va_list ap, const char **params) {
    int n = 0;
    const char *p;
    while ((p = va_arg(ap, const char *)) != NULL && n < 16)
        params[n++] = p;
    return n;
}

/* pdb_sql: pdb_sqlv with the parameters as variadic strings, NULL-terminated. */
PGresult *pdb_sql(const char *sql, ...) {
    const char *params[16];
    va_list ap;
    va_start(ap, sql);
    int n = pdb_args(ap, params);
    va_end(ap);
    return pdb_sqlv(sql, n, params);
}

/* pdb_exec: pdb_sql for statements whose result is not needed. */
void pdb_exec(const char *sql, ...) {
    const char *params[16];
    va_list ap;
    va_start(ap, sql);
    int n = pdb_args(ap, params);
    va_end(ap);
    PQclear(pdb_sqlv(sql, n, params));
}

/* pdb_value: the first cell of sql's answer ("" for NULL or no row); caller frees. */
char *pdb_value(const char *sql, ...) {
    const char *params[16];
    va_list ap;
    va_start(ap, sql);
    int n = pdb_args(ap, params);
    va_end(ap);
    PGresult *r = pdb_sqlv(sql, n, params);
    char *v = mem_strdup(PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return v;
}

/* pdb_long: pdb_value as a number. */
long pdb_long(const char *sql) {
    char *v = pdb_value(sql, NULL);
    long n = atol(v);
    mem_free(v);
    return n;
}

/* pdb_past_cutoff: waits until the database's clock has passed the bound below which the
 * conversion (006) left every key in the first partition, so that rows with ids of now
 * go to the new partitions. */
static bool pdb_is_past_cutoff(void *arg) {
    (void)arg;
    return pdb_long("SELECT count(*) FROM herald_partitioned WHERE name = 'notifications' AND "
                    "cutoff > herald_uuid7_floor((extract(epoch FROM now()) * 1000)::bigint)") == 0;
}

void pdb_past_cutoff(void) {
    cr_assert(it_eventually(pdb_is_past_cutoff, NULL, 30000),
              "the database's clock never passed the conversion's cutoff");
}

/* pdb_migrate: heraldctl migrate on the private database with extra_env (may be NULL),
 * from schema_dir (NULL: the source tree's); fails the test unless it exits 0. Returns
 * its stdout; caller frees. */
char *pdb_migrate(const char *schema_dir, const char *const *extra_env) {
    const char *env[16] = {pdb.url_env};
    int n = 1;
    for (int i = 0; extra_env && extra_env[i] && n < 15; i++)
        env[n++] = extra_env[i];
    env[n] = NULL;
    const char *argv[] = {"heraldctl", "migrate", schema_dir ? "--schema-dir" : NULL, schema_dir,
                          NULL};
    int code = -1;
    char *out = it_run_capture(argv, env, &code);
    cr_assert_eq(code, 0, "heraldctl migrate exited %d: %s", code, out);
    return out;
}

/* pdb_spawn: argv with the private database and extra_env (NULL-terminated). */
pid_t pdb_spawn(const char *const *argv, const char *const *extra_env) {
    const char *env[32] = {pdb.url_env};
    int n = 1;
    for (int i = 0; extra_env && extra_env[i] && n < 31; i++)
        env[n++] = extra_env[i];
    env[n] = NULL;
    return it_spawn(argv, env);
}
