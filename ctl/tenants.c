/* tenants: heraldctl tenants create, rotate-secret, show and set: tenants,
 * their webhook signing secrets and their settings. */
#include "ctl/ctl.h"
#include "ctl/ctl_db.h"
#include "common/apikey.h"
#include "common/buf.h"
#include "common/tenant.h"

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

/* ctl_tenant_print: a settings row (name, events_url, event_types,
 * email_from) as GET /v1/tenant's JSON, or as aligned lines. */
static int ctl_tenant_print(const PGresult *r, bool json) {
    const char *url = PQgetisnull(r, 0, 1) ? NULL : PQgetvalue(r, 0, 1);
    unsigned types = tenant_types_from_literal(PQgetisnull(r, 0, 2) ? NULL : PQgetvalue(r, 0, 2));
    const char *from = PQgetisnull(r, 0, 3) ? NULL : PQgetvalue(r, 0, 3);
    struct buf b = {0};
    if (json) {
        tenant_settings_json(&b, PQgetvalue(r, 0, 0), url, types, from);
    } else {
        buf_printf(&b, "name         %s\nevents_url   %s\nevent_types  ", PQgetvalue(r, 0, 0),
                   url ? url : "-");
        for (int i = 0, n = 0; i < EV_COUNT; i++)
            if (types & (1u << i))
                buf_printf(&b, "%s%s", n++ ? "," : "", tenant_event_name((enum tenant_event)i));
        buf_printf(&b, "\nemail_from   %s", from ? from : "-");
    }
    int rc = ctl_print_line(b.data);
    buf_free(&b);
    return rc;
}

#define CTL_TENANT_COLS "name, events_url, event_types, email_from"

/* ctl_tenant_settings: runs sql ($1 the name, then params[1..n-1]) and
 * prints the settings row it returns. */
static int ctl_tenant_settings(struct ctl *c, const char *what, const char *name, const char *sql,
                               int n, const char **params, bool json) {
    int rc = ctl_db_open(c, false);
    if (rc)
        return rc;
    params[0] = name;
    PGresult *r = ctl_db_exec(c, sql, n, params);
    if (!ctl_db_ok(r)) {
        rc = ctl_db_fail(c, r, what);
    } else if (PQntuples(r) == 0) {
        ctl_err("%s: no tenant named \"%s\"", what, name);
        rc = CTL_EXIT_FAIL;
    } else {
        rc = ctl_tenant_print(r, json);
    }
    PQclear(r);
    return rc;
}

static int ctl_tenants_show(struct ctl *c, int argc, char **argv) {
    bool json = false;
    const char *pos[1] = {NULL};
    const struct ctl_opt opts[] = {{"--json", NULL, &json}, {NULL, NULL, NULL}};
    int rc = ctl_parse_args(&ctl_tenants_show_cmd, argc, argv, opts, pos, 1, 1);
    if (rc)
        return rc;
    if (!ctl_tenant_name_valid(pos[0])) {
        ctl_err("tenants show: NAME must be 1 to %d characters of A-Z a-z 0-9 . _ -",
                CTL_TENANT_NAME_MAX);
        return HD_EXIT_USAGE;
    }
    const char *params[1];
    return ctl_tenant_settings(c, "tenants show", pos[0],
                               "SELECT " CTL_TENANT_COLS " FROM tenants WHERE name = $1", 1, params,
                               json);
}

/* ctl_tenants_set_check: the options of set, checked as PATCH /v1/tenant
 * checks its fields; 0 or HD_EXIT_USAGE after saying why. */
static int ctl_tenants_set_check(const char *url, bool no_url, const char *types, unsigned *mask,
                                 const char *from, bool no_from) {
    const char *msg;
    char bad[64];
    if ((url && no_url) || (from && no_from)) {
        ctl_err("tenants set: give --events-url or --no-events-url, --email-from or "
                "--no-email-from, not both");
        return HD_EXIT_USAGE;
    }
    if (!url && !no_url && !types && !from && !no_from) {
        ctl_err("tenants set: nothing to set (see heraldctl tenants set --help)");
        return HD_EXIT_USAGE;
    }
    if (url && (msg = tenant_check_events_url(url))) {
        ctl_err("tenants set: --events-url %s", msg);
        return HD_EXIT_USAGE;
    }
    if (from && (msg = tenant_check_email_from(from))) {
        ctl_err("tenants set: --email-from %s", msg);
        return HD_EXIT_USAGE;
    }
    if (types && tenant_types_parse(types, mask, bad, sizeof(bad)) < 0) {
        ctl_err("tenants set: --event-types: \"%s\" is not an event type (notification.sent, "
                "notification.delivered, notification.failed, notification.cancelled, "
                "notification.expired, or all)",
                bad);
        return HD_EXIT_USAGE;
    }
    return 0;
}

