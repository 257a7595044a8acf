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

static bool netp_v6_private(const uint8_t *b) {
    static const uint8_t zero[16] = {0};
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b};
    if (memcmp(b, zero, 15) == 0 && (b[15] == 0 || b[15] == 1))
        return true; /* :: and ::1 */
    if (memcmp(b, mapped, 12) == 0) {
        uint32_t a = (uint32_t)b[12] << 24 | (uint32_t)b[13] << 16 | (uint32_t)b[14] << 8 | b[15];
        return netp_v4_private(a);
    }
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

bool netp_addr_private(const struct sockaddr *sa, socklen_t len) {
    if (!sa)
        return true;
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return netp_v4_private(ntohl(in->sin_addr.s_addr));
    }
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        return netp_v6_private(in6->sin6_addr.s6_addr);
    }
    return true;
}

bool netp_addr_link_local(const struct sockaddr *sa, socklen_t len) {
    if (!sa)
        return false;
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        return (ntohl(in->sin_addr.s_addr) & 0xffff0000u) == 0xa9fe0000u;
    }
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        const uint8_t *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        if (memcmp(b, mapped, sizeof(mapped)) == 0)
            return b[12] == 169 && b[13] == 254;
        return b[0] == 0xfe && (b[1] & 0xc0) == 0x80;
    }
    return false;
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
    snprintf(out, NETP_ADDR_LEN, "?");
    if (!sa)
        return;
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &in->sin_addr, out, NETP_ADDR_LEN);
    } else if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, out, NETP_ADDR_LEN);
    }
}
