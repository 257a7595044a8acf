/* recipient: the address rules of API.md for each channel's recipient, and for
 * the other addresses a request or a tenant setting carries (reply_to,
 * email_from, events_url). Pure; never blocks. */
#include "common/recipient.h"
#include "common/json.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RCPT_EMAIL_MAX 254      /* bytes (ASCII) */
#define RCPT_EMAIL_LOCAL_MAX 64 /* bytes, RFC 5321 4.5.3.1.1 */
#define RCPT_TOKEN_MAX 4096     /* bytes (ASCII) */
#define RCPT_URL_MAX 2048       /* bytes (ASCII) */
#define RCPT_NAME_MAX 128       /* code points of a mailbox's display name */

static bool rcpt_alnum(char ch) {
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9');
}

/* A DNS hostname: dot-separated labels of 1..63 letters, digits and inner
 * hyphens (underscores too when allowed), ≤ 253 bytes, optional final dot. */
static bool rcpt_hostname(const char *s, size_t n, bool lenient) {
    if (lenient && n > 1 && s[n - 1] == '.')
        n--;
    if (n == 0 || n > 253)
        return false;
    size_t label = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || s[i] == '.') {
            if (label == 0 || label > 63 || s[i - 1] == '-' || s[i - label] == '-')
                return false;
            label = 0;
            continue;
        }
        if (!rcpt_alnum(s[i]) && s[i] != '-' && !(lenient && s[i] == '_'))
            return false;
        label++;
    }
    return true;
}

const char *rcpt_email(const char *s, size_t n) {
    static const char atext[] = "!#$%&'*+-/=?^_`{|}~";
    static const char bad[] = "must be an email address (local@domain)";
    if (n > RCPT_EMAIL_MAX)
        return "must be at most 254 characters";
    const char *at = memchr(s, '@', n);
    if (!at || memchr(at + 1, '@', n - (size_t)(at - s) - 1))
        return bad;
    size_t local = (size_t)(at - s);
    if (local > RCPT_EMAIL_LOCAL_MAX)
        return "must have a local part (before the @) of at most 64 characters";
    if (local == 0)
        return bad;
    for (size_t i = 0; i < local; i++) {
        if (s[i] == '.') {
            if (i == 0 || i == local - 1 || s[i - 1] == '.')
                return bad;
        } else if (!rcpt_alnum(s[i]) && !strchr(atext, s[i])) {
            return bad;
        }
    }
    if (!rcpt_hostname(at + 1, n - local - 1, false))
        return bad;
    return NULL;
}

const char *rcpt_e164(const char *s, size_t n) {
    static const char bad[] =
        "must be an E.164 phone number: + then 8 to 15 digits, the first not 0";
    if (n < 9 || n > 16 || s[0] != '+' || s[1] == '0')
        return bad;
    for (size_t i = 1; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return bad;
    return NULL;
}

const char *rcpt_token(const char *s, size_t n) {
    if (n == 0)
        return "must not be empty";
    if (n > RCPT_TOKEN_MAX)
        return "must be at most 4096 characters";
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7F)
            return "must be a device token: printable ASCII characters without spaces";
    return NULL;
}

