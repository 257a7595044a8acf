/* cli: heraldctl's argument parsing and its one-line messages on stderr. */
#include "ctl/ctl.h"

#include <stdarg.h>
#include <string.h>

void ctl_err(const char *fmt, ...) {
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* One line whatever the message holds. */
    for (char *p = msg; *p; p++)
        if (*p == '\n' || *p == '\r' || *p == '\t')
            *p = ' ';
    fprintf(stderr, "heraldctl: %s\n", msg);
}

void ctl_usage_line(FILE *out, const struct ctl_cmd *cmd) {
    fprintf(out, "usage: heraldctl %s%s%s %s\n", cmd->group, cmd->verb ? " " : "",
            cmd->verb ? cmd->verb : "", cmd->synopsis);
}

/* ctl_cmd_name: "keys create" or "migrate" into out. */
static void ctl_cmd_name(const struct ctl_cmd *cmd, char *out, size_t n) {
    snprintf(out, n, "%s%s%s", cmd->group, cmd->verb ? " " : "", cmd->verb ? cmd->verb : "");
}

static const struct ctl_opt *ctl_find_opt(const struct ctl_opt *opts, const char *arg, size_t len) {
    for (const struct ctl_opt *o = opts; o && o->name; o++)
        if (strlen(o->name) == len && !strncmp(o->name, arg, len))
            return o;
    return NULL;
}

int ctl_parse_args(const struct ctl_cmd *cmd, int argc, char **argv, const struct ctl_opt *opts,
                   const char **pos, int npos_min, int npos_max) {
    char name[64];
    int npos = 0;
    bool opts_done = false;

    ctl_cmd_name(cmd, name, sizeof(name));
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!opts_done && !strcmp(a, "--")) {
            opts_done = true;
            continue;
        }
        if (!opts_done && a[0] == '-' && a[1] != '\0') {
            const char *eq = strchr(a, '=');
            size_t len = eq ? (size_t)(eq - a) : strlen(a);
            const struct ctl_opt *o = ctl_find_opt(opts, a, len);
            if (!o) {
                ctl_err("%s: unknown option \"%.*s\" (see heraldctl %s --help)", name,
                        (int)(len > 40 ? 40 : len), a, name);
                goto usage;
            }
            if (o->flag) {
                if (eq) {
                    ctl_err("%s: %s takes no value", name, o->name);
                    goto usage;
                }
                *o->flag = true;
                continue;
            }
            if (eq) {
                *o->value = eq + 1;
            } else if (i + 1 < argc) {
                *o->value = argv[++i];
            } else {
                ctl_err("%s: %s needs a value", name, o->name);
                goto usage;
            }
            continue;
        }
        if (npos >= npos_max) {
            /* Not echoed: it may be a key pasted in the wrong place. */
            ctl_err("%s: unexpected extra argument (usage: heraldctl %s %s)", name, name,
                    cmd->synopsis);
            goto usage;
        }
        pos[npos++] = a;
    }
    if (npos < npos_min) {
        ctl_err("%s: missing argument (usage: heraldctl %s %s)", name, name, cmd->synopsis);
        goto usage;
    }
    return 0;

usage:
    return HD_EXIT_USAGE;
}

int ctl_print_line(const char *s) {
    if (printf("%s\n", s) < 0 || fflush(stdout) != 0) {
        ctl_err("could not write to stdout");
        return CTL_EXIT_FAIL;
    }
    return CTL_EXIT_OK;
}
