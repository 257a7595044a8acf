/* netpolicy: the refused address ranges of API.md, checked on the address curl connects to. */
#include "worker/netpolicy.h"
#include "common/netallow.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

struct netp_v4_range {
    uint32_t net; /* host byte order */
    int bits;
};

static const struct netp_v4_range netp_v4[] = {
    {0x00000000u, 8},  /* 0.0.0.0/8 "this network" */
    {0x0a000000u, 8},  /* 10/8 */
    {0x64400000u, 10}, /* 100.64/10 carrier-grade NAT */
    {0x7f000000u, 8},  /* 127/8 loopback */
    {0xa9fe0000u, 16}, /* 169.254/16 link-local (cloud metadata) */
    {0xac100000u, 12}, /* 172.16/12 */
    {0xc0000000u, 24}, /* 192.0.0/24 IETF protocol assignments */
    {0xc0a80000u, 16}, /* 192.168/16 */
    {0xc6120000u, 15}, /* 198.18/15 benchmarking */
    {0xe0000000u, 4},  /* 224/4 multicast */
    {0xf0000000u, 4},  /* 240/4 reserved, broadcast */
};

static bool netp_v4_private(uint32_t a) {
    for (size_t i = 0; i < sizeof(netp_v4) / sizeof(netp_v4[0]); i++) {
        uint32_t mask = 0xffffffffu << (32 - netp_v4[i].bits);
        if ((a & mask) == netp_v4[i].net)
            return true;
    }
    return false;
}

/* the IPv4-mapped IPv6 prefix, ::ffff:0:0/96 */
static const uint8_t netp_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* netp_v4_at: the IPv4 address in the 4 bytes at b (network order), in host order. */
static uint32_t netp_v4_at(const uint8_t *b) {
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static bool netp_v4_link_local(uint32_t a) {
    return (a & 0xffff0000u) == 0xa9fe0000u; /* 169.254/16 */
}

static bool netp_v6_private(const uint8_t *b) {
    static const uint8_t zero[16] = {0};
    static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b};
    if (memcmp(b, zero, 15) == 0 && (b[15] == 0 || b[15] == 1))
        return true; /* :: and ::1 */
    if (memcmp(b, netp_mapped, sizeof(netp_mapped)) == 0)
        return netp_v4_private(netp_v4_at(b + 12));
    if (memcmp(b, nat64, 12) == 0)
        return true; /* 64:ff9b::/96 */
    if ((b[0] & 0xfe) == 0xfc)
        return true; /* fc00::/7 */
    if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
        return true; /* fe80::/10 */
    if (b[0] == 0xff)
        return true; /* ff00::/8 */
    return false;
}

/* netp_addr: sa's address into b as 16 bytes, an IPv4 one in its
 * IPv4-mapped form; returns AF_INET or AF_INET6, or 0 (b untouched) when sa
 * is NULL, of another family, or shorter (len) than its family needs. */
static int netp_addr(const struct sockaddr *sa, socklen_t len, uint8_t b[16]) {
    if (!sa)
        return 0;
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        memcpy(b, netp_mapped, sizeof(netp_mapped));
        memcpy(b + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
        return AF_INET;
    }
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        memcpy(b, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
        return AF_INET6;
    }
    return 0;
}

bool netp_addr_private(const struct sockaddr *sa, socklen_t len) {
    uint8_t b[16];
    /* an IPv4 address is checked through its mapped form, by the IPv4 table */
    return netp_addr(sa, len, b) == 0 || netp_v6_private(b);
}

bool netp_addr_link_local(const struct sockaddr *sa, socklen_t len) {
    uint8_t b[16];
    if (netp_addr(sa, len, b) == 0)
        return false;
    if (memcmp(b, netp_mapped, sizeof(netp_mapped)) == 0)
        return netp_v4_link_local(netp_v4_at(b + 12));
    return b[0] == 0xfe && (b[1] & 0xc0) == 0x80; /* fe80::/10 */
}

enum netp_verdict netp_check(const struct netp_rules *r, const char *url_host,
                             const struct sockaddr *sa, socklen_t len) {
    /* link-local first: neither setting can let a webhook reach a cloud
     * metadata service */
    if (netp_addr_link_local(sa, len))
        return NETP_LINK_LOCAL;
    if (!netp_addr_private(sa, len) || r->allow_private)
        return NETP_OK;
    return netallow_match(r->allow, url_host, sa, len) ? NETP_OK : NETP_PRIVATE;
}

void netp_addr_format(const struct sockaddr *sa, socklen_t len, char *out) {
    uint8_t b[16];
    int family = netp_addr(sa, len, b);
    snprintf(out, NETP_ADDR_LEN, "?");
    if (family == AF_INET)
        inet_ntop(AF_INET, b + 12, out, NETP_ADDR_LEN);
    else if (family == AF_INET6)
        inet_ntop(AF_INET6, b, out, NETP_ADDR_LEN);
}
