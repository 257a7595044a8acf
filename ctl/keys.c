/* keys: heraldctl keys create, list and revoke, over the api_keys table. */
#include "ctl/ctl.h"
#include "ctl/ctl_db.h"
#include "common/apikey.h"
#include "common/buf.h"
#include "common/util.h"

#include <stdlib.h>
#include <string.h>

/* A random 64-bit key id repeats with negligible odds; still, retry. */
#define CTL_KEY_ID_TRIES 3

/* ctl_keys_tenant_opt: checks the --tenant value, if any. */
static int ctl_keys_tenant_opt(const struct ctl_cmd *cmd, const char *tenant, bool required) {
    if (!tenant && required) {
        ctl_err("%s %s: --tenant NAME is required", cmd->group, cmd->verb);
        return HD_EXIT_USAGE;
    }
    if (tenant && !ctl_tenant_name_valid(tenant)) {
        ctl_err("%s %s: --tenant must be 1 to %d characters of A-Z a-z 0-9 . _ -", cmd->group,
                cmd->verb, CTL_TENANT_NAME_MAX);
        return HD_EXIT_USAGE;
    }
    return 0;
}

static int ctl_keys_create(struct ctl *c, int argc, char **argv) {
    const char *tenant = NULL;
    bool admin = false;
    const struct ctl_opt opts[] = {
        {"--tenant", &tenant, NULL}, {"--admin", NULL, &admin}, {NULL, NULL, NULL}};
    char key[APIKEY_LEN + 1] = {0};
    struct apikey_parts parts = {0};
    uint8_t hash[APIKEY_HASH_LEN];
    const char *params[4] = {parts.id, (const char *)hash, NULL, NULL};
    const int lens[4] = {0, APIKEY_HASH_LEN, 0, 0};
    const int fmts[4] = {0, 1, 0, 0};
    PGresult *r = NULL;
    int rc;

    rc = ctl_parse_args(&ctl_keys_create_cmd, argc, argv, opts, NULL, 0, 0);
    if (rc)
        goto out;
    rc = ctl_keys_tenant_opt(&ctl_keys_create_cmd, tenant, true);
    if (rc)
        goto out;
    rc = ctl_db_open(c, false);
    if (rc)
        goto out;
    params[2] = admin ? "true" : "false";
    params[3] = tenant;
    for (int i = 0; i < CTL_KEY_ID_TRIES; i++) {
        PQclear(r);
        apikey_generate(key, &parts);
        apikey_hash_secret(parts.secret, hash);
        r = ctl_db_exec_bin(c,
                            "INSERT INTO api_keys (id, tenant_id, secret_hash, admin)"
                            " SELECT $1, id, $2::bytea, $3::boolean FROM tenants WHERE name = $4",
                            4, params, lens, fmts);
        if (!ctl_db_is(r, "23505"))
            break;
    }
    if (!ctl_db_ok(r)) {
        rc = ctl_db_fail(c, r, "keys create");
        goto out;
    }
    if (strcmp(PQcmdTuples(r), "1") != 0) {
        ctl_err("keys create: no tenant named \"%s\"", tenant);
        rc = CTL_EXIT_FAIL;
        goto out;
    }
    rc = ctl_print_line(key);

out:
    memset(key, 0, sizeof(key));
    memset(&parts, 0, sizeof(parts));
    PQclear(r);
    return rc;
}

/* ctl_tenant_exists: 0 if it does, else an exit code after saying why. */
static int ctl_tenant_exists(struct ctl *c, const char *what, const char *tenant) {
    const char *params[] = {tenant};
    PGresult *r = ctl_db_exec(c, "SELECT 1 FROM tenants WHERE name = $1", 1, params);
    int rc = 0;

    if (!ctl_db_ok(r)) {
        rc = ctl_db_fail(c, r, what);
    } else if (PQntuples(r) == 0) {
        ctl_err("%s: no tenant named \"%s\"", what, tenant);
        rc = CTL_EXIT_FAIL;
    }
    PQclear(r);
    return rc;
}

/* Columns of the list query and of its table. */
enum { CTL_K_ID, CTL_K_TENANT, CTL_K_ADMIN, CTL_K_CREATED, CTL_K_USED, CTL_K_REVOKED, CTL_K_N };

