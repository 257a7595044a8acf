/* heraldctl: the operator's command line; finds the command in ctl_cmds[] and runs it. */
#include "ctl/ctl.h"
#include "ctl/ctl_db.h"
#include "common/log.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

/* Every command, in the order --help lists them. Commands of one group stay
 * next to each other. */
static const struct ctl_cmd *const ctl_cmds[] = {
    &ctl_migrate_cmd,     &ctl_tenants_create_cmd, &ctl_tenants_rotate_cmd, &ctl_tenants_show_cmd,
    &ctl_tenants_set_cmd, &ctl_keys_create_cmd,    &ctl_keys_list_cmd,      &ctl_keys_revoke_cmd,
    &ctl_queues_cmd,      &ctl_destinations_cmd,   &ctl_dlq_list_cmd,       &ctl_dlq_replay_cmd,
};

static bool ctl_is_help(const char *a) {
    return !strcmp(a, "--help") || !strcmp(a, "-h") || !strcmp(a, "help");
}

/* ctl_print_overview: every command whose group matches (all when group is
 * NULL); the full overview also lists the environment. */
static void ctl_print_overview(FILE *out, const char *group) {
    fprintf(out, "usage: heraldctl <command> [options]\n\nCommands:\n");
    for (size_t i = 0; i < HD_ARRAY_LEN(ctl_cmds); i++) {
        const struct ctl_cmd *cmd = ctl_cmds[i];
        char name[128];
        if (group && strcmp(group, cmd->group) != 0)
            continue;
        snprintf(name, sizeof(name), "%s%s%s %s", cmd->group, cmd->verb ? " " : "",
                 cmd->verb ? cmd->verb : "", cmd->synopsis);
        if (strlen(name) > 44) /* a long synopsis gets a line of its own */
            fprintf(out, "  %s\n  %-44s %s\n", name, "", cmd->summary);
        else
            fprintf(out, "  %-44s %s\n", name, cmd->summary);
    }
    fprintf(out, "\nRun heraldctl <command> --help for details.\n");
    if (group)
        return;
    fprintf(out, "Exit codes: 0 ok, 1 failed, 2 bad usage, 3 bad configuration, "
                 "4 database unreachable, 5 Redis unreachable.\n\n");
    cfg_print_env_help(out);
}

/* ctl_print_cmd_help: this command's usage only; the settings every
 * command reads are in the overview. */
static void ctl_print_cmd_help(FILE *out, const struct ctl_cmd *cmd) {
    ctl_usage_line(out, cmd);
    fprintf(out, "\n%s\n", cmd->summary);
    if (cmd->help)
        fprintf(out, "\n%s", cmd->help);
    fprintf(out, "\nPostgreSQL and Redis are found through HERALD_DATABASE_URL and "
                 "HERALD_REDIS_URL;\nheraldctl --help lists every setting.\n");
}

/* ctl_find: the command for argv (group, then verb if the group has verbs).
 * Sets *used to the words consumed. Returns NULL after printing why. */
static const struct ctl_cmd *ctl_find(int argc, char **argv, int *used, int *rc) {
    const char *group = argv[1];
    bool known = false;

    *rc = HD_EXIT_USAGE;
    for (size_t i = 0; i < HD_ARRAY_LEN(ctl_cmds); i++) {
        if (strcmp(ctl_cmds[i]->group, group) != 0)
            continue;
        known = true;
        if (!ctl_cmds[i]->verb) {
            *used = 2;
            return ctl_cmds[i];
        }
    }
    if (!known) {
        ctl_err("unknown command \"%.40s\" (see heraldctl --help)", group);
        return NULL;
    }
    if (argc < 3) {
        ctl_err("%s: missing subcommand (see heraldctl %s --help)", group, group);
        return NULL;
    }
    if (ctl_is_help(argv[2])) {
        ctl_print_overview(stdout, group);
        *rc = CTL_EXIT_OK;
        return NULL;
    }
    for (size_t i = 0; i < HD_ARRAY_LEN(ctl_cmds); i++) {
        if (!strcmp(ctl_cmds[i]->group, group) && !strcmp(ctl_cmds[i]->verb, argv[2])) {
            *used = 3;
            return ctl_cmds[i];
        }
    }
    ctl_err("%s: unknown subcommand \"%.40s\" (see heraldctl %s --help)", group, argv[2], group);
    return NULL;
}

/* ctl_check_stdio: a closed stdin or stderr becomes /dev/null, and a closed
 * stdout is refused: otherwise the database socket could take descriptor 1
 * and a new secret would be written into it. Returns 0 or an exit code. */
static int ctl_check_stdio(void) {
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) != -1)
            continue;
        if (open("/dev/null", O_RDWR) != fd)
            return HD_EXIT_USAGE;
        if (fd == STDOUT_FILENO) {
            ctl_err("stdout is closed");
            return HD_EXIT_USAGE;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    struct ctl c = {0};
    const struct ctl_cmd *cmd;
    int used = 0, rc;

    /* Until the configuration is read, only errors are worth a log line. */
    hlog_init("ctl", HLOG_ERROR);
    rc = ctl_check_stdio();
    if (rc)
        return rc;
    if (argc < 2) {
        ctl_err("missing command (see heraldctl --help)");
        return HD_EXIT_USAGE;
    }
    if (ctl_is_help(argv[1])) {
        ctl_print_overview(stdout, NULL);
        return CTL_EXIT_OK;
    }
    cmd = ctl_find(argc, argv, &used, &rc);
    if (!cmd)
        return rc;
    for (int i = used; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            ctl_print_cmd_help(stdout, cmd);
            return CTL_EXIT_OK;
        }
    }

    rc = cmd->run(&c, argc - used, argv + used);
    ctl_db_close(&c);
    return rc;
}
