/* netallow: HERALD_WEBHOOK_ALLOW's entries, parsed once and matched against each connection. */
#include "common/netallow.h"
#include "common/mem.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NETALLOW_ENTRY_MAX 300 /* characters of one entry: a name, a colon and a port */

enum netallow_kind {
    NA_CIDR,      /* addr/bits, any port */
    NA_ADDR_PORT, /* one address and port */
    NA_NAME_PORT, /* a DNS name and port, resolved by curl per connection */
};

struct netallow_entry {
    enum netallow_kind kind;
    int family;                       /* AF_INET or AF_INET6; 0 for a name */
    uint8_t addr[16];                 /* network order; IPv4 in the first 4 bytes */
    int bits;                         /* prefix length (CIDR); 32 or 128 otherwise */
    uint16_t port;                    /* host order; 0 for a CIDR */
    char name[NETALLOW_NAME_MAX + 1]; /* lower case, no trailing dot */
};

struct netallow {
    struct netallow_entry *e;
    size_t n;
};

/* netallow_prefix_eq: whether the first bits bits of a and b are equal. */
static bool netallow_prefix_eq(const uint8_t *a, const uint8_t *b, int bits) {
    int whole = bits / 8, rest = bits % 8;
    if (memcmp(a, b, (size_t)whole) != 0)
        return false;
    if (rest == 0)
        return true;
    uint8_t mask = (uint8_t)(0xff << (8 - rest));
    return (a[whole] & mask) == (b[whole] & mask);
}

/* netallow_unmap: an IPv4-mapped IPv6 address (::ffff:a.b.c.d) becomes IPv4 in place. */
static void netallow_unmap(int *family, uint8_t *addr) {
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (*family == AF_INET6 && memcmp(addr, mapped, sizeof(mapped)) == 0) {
        memmove(addr, addr + 12, 4);
        memset(addr + 4, 0, 12);
        *family = AF_INET;
    }
}

/* netallow_in_link_local: whether the whole of addr/bits is link-local
 * (169.254/16 or fe80::/10). */
static bool netallow_in_link_local(int family, const uint8_t *addr, int bits) {
    static const uint8_t v4[4] = {169, 254, 0, 0};
    static const uint8_t v6[16] = {0xfe, 0x80};
    if (family == AF_INET)
        return bits >= 16 && netallow_prefix_eq(addr, v4, 16);
    return bits >= 10 && netallow_prefix_eq(addr, v6, 10);
}

/* netallow_ip: an IP literal (no brackets) into family/addr; false if it is none. */
static bool netallow_ip(const char *s, int *family, uint8_t *addr) {
    memset(addr, 0, 16);
    if (inet_pton(AF_INET, s, addr) == 1) {
        *family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, s, addr) == 1) {
        *family = AF_INET6;
        netallow_unmap(family, addr);
        return true;
    }
    return false;
}

/* netallow_name: checks a DNS name (letters, digits, '-', '.'; labels 1..63,
 * not starting or ending with '-'; not all digits and dots, which would be a
 * malformed IPv4 address) and stores it lower case without a trailing dot. */
static bool netallow_name(const char *s, char *out) {
    size_t n = strlen(s);
    if (n > 0 && s[n - 1] == '.')
        n--;
    if (n == 0 || n > NETALLOW_NAME_MAX)
        return false;
    bool alpha = false;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return false;
            label = 0;
        } else if (isalnum(c) || c == '-') {
            if ((label == 0 && c == '-') || ++label > 63)
                return false;
            alpha |= isalpha(c) || c == '-';
        } else {
            return false;
        }
        out[i] = (char)tolower(c);
    }
    out[n] = '\0';
    return alpha && label > 0 && s[n - 1] != '-';
}

/* netallow_port: "1".."65535" without signs, spaces or leading zeros. */
static bool netallow_port(const char *s, uint16_t *port) {
    if (!*s || *s == '0' || strlen(s) > 5)
        return false;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p))
            return false;
    long v = strtol(s, NULL, 10);
    if (v < 1 || v > 65535)
        return false;
    *port = (uint16_t)v;
    return true;
}