static const char *const ctl_keys_heads[CTL_K_N] = {"KEY ID",  "TENANT",    "ADMIN",
                                                    "CREATED", "LAST USED", "REVOKED"};
static const char *const ctl_keys_json[CTL_K_N] = {"key_id",     "tenant",       "admin",
                                                   "created_at", "last_used_at", "revoked_at"};

/* ctl_keys_cell: column col of row as text, borrowed from r, a literal or
 * out (n >= UTIL_TIME_LEN bytes): times as RFC 3339 UTC with ms, NULL as "-"
 * in a table and NULL for JSON, the admin flag as yes/no or true/false. */
static const char *ctl_keys_cell(const PGresult *r, int row, int col, char *out, size_t n,
                                 bool json) {
    if (PQgetisnull(r, row, col))
        return json ? NULL : "-";
    const char *v = PQgetvalue(r, row, col);
    switch (col) {
    case CTL_K_ADMIN:
        return !strcmp(v, "t") ? (json ? "true" : "yes") : (json ? "false" : "no");
    case CTL_K_CREATED:
    case CTL_K_USED:
    case CTL_K_REVOKED:
        if (n < UTIL_TIME_LEN)
            return "?";
        util_fmt_time_ms(strtoll(v, NULL, 10), out);
        return out;
    default:
        return v;
    }
}

static void ctl_keys_table(const PGresult *r, struct buf *b) {
    size_t width[CTL_K_N];
    char tmp[UTIL_TIME_LEN];

    for (int col = 0; col < CTL_K_N; col++)
        width[col] = strlen(ctl_keys_heads[col]);
    for (int row = 0; row < PQntuples(r); row++) {
        for (int col = 0; col < CTL_K_N; col++) {
            size_t w = strlen(ctl_keys_cell(r, row, col, tmp, sizeof(tmp), false));
            if (w > width[col])
                width[col] = w;
        }
    }
    for (int row = -1; row < PQntuples(r); row++) {
        for (int col = 0; col < CTL_K_N; col++) {
            const char *v =
                row < 0 ? ctl_keys_heads[col] : ctl_keys_cell(r, row, col, tmp, sizeof(tmp), false);
            if (col == CTL_K_N - 1)
                buf_printf(b, "%s\n", v);
            else
                buf_printf(b, "%-*s  ", (int)width[col], v);
        }
    }
}

static void ctl_keys_json_array(const PGresult *r, struct buf *b) {
    char tmp[UTIL_TIME_LEN];

    buf_putc(b, '[');
    for (int row = 0; row < PQntuples(r); row++) {
        buf_puts(b, row ? ",\n  {" : "\n  {");
        for (int col = 0; col < CTL_K_N; col++) {
            const char *v = ctl_keys_cell(r, row, col, tmp, sizeof(tmp), true);
            buf_printf(b, "%s\"%s\": ", col ? ", " : "", ctl_keys_json[col]);
            if (!v)
                buf_puts(b, "null");
            else if (col == CTL_K_ADMIN)
                buf_puts(b, v);
            else
                buf_json_str(b, v, strlen(v));
        }
        buf_putc(b, '}');
    }
    buf_puts(b, PQntuples(r) ? "\n]\n" : "]\n");
}

static int ctl_keys_list(struct ctl *c, int argc, char **argv) {
    const char *tenant = NULL;
    bool json = false;
    const struct ctl_opt opts[] = {
        {"--tenant", &tenant, NULL}, {"--json", NULL, &json}, {NULL, NULL, NULL}};
    const char *params[1] = {NULL};
    struct buf b = {0};
    PGresult *r = NULL;
    int rc;

    rc = ctl_parse_args(&ctl_keys_list_cmd, argc, argv, opts, NULL, 0, 0);
    if (rc)
        goto out;
    rc = ctl_keys_tenant_opt(&ctl_keys_list_cmd, tenant, false);
    if (rc)
        goto out;
    rc = ctl_db_open(c, false);
    if (rc)
        goto out;
    if (tenant) {
        rc = ctl_tenant_exists(c, "keys list", tenant);
        if (rc)
            goto out;
    }
    params[0] = tenant;
    /* Times leave as ms since the epoch so util_fmt_time_ms formats them the
     * way the API does. */
    r = ctl_db_exec(c,
                    "SELECT k.id, t.name, k.admin,"
                    " floor(extract(epoch FROM k.created_at) * 1000)::bigint,"
                    " floor(extract(epoch FROM k.last_used_at) * 1000)::bigint,"
                    " floor(extract(epoch FROM k.revoked_at) * 1000)::bigint"
                    " FROM api_keys k JOIN tenants t ON t.id = k.tenant_id"
                    " WHERE $1::text IS NULL OR t.name = $1"
                    " ORDER BY k.created_at, k.id",
                    1, params);
    if (!ctl_db_ok(r)) {
        rc = ctl_db_fail(c, r, "keys list");
        goto out;
    }
    if (json)
        ctl_keys_json_array(r, &b);
    else
        ctl_keys_table(r, &b);
    if (fwrite(b.data, 1, b.len, stdout) != b.len || fflush(stdout) != 0) {
        ctl_err("keys list: could not write to stdout");
        rc = CTL_EXIT_FAIL;
        goto out;
    }
    rc = CTL_EXIT_OK;

out:
    buf_free(&b);
    PQclear(r);
    return rc;
}

