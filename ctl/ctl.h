/* ctl: what heraldctl's command modules share: the command descriptor, the run context, argument
 * parsing and messages. */
#ifndef HERALD_CTL_CTL_H
#define HERALD_CTL_CTL_H

#include <stdbool.h>
#include <stdio.h>

#include <libpq-fe.h>

#include "common/config.h"
#include "common/mem.h"

/* Exit codes besides those in common/config.h: 0 success, 1 the command
 * itself failed (duplicate name, unknown id, SQL error). */
#define CTL_EXIT_OK 0
#define CTL_EXIT_FAIL 1

/* One heraldctl run. Config and the connection are opened lazily by
 * ctl_db_open(), so bad usage is reported before bad configuration. */
struct ctl {
    struct cfg cfg;
    bool cfg_loaded;
    PGconn *db;     /* NULL until ctl_db_open() */
    bool migrating; /* errors come from migration files: no "run migrate" hint */
};

/* ctl_cmd_run: runs a command; argv holds only its own arguments (after the
 * group and verb); returns the process exit code. */
typedef int (*ctl_cmd_run)(struct ctl *c, int argc, char **argv);

/* A command: "migrate" (no verb) or "keys create" (group and verb). To add
 * one, define a const struct ctl_cmd in its module, declare it below and
 * list it in ctl_cmds[] in ctl/main.c. */
struct ctl_cmd {
    const char *group;    /* "keys" */
    const char *verb;     /* "create"; NULL when the group is the command */
    const char *synopsis; /* arguments after the verb, for usage lines */
    const char *summary;  /* one line for the overview */
    const char *help;     /* options and effects, for <cmd> --help; may be NULL */
    ctl_cmd_run run;
};

extern const struct ctl_cmd ctl_migrate_cmd;
extern const struct ctl_cmd ctl_tenants_create_cmd;
extern const struct ctl_cmd ctl_tenants_rotate_cmd;
extern const struct ctl_cmd ctl_tenants_show_cmd;
extern const struct ctl_cmd ctl_tenants_set_cmd;
extern const struct ctl_cmd ctl_keys_create_cmd;
extern const struct ctl_cmd ctl_keys_list_cmd;
extern const struct ctl_cmd ctl_keys_revoke_cmd;
extern const struct ctl_cmd ctl_queues_cmd;
extern const struct ctl_cmd ctl_destinations_cmd;
extern const struct ctl_cmd ctl_dlq_list_cmd;
extern const struct ctl_cmd ctl_dlq_replay_cmd;

/* An option a command accepts: "--tenant" with a value (value != NULL) or a
 * flag (flag != NULL). Values are borrowed from argv. */
struct ctl_opt {
    const char *name;
    const char **value;
    bool *flag;
};

/* ctl_parse_args: fills opts (terminated by a {NULL} entry) and up to
 * npos_max positional arguments into pos (borrowed from argv). Accepts
 * "--name value", "--name=value" and "--" ending the options. Returns 0, or
 * HD_EXIT_USAGE after printing a one-line reason naming cmd. */
int ctl_parse_args(const struct ctl_cmd *cmd, int argc, char **argv, const struct ctl_opt *opts,
                   const char **pos, int npos_min, int npos_max) HD_MUSTCHECK;

/* ctl_err: prints "heraldctl: <message>" and a newline on stderr; the
 * message should be one line and never hold a secret. */
void ctl_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ctl_usage_line: prints "usage: heraldctl <group> [<verb>] <synopsis>". */
void ctl_usage_line(FILE *out, const struct ctl_cmd *cmd);

/* ctl_print_line: prints s (borrowed) and a newline on stdout and flushes;
 * returns CTL_EXIT_OK, or CTL_EXIT_FAIL after saying it could not (for a
 * new secret this means it is lost, though what was stored stays). */
int ctl_print_line(const char *s);

#define CTL_TENANT_NAME_MAX 64

/* ctl_tenant_name_valid: whether s (borrowed) is 1..64 characters of
 * [A-Za-z0-9._-]. Defined in ctl/tenants.c. */
bool ctl_tenant_name_valid(const char *s);

#endif
