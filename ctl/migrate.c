/* migrate: heraldctl migrate, which applies schema/NNN[a-z]_*.sql once each, in order, under an
 * advisory lock, then creates the partitions the next periods need. */
#include "ctl/ctl.h"
#include "ctl/ctl_db.h"
#include "common/buf.h"
#include "common/partman.h"
#include "common/sqlsplit.h"
#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#ifndef HERALD_SCHEMA_DIR
#define HERALD_SCHEMA_DIR "schema"
#endif

/* The advisory lock every heraldctl migrate takes: "herald" in ASCII. Never
 * change it, or an old and a new heraldctl could migrate at the same time. */
#define CTL_MIGRATE_LOCK_KEY "114784820031588"

/* A file whose leading comment holds this line runs outside a transaction, one statement
 * at a time (CREATE INDEX CONCURRENTLY, VALIDATE CONSTRAINT on a live table); such a file must
 * be safe to run again from its start, as a failure part-way leaves what ran before it. */
#define CTL_NO_TX_MARK "-- heraldctl: no transaction"

/* One migration file: NNN_<what>.sql, or NNNx_<what>.sql for a step x (a..z) that runs
 * after NNN and before the next number. */
struct ctl_migration {
    int version; /* NNN */
    char step;   /* 'a'..'z', or '\0' for none */
    char *file;  /* owned; the file name without the directory */
};

struct ctl_migration_list {
    struct ctl_migration *v; /* owned; sorted by version */
    size_t n, cap;
};

static void ctl_migrations_free(struct ctl_migration_list *l) {
    for (size_t i = 0; i < l->n; i++)
        mem_free(l->v[i].file);
    mem_free(l->v);
    memset(l, 0, sizeof(*l));
}

static int ctl_migration_cmp(const void *a, const void *b) {
    const struct ctl_migration *x = a, *y = b;
    if (x->version != y->version)
        return (x->version > y->version) - (x->version < y->version);
    return (x->step > y->step) - (x->step < y->step);
}

/* ctl_migration_version: the version of a file named NNN_<what>.sql or
 * NNNx_<what>.sql (*step = x, else '\0'), or -1 for any other name (those are not
 * migrations and are left alone). */
static int ctl_migration_version(const char *name, char *step) {
    size_t digits = strspn(name, "0123456789");
    size_t len = strlen(name), at = digits;
    long v = 0;

    *step = '\0';
    if (digits > 0 && name[at] >= 'a' && name[at] <= 'z')
        *step = name[at++];
    if (digits == 0 || digits > 6 || name[at] != '_' || len < at + 1 + 4 + 1 ||
        strcmp(name + len - 4, ".sql") != 0)
        return -1;
    for (size_t i = 0; i < digits; i++)
        v = v * 10 + (name[i] - '0');
    return (int)v;
}

/* ctl_migration_key: "NNN" or "NNNx", as the migration is known in messages. */
static void ctl_migration_key(const struct ctl_migration *m, char *out, size_t n) {
    if (m->step)
        snprintf(out, n, "%03d%c", m->version, m->step);
    else
        snprintf(out, n, "%03d", m->version);
}

/* ctl_migrations_scan: the migrations in dir, sorted. Returns 0, or -1 after
 * printing why (unreadable directory, two files with one version). */
