/* ctl_db: heraldctl's one blocking libpq connection, its deadlines and its error lines. */
#include "ctl/ctl_db.h"
#include "ctl/ctl_reach.h"
#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ctl_db_oneline: in with every run of whitespace made one space and the
 * ends trimmed, so libpq's multi-line messages fit on one line. */
static void ctl_db_oneline(const char *in, char *out, size_t n) {
    size_t o = 0;
    bool space = false;

    for (const char *p = in ? in : ""; *p && o + 2 < n; p++) {
        if (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') {
            space = o > 0;
            continue;
        }
        if (space)
            out[o++] = ' ';
        space = false;
        out[o++] = *p;
    }
    out[o] = '\0';
}

/* ctl_db_redact: replaces url in msg with "<url>": libpq quotes the whole
 * URL in some parse errors, and it may hold a password. */
static void ctl_db_redact(char *msg, const char *url) {
    static const char mark[] = "<url>";
    size_t ulen = strlen(url);
    char *p;

    if (ulen < sizeof(mark) - 1)
        return;
    while ((p = strstr(msg, url)) != NULL) {
        memcpy(p, mark, sizeof(mark) - 1);
        memmove(p + sizeof(mark) - 1, p + ulen, strlen(p + ulen) + 1);
    }
}

/* ctl_db_notice: drops the server's NOTICE chatter ("relation already
 * exists, skipping") and keeps WARNINGs, on one line each. */
static void ctl_db_notice(void *arg, const PGresult *r) {
    char msg[HD_ERR_LEN];
    const char *sev = PQresultErrorField(r, PG_DIAG_SEVERITY_NONLOCALIZED);

    (void)arg;
    if (!sev || strcmp(sev, "WARNING") != 0)
        return;
    ctl_db_oneline(PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY), msg, sizeof(msg));
    ctl_err("warning: %s", msg);
}

int ctl_db_open(struct ctl *c, bool unbounded) {
    char err[HD_ERR_LEN], msg[HD_ERR_LEN], tmo_s[16], tmo_ms[16];
    /* Keywords after dbname override what the URL says. */
    const char *const keys[] = {"dbname", "connect_timeout", "fallback_application_name", NULL};
    const char *vals[] = {NULL, tmo_s, "heraldctl", NULL};
    const char *params[] = {tmo_ms};
    char *perr = NULL;
    PQconninfoOption *ci = NULL;
    PGresult *r = NULL;
    int secs, rc;

    if (!c->cfg_loaded) {
        if (cfg_load(&c->cfg, err, sizeof(err)) < 0) {
            ctl_err("%s", err);
            cfg_free(&c->cfg);
            rc = HD_EXIT_CONFIG;
            goto out;
        }
        c->cfg_loaded = true;
        hlog_init("ctl", (enum hlog_level)c->cfg.log_level);
    }

    /* A URL libpq cannot parse is a configuration error, not an outage. */
    ci = PQconninfoParse(c->cfg.database_url, &perr);
    if (!ci) {
        ctl_db_oneline(perr ? perr : "out of memory", msg, sizeof(msg));
        ctl_db_redact(msg, c->cfg.database_url);
        ctl_err("HERALD_DATABASE_URL: %s", msg);
        rc = HD_EXIT_CONFIG;
        goto out;
    }

    /* libpq counts connect_timeout in whole seconds and treats 1 as 2. */
    secs = (c->cfg.db_timeout_ms + 999) / 1000;
    snprintf(tmo_s, sizeof(tmo_s), "%d", secs < 2 ? 2 : secs);
    vals[0] = c->cfg.database_url;
    c->db = PQconnectdbParams(keys, vals, 1);
    if (!c->db || PQstatus(c->db) != CONNECTION_OK) {
        ctl_reach_pg_reason(c->db ? PQerrorMessage(c->db) : "out of memory", msg, sizeof(msg));
        ctl_reach_pg_fail(&c->cfg, NULL, msg);
        rc = HD_EXIT_DB;
        goto out;
    }
    PQsetNoticeReceiver(c->db, ctl_db_notice, NULL);

    snprintf(tmo_ms, sizeof(tmo_ms), "%d", unbounded ? 0 : c->cfg.db_timeout_ms);
    r = ctl_db_exec(c, "SELECT set_config('statement_timeout', $1, false)", 1, params);
    if (!ctl_db_ok(r)) {
        rc = ctl_db_fail(c, r, "setting statement_timeout");
        goto out;
    }
    rc = 0;

out:
    PQclear(r);
    PQconninfoFree(ci);
    PQfreemem(perr);
    return rc;
}

void ctl_db_close(struct ctl *c) {
    if (c->db)
        PQfinish(c->db);
    c->db = NULL;
    if (c->cfg_loaded)
        cfg_free(&c->cfg);
    c->cfg_loaded = false;
}

/* libpq returns NULL only when it cannot allocate; like mem_alloc, give up. */
static PGresult *ctl_db_check(PGresult *r) {
    if (!r)
        abort();
    return r;
}

PGresult *ctl_db_exec(struct ctl *c, const char *sql, int n, const char *const *vals) {
    return ctl_db_check(PQexecParams(c->db, sql, n, NULL, vals, NULL, NULL, 0));
}

PGresult *ctl_db_exec_bin(struct ctl *c, const char *sql, int n, const char *const *vals,
                          const int *lens, const int *fmts) {
    return ctl_db_check(PQexecParams(c->db, sql, n, NULL, vals, lens, fmts, 0));
}

PGresult *ctl_db_exec_script(struct ctl *c, const char *sql) {
    return ctl_db_check(PQexec(c->db, sql));
}

bool ctl_db_ok(const PGresult *r) {
    ExecStatusType st = PQresultStatus(r);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

bool ctl_db_is(const PGresult *r, const char *state) {
    const char *s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    return s && !strcmp(s, state);
}

int ctl_db_fail(struct ctl *c, const PGresult *r, const char *what) {
    char msg[HD_ERR_LEN];
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    const char *primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);

    ctl_db_oneline(primary ? primary : PQerrorMessage(c->db), msg, sizeof(msg));
    if (PQstatus(c->db) != CONNECTION_OK || (state && !strncmp(state, "08", 2))) {
        char reason[HD_ERR_LEN];
        ctl_reach_pg_reason(primary ? primary : PQerrorMessage(c->db), reason, sizeof(reason));
        ctl_reach_pg_fail(&c->cfg, what, reason);
        return HD_EXIT_DB;
    }
    if (state && !strcmp(state, "57014")) {
        ctl_err("%s: timed out after HERALD_DB_TIMEOUT_MS=%d: %s", what, c->cfg.db_timeout_ms, msg);
        return HD_EXIT_DB;
    }
    if (state && !strcmp(state, "42P01") && !c->migrating) {
        ctl_err("%s: %s (has heraldctl migrate been run?)", what, msg);
        return CTL_EXIT_FAIL;
    }
    ctl_err("%s: %s", what, msg);
    return CTL_EXIT_FAIL;
}