static int ctl_tenants_set(struct ctl *c, int argc, char **argv) {
    const char *url = NULL, *types = NULL, *from = NULL;
    bool no_url = false, no_from = false, json = false;
    const char *pos[1] = {NULL};
    const struct ctl_opt opts[] = {{"--events-url", &url, NULL},
                                   {"--no-events-url", NULL, &no_url},
                                   {"--event-types", &types, NULL},
                                   {"--email-from", &from, NULL},
                                   {"--no-email-from", NULL, &no_from},
                                   {"--json", NULL, &json},
                                   {NULL, NULL, NULL}};
    int rc = ctl_parse_args(&ctl_tenants_set_cmd, argc, argv, opts, pos, 1, 1);
    if (rc)
        return rc;
    if (!ctl_tenant_name_valid(pos[0])) {
        ctl_err("tenants set: NAME must be 1 to %d characters of A-Z a-z 0-9 . _ -",
                CTL_TENANT_NAME_MAX);
        return HD_EXIT_USAGE;
    }
    unsigned mask = TENANT_EVENTS_ALL;
    rc = ctl_tenants_set_check(url, no_url, types, &mask, from, no_from);
    if (rc)
        return rc;
    struct buf lit = {0};
    if (types && mask != TENANT_EVENTS_ALL)
        tenant_types_literal(&lit, mask);
    const char *params[7] = {NULL,     url || no_url ? "t" : "f",   url, types ? "t" : "f",
                             lit.data, from || no_from ? "t" : "f", from};
    rc = ctl_tenant_settings(
        c, "tenants set", pos[0],
        "UPDATE tenants SET"
        " events_url = CASE WHEN $2::bool THEN $3 ELSE events_url END,"
        " event_types = CASE WHEN $4::bool THEN $5::text[] ELSE event_types END,"
        " email_from = CASE WHEN $6::bool THEN $7 ELSE email_from END"
        " WHERE name = $1 RETURNING " CTL_TENANT_COLS,
        7, params, json);
    buf_free(&lit);
    return rc;
}

const struct ctl_cmd ctl_tenants_show_cmd = {
    .group = "tenants",
    .verb = "show",
    .synopsis = "NAME [--json]",
    .summary = "print a tenant's settings",
    .help = "Prints name, events_url, event_types and email_from (\"-\" when unset).\n"
            "  --json   the object GET /v1/tenant answers\n",
    .run = ctl_tenants_show,
};

const struct ctl_cmd ctl_tenants_set_cmd = {
    .group = "tenants",
    .verb = "set",
    .synopsis = "NAME [--events-url URL | --no-events-url] [--event-types T,...]\n"
                "       [--email-from \"Name <addr>\" | --no-email-from] [--json]",
    .summary = "change a tenant's settings (as PATCH /v1/tenant) and print them",
    .help = "  --events-url URL     status events are POSTed there, signed like webhooks\n"
            "                       (an http or https URL; the webhook destination rules\n"
            "                       apply when an event is delivered)\n"
            "  --no-events-url      stop pushing events (GET /v1/events still lists them)\n"
            "  --event-types T,...  the event types pushed: notification.sent,\n"
            "                       notification.delivered, notification.failed,\n"
            "                       notification.cancelled, notification.expired, or all\n"
            "  --email-from ADDR    the From header of the tenant's email: an address or\n"
            "                       \"Display Name <address>\" (the envelope sender stays\n"
            "                       HERALD_SMTP_FROM)\n"
            "  --no-email-from      back to HERALD_SMTP_FROM\n"
            "  --json               print the result as GET /v1/tenant answers\n"
            "Settings apply to notifications and events created after the command returns.\n",
    .run = ctl_tenants_set,
};

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