/* rcpt_port: the value of a port written as 1..5 digits, or -1. */
static long rcpt_port(const char *p, size_t n) {
    long v = 0;
    if (n == 0 || n > 5)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

/* rcpt_same_host: whether curl's host is the one written (an IPv6 literal
 * may come back in canonical form). */
static bool rcpt_same_host(const char *written, size_t n, const char *curl_host) {
    size_t hl = strlen(curl_host);
    if (written[0] != '[')
        return hl == n && strncasecmp(written, curl_host, n) == 0 &&
               rcpt_hostname(written, n, true);
    char a[64], b[64];
    struct in6_addr x, y;
    if (n < 3 || n - 2 >= sizeof(a) || hl < 3 || hl - 2 >= sizeof(b) || written[n - 1] != ']' ||
        curl_host[0] != '[' || curl_host[hl - 1] != ']')
        return false;
    memcpy(a, written + 1, n - 2);
    a[n - 2] = '\0';
    memcpy(b, curl_host + 1, hl - 2);
    b[hl - 2] = '\0';
    return inet_pton(AF_INET6, a, &x) == 1 && inet_pton(AF_INET6, b, &y) == 1 &&
           memcmp(&x, &y, sizeof(x)) == 0;
}

/* rcpt_url: the URL is read by curl's own parser (CURLU, the one the worker
 * connects with), and what curl read must be what is written: curl forgives
 * what API.md's rule does not (one slash after the scheme, an empty port, a
 * percent-encoded host, user information), so the text is checked too. */
const char *rcpt_url(const char *s, size_t n) {
    static const char bad[] = "must be an absolute http or https URL";
    if (n > RCPT_URL_MAX)
        return "must be at most 2048 characters";
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= 0x20 || ch >= 0x7F || ch == '"' || ch == '<' || ch == '>' || ch == '\\')
            return bad;
    }
    size_t skip = n >= 7 && strncasecmp(s, "http://", 7) == 0    ? 7
                  : n >= 8 && strncasecmp(s, "https://", 8) == 0 ? 8
                                                                 : 0;
    if (!skip)
        return bad;
    char url[RCPT_URL_MAX + 1];
    memcpy(url, s, n);
    url[n] = '\0';
    const char *auth = url + skip;
    size_t alen = strcspn(auth, "/?#");
    if (memchr(auth, '@', alen))
        return "must not contain a user name or password";
    if (alen == 0)
        return "must be an absolute http or https URL with a host";
    /* the authority as written: host, then ":port" if any */
    const char *close = auth[0] == '[' ? memchr(auth, ']', alen) : NULL;
    const char *colon =
        memchr(close ? close : auth, ':', alen - (size_t)((close ? close : auth) - auth));
    size_t hlen = colon ? (size_t)(colon - auth) : alen;
    long port = colon ? rcpt_port(colon + 1, alen - hlen - 1) : 0;
    if (port < 0 || (colon && (port < 1 || port > 65535)))
        return bad;
    const char *msg = bad;
    char *host = NULL, *cport = NULL;
    CURLU *u = curl_url();
    if (!u || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        goto out;
    if (curl_url_get(u, CURLUPART_PORT, &cport, 0) != CURLUE_OK)
        cport = NULL;
    if (rcpt_same_host(auth, hlen, host) && (cport ? atol(cport) == port : !colon))
        msg = NULL;
out:
    curl_free(host);
    curl_free(cport);
    curl_url_cleanup(u);
    return msg;
}

const char *rcpt_check(enum notif_channel ch, const char *s, size_t n) {
    switch (ch) {
    case CH_EMAIL:
        return rcpt_email(s, n);
    case CH_SMS:
        return rcpt_e164(s, n);
    case CH_PUSH:
        return rcpt_token(s, n);
    case CH_WEBHOOK:
        return rcpt_url(s, n);
    default:
        return NULL;
    }
}

const char *rcpt_mailbox(const char *s, size_t n) {
    static const char bad[] = "must be an address, or \"Display Name <address>\"";
    if (n == 0 || s[n - 1] != '>')
        return rcpt_email(s, n);
    const char *lt = memchr(s, '<', n);
    if (!lt)
        return bad;
    const char *addr = lt + 1;
    size_t alen = n - (size_t)(addr - s) - 1;
    const char *msg = rcpt_email(addr, alen);
    if (msg)
        return msg;
    size_t nlen = (size_t)(lt - s);
    while (nlen > 0 && s[nlen - 1] == ' ')
        nlen--;
    if (nlen == 0 || s[0] == ' ')
        return bad;
    if (!hjson_utf8_valid(s, nlen))
        return "must be valid UTF-8";
    for (size_t i = 0; i < nlen; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch == 0x7F || ch == '<' || ch == '>' || ch == '"' || ch == '\\')
            return "must have a display name without control characters, quotes, backslashes "
                   "or angle brackets";
    }
    if (hjson_utf8_count(s, nlen) > RCPT_NAME_MAX)
        return "must have a display name of at most 128 characters";
    return NULL;
}