/* netallow_entry_parse: one entry (NUL-terminated, trimmed) into e; on
 * error a reason into err. */
static int netallow_entry_parse(char *s, struct netallow_entry *e, char *err, size_t errlen) {
    static const char usage[] =
        "expected host:port (e.g. 127.0.0.1:9101, [::1]:9101, hooks.internal:443) or a CIDR "
        "(e.g. 10.1.2.0/24)";
    char *slash = strchr(s, '/');
    memset(e, 0, sizeof(*e));
    if (slash) {
        *slash = '\0';
        const char *b = slash + 1;
        char *end;
        long bits = strtol(b, &end, 10);
        if (!isdigit((unsigned char)*b) || *end || !netallow_ip(s, &e->family, e->addr)) {
            snprintf(err, errlen, "\"%.60s/%.8s\": %s", s, b, usage);
            return -1;
        }
        /* a mapped v6 CIDR (::ffff:10.0.0.0/104) counts in IPv4 bits */
        bool was_v6 = strchr(s, ':') != NULL;
        if (was_v6 && e->family == AF_INET)
            bits -= 96;
        int max = e->family == AF_INET ? 32 : 128;
        if (bits < 0 || bits > max) {
            snprintf(err, errlen, "\"%.60s/%.8s\": the prefix length must be 0 to %d", s, b, max);
            return -1;
        }
        e->kind = NA_CIDR;
        e->bits = (int)bits;
        uint8_t net[16] = {0};
        memcpy(net, e->addr, sizeof(net));
        for (int i = e->bits; i < max; i++)
            net[i / 8] &= (uint8_t) ~(0x80 >> (i % 8));
        if (memcmp(net, e->addr, sizeof(net)) != 0) {
            snprintf(err, errlen, "\"%.60s/%.8s\": host bits are set (not a network address)", s,
                     b);
            return -1;
        }
        if (netallow_in_link_local(e->family, e->addr, e->bits)) {
            snprintf(err, errlen,
                     "\"%.60s/%.8s\": link-local addresses (169.254/16, fe80::/10) are always "
                     "refused",
                     s, b);
            return -1;
        }
        return 0;
    }
    char *host = s, *port_s;
    if (*s == '[') {
        char *close = strchr(s, ']');
        if (!close || close[1] != ':') {
            snprintf(err, errlen, "\"%.80s\": %s", s, usage);
            return -1;
        }
        *close = '\0';
        host = s + 1;
        port_s = close + 2;
        if (!strchr(host, ':') || !netallow_ip(host, &e->family, e->addr)) {
            snprintf(err, errlen, "\"[%.80s]\": not an IPv6 address", host);
            return -1;
        }
    } else {
        char *colon = strrchr(s, ':');
        if (!colon || strchr(s, ':') != colon) {
            snprintf(err, errlen, "\"%.80s\": %s%s", s, usage,
                     colon ? "; an IPv6 address goes in brackets" : "");
            return -1;
        }
        *colon = '\0';
        port_s = colon + 1;
        if (!netallow_ip(host, &e->family, e->addr)) {
            if (!netallow_name(host, e->name)) {
                snprintf(err, errlen, "\"%.80s\": not an IP address or a DNS name", host);
                return -1;
            }
            e->family = 0;
        }
    }
    if (!netallow_port(port_s, &e->port)) {
        snprintf(err, errlen, "\"%.80s\": the port must be 1 to 65535, got \"%.8s\"", host, port_s);
        return -1;
    }
    if (e->family == 0) {
        e->kind = NA_NAME_PORT;
        return 0;
    }
    e->kind = NA_ADDR_PORT;
    e->bits = e->family == AF_INET ? 32 : 128;
    if (netallow_in_link_local(e->family, e->addr, e->bits)) {
        snprintf(err, errlen,
                 "\"%.80s\": link-local addresses (169.254/16, fe80::/10) are always refused",
                 host);
        return -1;
    }
    return 0;
}

