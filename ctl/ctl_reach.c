/* ctl_reach: heraldctl's "cannot reach" lines: redacted targets, short reasons, a Redis probe. */
#include "ctl/ctl_reach.h"
#include "ctl/ctl.h"
#include "common/buf.h"

#include <ctype.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#define CTL_REACH_PROBE_MIN_MS 1000

/* ctl_reach_secret_key: whether a connection parameter holds a secret. */
static bool ctl_reach_secret_key(const char *k, size_t n) {
    return (n == 8 && !strncmp(k, "password", n)) || (n == 11 && !strncmp(k, "sslpassword", n));
}

/* ctl_reach_redact_uri: scheme://[user[:password]@]host.../path[?query]. */
static void ctl_reach_redact_uri(const char *url, const char *after_scheme, struct buf *b) {
    const char *auth = after_scheme;
    const char *auth_end = auth + strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *p = auth; p < auth_end; p++)
        if (*p == '@')
            at = p;
    buf_append(b, url, (size_t)(auth - url));
    if (at) {
        const char *colon = memchr(auth, ':', (size_t)(at - auth));
        const char *user_end = colon ? colon : at;
        if (user_end > auth) {
            buf_append(b, auth, (size_t)(user_end - auth));
            buf_putc(b, '@');
        }
        auth = at + 1;
    }
    const char *q = strchr(auth, '?');
    if (!q) {
        buf_puts(b, auth);
        return;
    }
    buf_append(b, auth, (size_t)(q - auth));
    const char *p = q + 1, *frag = p + strcspn(p, "#");
    bool first = true;
    while (p < frag) {
        const char *end = p + strcspn(p, "&#");
        if (end > frag)
            end = frag;
        size_t klen = strcspn(p, "=&#");
        if (p + klen > end)
            klen = (size_t)(end - p);
        if (end > p && !ctl_reach_secret_key(p, klen)) {
            buf_putc(b, first ? '?' : '&');
            buf_append(b, p, (size_t)(end - p));
            first = false;
        }
        p = *end == '&' ? end + 1 : end;
    }
    buf_puts(b, frag);
}

/* ctl_reach_redact_kv: "host=h password='x y' dbname=d" without the secrets. */
static void ctl_reach_redact_kv(const char *s, struct buf *b) {
    const char *p = s;
    while (*p) {
        while (isspace((unsigned char)*p))
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && *p != '=' && !isspace((unsigned char)*p))
            p++;
        size_t klen = (size_t)(p - start);
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '=') {
            p++;
            while (isspace((unsigned char)*p))
                p++;
            if (*p == '\'') {
                for (p++; *p && *p != '\''; p++)
                    if (*p == '\\' && p[1])
                        p++;
                if (*p)
                    p++;
            } else {
                while (*p && !isspace((unsigned char)*p))
                    p++;
            }
        }
        if (ctl_reach_secret_key(start, klen))
            continue;
        if (b->len)
            buf_putc(b, ' ');
        buf_append(b, start, (size_t)(p - start));
    }
}

void ctl_reach_redact(const char *url, char *out, size_t n) {
    struct buf b = {0};
    const char *sep = url ? strstr(url, "://") : NULL;
    buf_puts(&b, "");
    if (sep && sep > url && (size_t)(sep - url) == strspn(url, "abcdefghijklmnopqrstuvwxyz"))
        ctl_reach_redact_uri(url, sep + 3, &b);
    else if (url)
        ctl_reach_redact_kv(url, &b);
    snprintf(out, n, "%s", b.data);
    buf_free(&b);
}

/* ctl_reach_words: s (len bytes) with runs of whitespace as one space, the
 * ends trimmed and the first letter lower case unless the word is an
 * acronym ("SSL"), into out. */
static void ctl_reach_words(const char *s, size_t len, char *out, size_t n) {
    size_t o = 0;
    bool space = false;
    for (size_t i = 0; i < len && o + 2 < n; i++) {
        if (isspace((unsigned char)s[i])) {
            space = o > 0;
            continue;
        }
        if (space)
            out[o++] = ' ';
        space = false;
        out[o++] = s[i];
    }
    out[o] = '\0';
    if (o > 1 && isupper((unsigned char)out[0]) && !isupper((unsigned char)out[1]))
        out[0] = (char)tolower((unsigned char)out[0]);
    if (o == 0)
        snprintf(out, n, "unknown error");
}

void ctl_reach_pg_reason(const char *libpq_msg, char *out, size_t n) {
    const char *s = libpq_msg ? libpq_msg : "";
    size_t line = strcspn(s, "\n");
    /* 'connection to server at "h", port p failed: <reason>' */
    const char *failed = strstr(s, "failed: ");
    if (failed && (size_t)(failed - s) < line) {
        line -= (size_t)(failed + 8 - s);
        s = failed + 8;
    }
    while (line && isspace((unsigned char)*s)) {
        s++;
        line--;
    }
    if (line > 6 && !strncmp(s, "FATAL:", 6)) {
        s += 6;
        line -= 6;
    }
    ctl_reach_words(s, line, out, n);
}

void ctl_reach_pg_fail(const struct cfg *c, const char *what, const char *reason) {
    char target[CTL_REACH_TARGET_LEN];
    ctl_reach_redact(c->database_url, target, sizeof(target));
    ctl_err("%s%scannot reach PostgreSQL at %s (HERALD_DATABASE_URL): %s", what ? what : "",
            what ? ": " : "", target, reason);
}

/* ctl_reach_redis_cmd: one command on the probe's connection; the error
 * (if any) into out. Returns 0 when Redis answered without an error. */
static int ctl_reach_redis_cmd(redisContext *rc, char *out, size_t n, const char *fmt,
                               const char *arg) {
    redisReply *r = arg ? redisCommand(rc, fmt, arg) : redisCommand(rc, fmt);
    int ret = 0;
    if (!r) {
        ctl_reach_words(rc->errstr, strlen(rc->errstr), out, n);
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        ctl_reach_words(r->str, r->len, out, n);
        ret = -1;
    }
    freeReplyObject(r);
    return ret;
}

void ctl_reach_redis_probe(const struct cfg *c, char *out, size_t n) {
    int ms =
        c->redis_timeout_ms < CTL_REACH_PROBE_MIN_MS ? CTL_REACH_PROBE_MIN_MS : c->redis_timeout_ms;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    char db[16];
    redisContext *rc = redisConnectWithTimeout(c->redis_host, c->redis_port, tv);
    out[0] = '\0';
    if (!rc) {
        snprintf(out, n, "out of memory");
        return;
    }
    if (rc->err) {
        ctl_reach_words(rc->errstr, strlen(rc->errstr), out, n);
        goto out;
    }
    (void)redisSetTimeout(rc, tv);
    if (c->redis_password && ctl_reach_redis_cmd(rc, out, n, "AUTH %s", c->redis_password) < 0)
        goto out;
    snprintf(db, sizeof(db), "%d", c->redis_db);
    if (ctl_reach_redis_cmd(rc, out, n, "SELECT %s", db) < 0)
        goto out;
    (void)ctl_reach_redis_cmd(rc, out, n, "PING", NULL);
out:
    redisFree(rc);
}

void ctl_reach_redis_fail(const struct cfg *c, const char *what, const char *reason,
                          const char *then) {
    char target[CTL_REACH_TARGET_LEN];
    ctl_reach_redact(c->redis_url, target, sizeof(target));
    ctl_err("%s%scannot reach Redis at %s (HERALD_REDIS_URL): %s%s%s", what ? what : "",
            what ? ": " : "", target, reason && *reason ? reason : "no answer in time",
            then ? "; " : "", then ? then : "");
}
