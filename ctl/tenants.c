/* tenants: heraldctl tenants create and rotate-secret, which own tenants' webhook signing secrets.
 */
#include "ctl/ctl.h"
#include "ctl/ctl_db.h"
#include "common/apikey.h"

#include <stdio.h>
#include <string.h>

bool ctl_tenant_name_valid(const char *s) {
    size_t n = strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-");
    return n >= 1 && n <= CTL_TENANT_NAME_MAX && s[n] == '\0';
}

/* ctl_tenant_arg: the NAME argument, checked. */
static int ctl_tenant_arg(const struct ctl_cmd *cmd, int argc, char **argv, const char **name) {
    const char *pos[1] = {NULL};
    int rc = ctl_parse_args(cmd, argc, argv, NULL, pos, 1, 1);

    if (rc)
        return rc;
    if (!ctl_tenant_name_valid(pos[0])) {
        ctl_err("%s %s: NAME must be 1 to %d characters of A-Z a-z 0-9 . _ -", cmd->group,
                cmd->verb, CTL_TENANT_NAME_MAX);
        return HD_EXIT_USAGE;
    }
    *name = pos[0];
    return 0;
}

/* ctl_tenant_new_secret: the body of create and rotate-secret: stores a new
 * webhook signing secret for the tenant NAME with sql ($1 the name, $2 the
 * secret, RETURNING a row for the tenant written) and prints it. A name taken
 * (create) and no row (rotate-secret: no such tenant) are reported as
 * CTL_EXIT_FAIL. */
static int ctl_tenant_new_secret(struct ctl *c, const struct ctl_cmd *cmd, int argc, char **argv,
                                 const char *sql) {
    const char *name = NULL;
    char *secret = NULL;
    const char *params[2] = {NULL, NULL};
    char what[64];
    PGresult *r = NULL;
    int rc;

    snprintf(what, sizeof(what), "%s %s", cmd->group, cmd->verb);
    rc = ctl_tenant_arg(cmd, argc, argv, &name);
    if (rc)
        goto out;
    rc = ctl_db_open(c, false);
    if (rc)
        goto out;
    secret = apikey_new_webhook_secret();
    params[0] = name;
    params[1] = secret;
    r = ctl_db_exec(c, sql, 2, params);
    if (ctl_db_is(r, "23505")) {
        ctl_err("%s: a tenant named \"%s\" already exists", what, name);
        rc = CTL_EXIT_FAIL;
        goto out;
    }
    if (!ctl_db_ok(r)) {
        rc = ctl_db_fail(c, r, what);
        goto out;
    }
    if (PQntuples(r) == 0) {
        ctl_err("%s: no tenant named \"%s\"", what, name);
        rc = CTL_EXIT_FAIL;
        goto out;
    }
    rc = ctl_print_line(secret);

out:
    if (secret)
        memset(secret, 0, strlen(secret));
    mem_free(secret);
    PQclear(r);
    return rc;
}

static int ctl_tenants_create(struct ctl *c, int argc, char **argv) {
    return ctl_tenant_new_secret(
        c, &ctl_tenants_create_cmd, argc, argv,
        "INSERT INTO tenants (name, webhook_secret) VALUES ($1, $2) RETURNING id");
}

static int ctl_tenants_rotate(struct ctl *c, int argc, char **argv) {
    return ctl_tenant_new_secret(c, &ctl_tenants_rotate_cmd, argc, argv,
                                 "UPDATE tenants SET prev_webhook_secret = webhook_secret,"
                                 " webhook_secret = $2, secret_rotated_at = now()"
                                 " WHERE name = $1 RETURNING id");
}

const struct ctl_cmd ctl_tenants_create_cmd = {
    .group = "tenants",
    .verb = "create",
    .synopsis = "NAME",
    .summary = "create a tenant and print its webhook signing secret",
    .help = "NAME is 1 to 64 characters of A-Z a-z 0-9 . _ - and must be new.\n"
            "Prints the tenant's webhook signing secret (whsec_...) on stdout, one line.\n",
    .run = ctl_tenants_create,
};

const struct ctl_cmd ctl_tenants_rotate_cmd = {
    .group = "tenants",
    .verb = "rotate-secret",
    .synopsis = "NAME",
    .summary = "give a tenant a new webhook signing secret and print it",
    .help = "Prints the new secret on stdout, one line. Within 30 s webhooks are signed with\n"
            "it; for HERALD_SECRET_GRACE_S they also carry a signature by the previous one.\n"
            "Rotating again within that time drops the oldest secret.\n",
    .run = ctl_tenants_rotate,
};
