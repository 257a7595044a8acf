/* ctl_reach: what heraldctl says when PostgreSQL or Redis cannot be reached: the target with its
 * password removed, the variable that names it, and the reason in a few words. */
#ifndef HERALD_CTL_CTL_REACH_H
#define HERALD_CTL_CTL_REACH_H

#include <stddef.h>

struct cfg;

#define CTL_REACH_TARGET_LEN 512 /* a redacted URL, NUL included; longer ones are cut */

/* ctl_reach_redact: url (a libpq URI or key=value string, or a redis:// URL;
 * borrowed) into out without its password: the ":password" of the user
 * part, and password= / sslpassword= parameters, are left out. */
void ctl_reach_redact(const char *url, char *out, size_t n);

/* ctl_reach_pg_reason: libpq's connection failure message (borrowed; may
 * span lines, e.g. 'connection to server at "127.0.0.1", port 5432 failed:
 * Connection refused\n\tIs the server running...') in a few words into out:
 * "connection refused". */
void ctl_reach_pg_reason(const char *libpq_msg, char *out, size_t n);

/* ctl_reach_pg_fail: prints "heraldctl: [what: ]cannot reach PostgreSQL at
 * <redacted HERALD_DATABASE_URL> (HERALD_DATABASE_URL): <reason>". what may
 * be NULL; reason is already short (see ctl_reach_pg_reason). */
void ctl_reach_pg_fail(const struct cfg *c, const char *what, const char *reason);

/* ctl_reach_redis_probe: why Redis cannot be used, found by connecting
 * synchronously to HERALD_REDIS_URL (AUTH, SELECT and PING included), into
 * out ("connection refused", "WRONGPASS ..."); "" when it answers now. Blocks
 * up to HERALD_REDIS_TIMEOUT_MS (at least 1 s). */
void ctl_reach_redis_probe(const struct cfg *c, char *out, size_t n);

/* ctl_reach_redis_fail: prints "heraldctl: [what: ]cannot reach Redis at
 * <redacted HERALD_REDIS_URL> (HERALD_REDIS_URL): <reason>[; <then>]". what
 * and then may be NULL. */
void ctl_reach_redis_fail(const struct cfg *c, const char *what, const char *reason,
                          const char *then);

#endif