static int ctl_migrations_scan(const char *dir, struct ctl_migration_list *l) {
    DIR *d = opendir(dir);
    struct dirent *e;
    int rc = -1;

    if (!d) {
        ctl_err("migrate: cannot read %s: %s", dir, strerror(errno));
        goto out;
    }
    while ((e = readdir(d)) != NULL) {
        char step;
        int v = ctl_migration_version(e->d_name, &step);
        if (v < 0)
            continue;
        if (l->n == l->cap) {
            l->cap = l->cap ? 2 * l->cap : 16;
            l->v = mem_realloc(l->v, l->cap * sizeof(*l->v));
        }
        l->v[l->n].version = v;
        l->v[l->n].step = step;
        l->v[l->n].file = mem_strdup(e->d_name);
        l->n++;
    }
    if (l->n)
        qsort(l->v, l->n, sizeof(*l->v), ctl_migration_cmp);
    for (size_t i = 1; i < l->n; i++) {
        if (ctl_migration_cmp(&l->v[i], &l->v[i - 1]) == 0) {
            ctl_err("migrate: %s and %s have the same number", l->v[i - 1].file, l->v[i].file);
            goto out;
        }
    }
    rc = 0;

out:
    if (d)
        closedir(d);
    return rc;
}

/* ctl_read_file: dir/file into b. Returns 0, or -1 after printing why. */
static int ctl_read_file(const char *dir, const char *file, struct buf *b) {
    char path[4096], chunk[8192];
    FILE *f = NULL;
    size_t n;
    int rc = -1;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, file) >= sizeof(path)) {
        ctl_err("migrate: path too long: %s", dir);
        goto out;
    }
    f = fopen(path, "rb");
    if (!f) {
        ctl_err("migrate: cannot open %s: %s", path, strerror(errno));
        goto out;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        buf_append(b, chunk, n);
    if (ferror(f)) {
        ctl_err("migrate: cannot read %s", path);
        goto out;
    }
    if (memchr(b->data ? b->data : "", '\0', b->len)) {
        ctl_err("migrate: %s holds a NUL byte", path);
        goto out;
    }
    buf_putc(b, '\0'); /* make data non-NULL even for an empty file */
    b->len--;
    rc = 0;

out:
    if (f)
        fclose(f);
    return rc;
}

/* ctl_error_line: the line of sql that the error in r points at, for a
 * statement that starts at byte offset from of sql (the server counts
 * characters from 1 within what it was sent; sql is UTF-8), or the
 * statement's first line when it does not say. */
static int ctl_error_line(const PGresult *r, const char *sql, size_t from) {
    const char *pos = PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION);
    long chars = pos ? atol(pos) : 0;
    int line = 1;

    for (size_t i = 0; i < from && sql[i]; i++)
        line += sql[i] == '\n';
    for (const char *p = sql + from; *p && chars > 1; p++) {
        if (((unsigned char)*p & 0xc0) != 0x80)
            chars--;
        if (*p == '\n')
            line++;
    }
    return line;
}

/* ctl_no_tx: whether the leading comment lines of sql hold CTL_NO_TX_MARK. */
static bool ctl_no_tx(const char *sql) {
    const char *p = sql;
    size_t mark = strlen(CTL_NO_TX_MARK);

    for (;;) {
        p += strspn(p, " \t\r\n");
        if (strncmp(p, "--", 2) != 0)
            return false;
        size_t n = strcspn(p, "\r\n");
        while (n > mark && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n == mark && strncmp(p, CTL_NO_TX_MARK, mark) == 0)
            return true;
        p += strcspn(p, "\n");
    }
}

/* ctl_run_sql: runs sql, all at once in the open transaction (no_tx false), or
 * statement by statement, each in its own transaction. Returns 0, or an exit
 * code after printing which line of m failed. */
static int ctl_run_sql(struct ctl *c, const struct ctl_migration *m, const char *sql, bool no_tx) {
    char what[320];
    size_t pos = 0, start = 0, len;
    PGresult *r = NULL;
    int rc = CTL_EXIT_OK;

    if (!no_tx) {
        r = ctl_db_exec_script(c, sql);
    } else {
        while (sqlsplit_next(sql, &pos, &start, &len)) {
            char *stmt = mem_alloc(len + 1);
            memcpy(stmt, sql + start, len);
            stmt[len] = '\0';
            PQclear(r);
            r = ctl_db_exec_script(c, stmt);
            mem_free(stmt);
            if (!ctl_db_ok(r))
                break;
        }
    }
    if (r && !ctl_db_ok(r) && PQresultStatus(r) != PGRES_EMPTY_QUERY) {
        snprintf(what, sizeof(what), "migrate: %s line %d (%s)", m->file,
                 ctl_error_line(r, sql, start),
                 no_tx ? "the statements before it stay applied; the file runs again from its "
                         "start next time"
                       : "rolled back");
        rc = ctl_db_fail(c, r, what);
    }
    PQclear(r);
    return rc;
}

