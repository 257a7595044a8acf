/* migrate: heraldctl migrate, which applies schema/NNN_*.sql once each, in order, under an advisory
 * lock. */
#include "ctl/ctl.h"
#include "ctl/ctl_db.h"
#include "common/buf.h"

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

/* One migration file: NNN_<what>.sql. */
struct ctl_migration {
    int version; /* NNN */
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
    return (x->version > y->version) - (x->version < y->version);
}

/* ctl_migration_version: the version of a file named NNN_<what>.sql, or -1
 * for any other name (those are not migrations and are left alone). */
static int ctl_migration_version(const char *name) {
    size_t digits = strspn(name, "0123456789");
    size_t len = strlen(name);
    long v = 0;

    if (digits == 0 || digits > 6 || name[digits] != '_' || len < digits + 1 + 4 + 1 ||
        strcmp(name + len - 4, ".sql") != 0)
        return -1;
    for (size_t i = 0; i < digits; i++)
        v = v * 10 + (name[i] - '0');
    return (int)v;
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
        int v = ctl_migration_version(e->d_name);
        if (v < 0)
            continue;
        if (l->n == l->cap) {
            l->cap = l->cap ? 2 * l->cap : 16;
            l->v = mem_realloc(l->v, l->cap * sizeof(*l->v));
        }
        l->v[l->n].version = v;
        l->v[l->n].file = mem_strdup(e->d_name);
        l->n++;
    }
    if (l->n)
        qsort(l->v, l->n, sizeof(*l->v), ctl_migration_cmp);
    for (size_t i = 1; i < l->n; i++) {
        if (l->v[i].version == l->v[i - 1].version) {
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

/* ctl_error_line: the line of sql that the error in r points at (the
 * server counts characters from 1; sql is UTF-8), or 1 when it does not say. */
static int ctl_error_line(const PGresult *r, const char *sql) {
    const char *pos = PQresultErrorField(r, PG_DIAG_STATEMENT_POSITION);
    long chars = pos ? atol(pos) : 0;
    int line = 1;

    for (const char *p = sql; *p && chars > 1; p++) {
        if (((unsigned char)*p & 0xc0) != 0x80)
            chars--;
        if (*p == '\n')
            line++;
    }
    return line;
}

/* ctl_migrate_one: applies m and records it, in one transaction. Returns 0
 * or an exit code after printing why; on failure nothing of m remains. */
static int ctl_migrate_one(struct ctl *c, const char *dir, const struct ctl_migration *m) {
    struct buf sql = {0};
    char version[16], what[320];
    const char *params[2] = {version, m->file};
    PGresult *r = NULL;
    bool in_tx = false;
    int rc = CTL_EXIT_FAIL;

    snprintf(what, sizeof(what), "migrate: %s", m->file);
    if (ctl_read_file(dir, m->file, &sql) < 0)
        goto out;
    r = ctl_db_exec(c, "BEGIN", 0, NULL);
    if (!ctl_db_ok(r)) {
        rc = ctl_db_fail(c, r, what);
        goto out;
    }
    in_tx = true;
    PQclear(r);
    /* The file's own statements; PQexec stops at the first that fails. */
    r = ctl_db_exec_script(c, sql.data);
    if (!ctl_db_ok(r) && PQresultStatus(r) != PGRES_EMPTY_QUERY) {
        snprintf(what, sizeof(what), "migrate: %s line %d (rolled back)", m->file,
                 ctl_error_line(r, sql.data));
        rc = ctl_db_fail(c, r, what);
        goto out;
    }
    PQclear(r);
    snprintf(version, sizeof(version), "%d", m->version);
    r = ctl_db_exec(c, "INSERT INTO schema_migrations (version, name) VALUES ($1::integer, $2)", 2,
                    params);
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

/* ctl_applied_find: the row of res (version, name) for version, or -1. */
static int ctl_applied_find(const PGresult *res, int version) {
    for (int i = 0; i < PQntuples(res); i++)
        if (atoi(PQgetvalue(res, i, 0)) == version)
            return i;
    return -1;
}

static int ctl_migrate_run(struct ctl *c, int argc, char **argv) {
    const char *dir = HERALD_SCHEMA_DIR;
    const struct ctl_opt opts[] = {{"--schema-dir", &dir, NULL}, {NULL, NULL, NULL}};
    const char *key[] = {CTL_MIGRATE_LOCK_KEY};
    struct ctl_migration_list l = {0};
    PGresult *r = NULL, *applied = NULL;
    bool locked = false;
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

    /* Under the lock, so two first runs cannot race to create it. */
    r = ctl_db_exec(c,
                    "CREATE TABLE IF NOT EXISTS schema_migrations ("
                    " version integer PRIMARY KEY,"
                    " name text NOT NULL,"
                    " applied_at timestamptz NOT NULL DEFAULT now())",
                    0, NULL);
    if (!ctl_db_ok(r)) {
        rc = ctl_db_fail(c, r, "migrate: creating schema_migrations");
        goto out;
    }
    applied =
        ctl_db_exec(c, "SELECT version, name FROM schema_migrations ORDER BY version", 0, NULL);
    if (!ctl_db_ok(applied)) {
        rc = ctl_db_fail(c, applied, "migrate: reading schema_migrations");
        goto out;
    }
    for (int i = 0; i < PQntuples(applied); i++) {
        int v = atoi(PQgetvalue(applied, i, 0));
        bool known = false;
        for (size_t j = 0; j < l.n && !known; j++)
            known = l.v[j].version == v;
        if (!known)
            ctl_err("migrate: warning: applied migration %d (%s) is not in %s", v,
                    PQgetvalue(applied, i, 1), dir);
    }

    for (size_t i = 0; i < l.n; i++) {
        int row = ctl_applied_find(applied, l.v[i].version);
        if (row >= 0) {
            if (strcmp(PQgetvalue(applied, row, 1), l.v[i].file) != 0)
                ctl_err("migrate: warning: migration %d was applied as %s, the file is now %s",
                        l.v[i].version, PQgetvalue(applied, row, 1), l.v[i].file);
            continue;
        }
        rc = ctl_migrate_one(c, dir, &l.v[i]);
        if (rc)
            goto out;
        printf("applied %s\n", l.v[i].file);
        fflush(stdout);
        done++;
    }
    if (!done)
        printf("up to date\n");
    rc = CTL_EXIT_OK;

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
    .help = "Applies DIR/NNN_<what>.sql (default " HERALD_SCHEMA_DIR ") in numeric order, each\n"
            "once, in its own transaction together with its schema_migrations row. Runs under\n"
            "a PostgreSQL advisory lock, so concurrent runs wait for each other; running it\n"
            "again is harmless. Prints each migration it applied, or \"up to date\".\n"
            "Statements are not bounded by HERALD_DB_TIMEOUT_MS (only connecting is).\n\n"
            "Options:\n"
            "  --schema-dir DIR   where the migrations are\n",
    .run = ctl_migrate_run,
};