static int ctl_keys_revoke(struct ctl *c, int argc, char **argv) {
    const char *pos[1] = {NULL};
    char line[128], when[UTIL_TIME_LEN];
    PGresult *r = NULL;
    int rc;

    rc = ctl_parse_args(&ctl_keys_revoke_cmd, argc, argv, NULL, pos, 1, 1);
    if (rc)
        goto out;
    if (!apikey_id_valid(pos[0])) {
        /* Not echoed: it may be a whole key, secret included. */
        ctl_err("keys revoke: KEY_ID must be the 16 lowercase hex characters after hk_");
        rc = HD_EXIT_USAGE;
        goto out;
    }
    rc = ctl_db_open(c, false);
    if (rc)
        goto out;
    /* An earlier revocation keeps its time; now() is the same for the whole
     * statement, so "revoked_at <> now()" means it was revoked before. */
    r = ctl_db_exec(c,
                    "UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1"
                    " RETURNING revoked_at <> now(),"
                    " floor(extract(epoch FROM revoked_at) * 1000)::bigint",
                    1, pos);
    if (!ctl_db_ok(r)) {
        rc = ctl_db_fail(c, r, "keys revoke");
        goto out;
    }
    if (PQntuples(r) == 0) {
        ctl_err("keys revoke: no API key with id %s", pos[0]);
        rc = CTL_EXIT_FAIL;
        goto out;
    }
    if (!strcmp(PQgetvalue(r, 0, 0), "t")) {
        util_fmt_time_ms(strtoll(PQgetvalue(r, 0, 1), NULL, 10), when);
        snprintf(line, sizeof(line), "%s was already revoked at %s", pos[0], when);
    } else {
        snprintf(line, sizeof(line), "revoked %s", pos[0]);
    }
    rc = ctl_print_line(line);

out:
    PQclear(r);
    return rc;
}

const struct ctl_cmd ctl_keys_create_cmd = {
    .group = "keys",
    .verb = "create",
    .synopsis = "--tenant NAME [--admin]",
    .summary = "create an API key and print it",
    .help = "Prints the new key, hk_<key id>_<secret>, on stdout, one line. It cannot be shown\n"
            "again: only a SHA-256 hash of the secret is stored.\n\n"
            "Options:\n"
            "  --tenant NAME   the tenant the key acts for (required)\n"
            "  --admin         the key may also use the /v1/admin routes\n",
    .run = ctl_keys_create,
};

const struct ctl_cmd ctl_keys_list_cmd = {
    .group = "keys",
    .verb = "list",
    .synopsis = "[--tenant NAME] [--json]",
    .summary = "list API keys: id, tenant, admin, created, last used, revoked",
    .help = "Times are RFC 3339 UTC with milliseconds; \"-\" (null in JSON) means never.\n\n"
            "Options:\n"
            "  --tenant NAME   only this tenant's keys\n"
            "  --json          a JSON array instead of a table\n",
    .run = ctl_keys_list,
};

const struct ctl_cmd ctl_keys_revoke_cmd = {
    .group = "keys",
    .verb = "revoke",
    .synopsis = "KEY_ID",
    .summary = "revoke an API key",
    .help = "KEY_ID is the 16 hex characters after hk_ (see keys list). Within 30 s the key\n"
            "answers 401 everywhere. Revoking a revoked key changes nothing.\n",
    .run = ctl_keys_revoke,
};