/* ctl_migrate_one: applies m and records it: in one transaction, or for a
 * file marked CTL_NO_TX_MARK statement by statement and then the record.
 * Returns 0 or an exit code after printing why; on failure nothing of a
 * transactional m remains, and m is not recorded. */
static int ctl_migrate_one(struct ctl *c, const char *dir, const struct ctl_migration *m) {
    struct buf sql = {0};
    char version[16], step[2] = {m->step, '\0'}, what[320];
    const char *params[3] = {version, step, m->file};
    PGresult *r = NULL;
    bool in_tx = false, no_tx;
    int rc = CTL_EXIT_FAIL;

    snprintf(what, sizeof(what), "migrate: %s", m->file);
    if (ctl_read_file(dir, m->file, &sql) < 0)
        goto out;
    no_tx = ctl_no_tx(sql.data);
    if (no_tx) {
        rc = ctl_run_sql(c, m, sql.data, true);
        if (rc)
            goto out;
    }
    r = ctl_db_exec(c, "BEGIN", 0, NULL);
    if (!ctl_db_ok(r)) {
        rc = ctl_db_fail(c, r, what);
        goto out;
    }
    in_tx = true;
    PQclear(r);
    r = NULL;
    if (!no_tx) {
        rc = ctl_run_sql(c, m, sql.data, false);
        if (rc)
            goto out;
    }
    snprintf(version, sizeof(version), "%d", m->version);
    r = ctl_db_exec(c,
                    "INSERT INTO schema_migrations (version, step, name)"
                    " VALUES ($1::integer, $2, $3)",
                    3, params);
    if (!ctl_db_ok(r)) {
        rc = ctl_db_fail(c, r, what);
        goto out;
    }
    PQclear(r);
    r = ctl_db_exec(c, "COMMIT", 0, NULL);
    in_tx = false;
    if (!ctl_db_ok(r)) {
        rc = ctl_db_fail(c, r, what);
        goto out;
    }
    rc = CTL_EXIT_OK;

out:
    PQclear(r);
    if (in_tx && PQstatus(c->db) == CONNECTION_OK)
        PQclear(ctl_db_exec(c, "ROLLBACK", 0, NULL));
    buf_free(&sql);
    return rc;
}

/* ctl_migrate_lock: takes the migration lock, saying so on stderr if
 * another run holds it and this one has to wait. */
static int ctl_migrate_lock(struct ctl *c) {
    const char *key[] = {CTL_MIGRATE_LOCK_KEY};
    PGresult *r = ctl_db_exec(c, "SELECT pg_try_advisory_lock($1::bigint)", 1, key);
    int rc = CTL_EXIT_OK;

    if (!ctl_db_ok(r)) {
        rc = ctl_db_fail(c, r, "migrate: taking the migration lock");
        goto out;
    }
    if (!strcmp(PQgetvalue(r, 0, 0), "t"))
        goto out;
    ctl_err("migrate: waiting for another heraldctl migrate to finish");
    PQclear(r);
    r = ctl_db_exec(c, "SELECT pg_advisory_lock($1::bigint)", 1, key);
    if (!ctl_db_ok(r))
        rc = ctl_db_fail(c, r, "migrate: taking the migration lock");

out:
    PQclear(r);
    return rc;
}

/* Created by the first run; a step column (for NNNx files) is added to a table made
 * before steps existed, and the key becomes (version, step). Run under the lock. */