netallow *netallow_parse(const char *spec, char *err, size_t errlen) {
    netallow *a = mem_calloc(1, sizeof(*a));
    char entry[NETALLOW_ENTRY_MAX + 1];
    if (!spec)
        return a;
    if (strlen(spec) > NETALLOW_SPEC_MAX) {
        snprintf(err, errlen, "longer than %d characters", NETALLOW_SPEC_MAX);
        goto fail;
    }
    const char *p = spec;
    while (*p == ' ' || *p == '\t')
        p++;
    if (!*p)
        return a;
    a->e = mem_calloc(NETALLOW_ENTRIES_MAX, sizeof(*a->e));
    for (size_t idx = 1;; idx++) {
        const char *end = p + strcspn(p, ",");
        const char *b = p, *e = end;
        while (b < e && (*b == ' ' || *b == '\t'))
            b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (b == e) {
            snprintf(err, errlen, "entry %zu is empty", idx);
            goto fail;
        }
        if ((size_t)(e - b) > NETALLOW_ENTRY_MAX) {
            snprintf(err, errlen, "entry %zu is longer than %d characters", idx,
                     NETALLOW_ENTRY_MAX);
            goto fail;
        }
        if (a->n == NETALLOW_ENTRIES_MAX) {
            snprintf(err, errlen, "more than %d entries", NETALLOW_ENTRIES_MAX);
            goto fail;
        }
        memcpy(entry, b, (size_t)(e - b));
        entry[e - b] = '\0';
        for (const char *c = entry; *c; c++) {
            if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f) {
                snprintf(err, errlen, "entry %zu holds a space or a non-ASCII character", idx);
                goto fail;
            }
        }
        if (netallow_entry_parse(entry, &a->e[a->n], err, errlen) < 0)
            goto fail;
        a->n++;
        if (!*end)
            break;
        p = end + 1;
    }
    return a;
fail:
    netallow_free(a);
    return NULL;
}

void netallow_free(netallow *a) {
    if (!a)
        return;
    mem_free(a->e);
    mem_free(a);
}

size_t netallow_count(const netallow *a) {
    return a ? a->n : 0;
}

/* netallow_host_eq: url_host (as written: any case, maybe a trailing dot)
 * against a stored lower-case name. */
static bool netallow_host_eq(const char *url_host, const char *name) {
    size_t n = strlen(url_host);
    if (n > 0 && url_host[n - 1] == '.')
        n--;
    return n == strlen(name) && strncasecmp(url_host, name, n) == 0;
}

bool netallow_match(const netallow *a, const char *url_host, const struct sockaddr *sa,
                    socklen_t len) {
    int family;
    uint8_t addr[16] = {0};
    uint16_t port;
    if (!a || !a->n || !sa)
        return false;
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        family = AF_INET;
        memcpy(addr, &in->sin_addr, 4);
        port = ntohs(in->sin_port);
    } else if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        family = AF_INET6;
        memcpy(addr, &in6->sin6_addr, 16);
        port = ntohs(in6->sin6_port);
        netallow_unmap(&family, addr);
    } else {
        return false;
    }
    for (size_t i = 0; i < a->n; i++) {
        const struct netallow_entry *e = &a->e[i];
        switch (e->kind) {
        case NA_CIDR:
            if (e->family == family && netallow_prefix_eq(addr, e->addr, e->bits))
                return true;
            break;
        case NA_ADDR_PORT:
            if (e->family == family && e->port == port &&
                memcmp(addr, e->addr, family == AF_INET ? 4 : 16) == 0)
                return true;
            break;
        case NA_NAME_PORT:
            if (url_host && e->port == port && netallow_host_eq(url_host, e->name))
                return true;
            break;
        }
    }
    return false;
}