static const char ctl_migrations_table_sql[] =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " version integer NOT NULL,"
    " step text NOT NULL DEFAULT '',"
    " name text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now(),"
    " PRIMARY KEY (version, step));"
    "ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS step text NOT NULL DEFAULT '';"
    "DO $$ BEGIN"
    " IF (SELECT array_length(conkey, 1) FROM pg_constraint"
    "     WHERE conrelid = 'schema_migrations'::regclass AND contype = 'p') = 1 THEN"
    "  ALTER TABLE schema_migrations DROP CONSTRAINT schema_migrations_pkey,"
    "   ADD PRIMARY KEY (version, step);"
    " END IF; END $$";

/* ctl_applied_find: the row of res (version, step, name) for m, or -1. */
static int ctl_applied_find(const PGresult *res, const struct ctl_migration *m) {
    char step[2] = {m->step, '\0'};
    for (int i = 0; i < PQntuples(res); i++)
        if (atoi(PQgetvalue(res, i, 0)) == m->version && !strcmp(PQgetvalue(res, i, 1), step))
            return i;
    return -1;
}

/* ctl_migrate_partitions: the partitions the next periods need (and the
 * settings migrations read), once the schema has the partition functions.
 * Prints how many it created when it did. */
static int ctl_migrate_partitions(struct ctl *c) {
    char now[24], period[24], ahead[24];
    const char *params[] = {now, period, ahead};
    PGresult *r = NULL;
    int rc = CTL_EXIT_OK;

    r = ctl_db_exec(c, "SELECT to_regproc('herald_partitions_ensure') IS NOT NULL", 0, NULL);
    if (!ctl_db_ok(r)) {
        rc = ctl_db_fail(c, r, "migrate: partitions");
        goto out;
    }
    if (strcmp(PQgetvalue(r, 0, 0), "t") != 0)
        goto out;
    PQclear(r);
    snprintf(now, sizeof(now), "%lld", (long long)util_now_ms());
    snprintf(period, sizeof(period), "%d", c->cfg.partition_ms);
    snprintf(ahead, sizeof(ahead), "%lld", (long long)partman_ahead_ms(c->cfg.partition_ms));
    r = ctl_db_exec(c, PARTMAN_ENSURE_SQL, 3, params);
    if (!ctl_db_ok(r) && ctl_db_is(r, "55P03")) {
        /* a long statement holds a table: the processes make them on their next tick */
        ctl_err("migrate: warning: partitions not created now (a table was busy for 1 s); "
                "herald-api creates them");
        goto out;
    }
    if (!ctl_db_ok(r)) {
        rc = ctl_db_fail(c, r, "migrate: creating partitions");
        goto out;
    }
    if (atoi(PQgetvalue(r, 0, 0)) > 0) {
        printf("created %s partitions\n", PQgetvalue(r, 0, 0));
        fflush(stdout);
    }

out:
    PQclear(r);
    return rc;
}

static int ctl_migrate_run(struct ctl *c, int argc, char **argv) {
    const char *dir = HERALD_SCHEMA_DIR;
    const struct ctl_opt opts[] = {{"--schema-dir", &dir, NULL}, {NULL, NULL, NULL}};
    const char *key[] = {CTL_MIGRATE_LOCK_KEY};
    struct ctl_migration_list l = {0};
    PGresult *r = NULL, *applied = NULL;
    bool locked = false;
    char period[24];
    const char *guc[] = {period};
    int done = 0, rc;

    rc = ctl_parse_args(&ctl_migrate_cmd, argc, argv, opts, NULL, 0, 0);
    if (rc)
        goto out;
    if (ctl_migrations_scan(dir, &l) < 0) {
        rc = CTL_EXIT_FAIL;
        goto out;
    }
    c->migrating = true;
    rc = ctl_db_open(c, true);
    if (rc)
        goto out;
    rc = ctl_migrate_lock(c);
    if (rc)
        goto out;
    locked = true;

    /* what migrations that create partitions read (006) */
    snprintf(period, sizeof(period), "%d", c->cfg.partition_ms);
    r = ctl_db_exec(c, "SELECT set_config('herald.partition_ms', $1, false)", 1, guc);
    if (!ctl_db_ok(r)) {
        rc = ctl_db_fail(c, r, "migrate: settings");
        goto out;
    }
    PQclear(r);
    r = ctl_db_exec_script(c, ctl_migrations_table_sql);
    if (!ctl_db_ok(r)) {
        rc = ctl_db_fail(c, r, "migrate: creating schema_migrations");
        goto out;
    }
    applied =
        ctl_db_exec(c, "SELECT version, step, name FROM schema_migrations ORDER BY 1, 2", 0, NULL);
    if (!ctl_db_ok(applied)) {
        rc = ctl_db_fail(c, applied, "migrate: reading schema_migrations");
        goto out;
    }
    for (int i = 0; i < PQntuples(applied); i++) {
        int v = atoi(PQgetvalue(applied, i, 0));
        const char *step = PQgetvalue(applied, i, 1);
        bool known = false;
        for (size_t j = 0; j < l.n && !known; j++)
            known = l.v[j].version == v && l.v[j].step == step[0];
        if (!known)
            ctl_err("migrate: warning: applied migration %03d%s (%s) is not in %s", v, step,
                    PQgetvalue(applied, i, 2), dir);
    }

    for (size_t i = 0; i < l.n; i++) {
        int row = ctl_applied_find(applied, &l.v[i]);
        if (row >= 0) {
            char k[16];
            ctl_migration_key(&l.v[i], k, sizeof(k));
            if (strcmp(PQgetvalue(applied, row, 2), l.v[i].file) != 0)
                ctl_err("migrate: warning: migration %s was applied as %s, the file is now %s", k,
                        PQgetvalue(applied, row, 2), l.v[i].file);
            continue;
        }
        int64_t t0 = util_mono_ms();
        rc = ctl_migrate_one(c, dir, &l.v[i]);
        if (rc)
            goto out;
        printf("applied %s in %.2f s\n", l.v[i].file, (double)(util_mono_ms() - t0) / 1000.0);
        fflush(stdout);
        done++;
    }
    if (!done)
        printf("up to date\n");
    rc = ctl_migrate_partitions(c);

out:
    if (locked && PQstatus(c->db) == CONNECTION_OK)
        PQclear(ctl_db_exec(c, "SELECT pg_advisory_unlock($1::bigint)", 1, key));
    PQclear(applied);
    PQclear(r);
    ctl_migrations_free(&l);
    return rc;
}

const struct ctl_cmd ctl_migrate_cmd = {
    .group = "migrate",
    .verb = NULL,
    .synopsis = "[--schema-dir DIR]",
    .summary = "apply the schema migrations not applied yet, in order",
    .help = "Applies DIR/NNN_<what>.sql and DIR/NNNx_<what>.sql (default " HERALD_SCHEMA_DIR ")\n"
            "in order (NNN, then its steps NNNa, NNNb, ...), each once, in its own transaction\n"
            "together with its schema_migrations row; a file whose leading comment holds\n"
            "\"" CTL_NO_TX_MARK "\" runs statement by statement instead. Runs under a\n"
            "PostgreSQL advisory lock, so concurrent runs wait for each other; running it\n"
            "again is harmless. Prints each migration it applied and how long it took, or\n"
            "\"up to date\". Then\n"
            "creates the partitions of the next two HERALD_PARTITION_MS periods that do not\n"
            "exist yet (and says how many). Statements are not bounded by\n"
            "HERALD_DB_TIMEOUT_MS (only connecting is).\n\n"
            "Options:\n"
            "  --schema-dir DIR   where the migrations are\n",
    .run = ctl_migrate_run,
};
