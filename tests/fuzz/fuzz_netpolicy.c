/* fuzz_netpolicy: netp_addr_private and netp_addr_format (worker/netpolicy.c, compiled into
 * this harness) against a reference built from API.md's list of refused ranges.
 * The input is read as an IPv4 or IPv6 literal when it is one (the corpus holds such
 * literals), and always also as raw bytes: a family byte and the address. Checks: the verdict
 * equals the reference for both families; an IPv4 address and its ::ffff: mapped form get the
 * same verdict; a short or unknown sockaddr is refused; the formatted address parses back to
 * the same bytes. The input is also read as a HERALD_WEBHOOK_ALLOW list (common/netallow.c):
 * it parses or says why in one line, and whatever it lists, link-local addresses stay refused. */
#include "tests/fuzz/fuzz.h"
#include "worker/netpolicy.h"
#include "common/netallow.h"

#include <arpa/inet.h>
#include <netinet/in.h>

/* API.md, "Webhook destinations", as written there. */
static const char *const fn_v4_ranges[] = {"0.0.0.0/8",    "10.0.0.0/8",     "100.64.0.0/10",
                                           "127.0.0.0/8",  "169.254.0.0/16", "172.16.0.0/12",
                                           "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15",
                                           "224.0.0.0/4",  "240.0.0.0/4"};
static const char *const fn_v6_ranges[] = {"::/128",   "::1/128",   "64:ff9b::/96",
                                           "fc00::/7", "fe80::/10", "ff00::/8"};

/* true when the first bits of a and net are equal */
static bool fn_prefix(const uint8_t *a, const uint8_t *net, int bits) {
    for (int i = 0; i < bits; i++) {
        int byte = i / 8, bit = 7 - i % 8;
        if (((a[byte] >> bit) & 1) != ((net[byte] >> bit) & 1))
            return false;
    }
    return true;
}

static bool fn_in(const uint8_t *a, const char *cidr, int family) {
    char host[64];
    const char *slash = strchr(cidr, '/');
    size_t hl = (size_t)(slash - cidr);
    memcpy(host, cidr, hl);
    host[hl] = '\0';
    uint8_t net[16];
    FUZZ_CHECK(inet_pton(family, host, net) == 1);
    return fn_prefix(a, net, atoi(slash + 1));
}

static bool fn_ref_v4(const uint8_t a[4]) {
    for (size_t i = 0; i < HD_ARRAY_LEN(fn_v4_ranges); i++)
        if (fn_in(a, fn_v4_ranges[i], AF_INET))
            return true;
    return false;
}

static bool fn_ref_v6(const uint8_t a[16]) {
    static const uint8_t mapped_net[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (fn_prefix(a, mapped_net, 96)) /* ::ffff:0:0/96 mapped to any IPv4 range */
        return fn_ref_v4(a + 12);
    for (size_t i = 0; i < HD_ARRAY_LEN(fn_v6_ranges); i++)
        if (fn_in(a, fn_v6_ranges[i], AF_INET6))
            return true;
    return false;
}

static bool fn_v4(const uint8_t a[4], socklen_t extra) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    in->sin_family = AF_INET;
    in->sin_port = htons(443);
    memcpy(&in->sin_addr, a, 4);
    bool priv = netp_addr_private((struct sockaddr *)&ss, (socklen_t)sizeof(*in) + extra);
    FUZZ_CHECK(netp_addr_private((struct sockaddr *)&ss, (socklen_t)sizeof(*in) - 1));

    char text[NETP_ADDR_LEN];
    uint8_t back[4];
    netp_addr_format((struct sockaddr *)&ss, (socklen_t)sizeof(*in), text);
    FUZZ_CHECK(strlen(text) < NETP_ADDR_LEN && inet_pton(AF_INET, text, back) == 1);
    FUZZ_CHECK(memcmp(back, a, 4) == 0);
    netp_addr_format((struct sockaddr *)&ss, (socklen_t)sizeof(*in) - 1, text);
    FUZZ_CHECK(strcmp(text, "?") == 0);
    return priv;
}

static bool fn_v6(const uint8_t a[16], socklen_t extra) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(443);
    memcpy(&in6->sin6_addr, a, 16);
    bool priv = netp_addr_private((struct sockaddr *)&ss, (socklen_t)sizeof(*in6) + extra);
    FUZZ_CHECK(netp_addr_private((struct sockaddr *)&ss, (socklen_t)sizeof(*in6) - 1));

    char text[NETP_ADDR_LEN];
    uint8_t back[16];
    netp_addr_format((struct sockaddr *)&ss, (socklen_t)sizeof(*in6), text);
    FUZZ_CHECK(strlen(text) < NETP_ADDR_LEN && inet_pton(AF_INET6, text, back) == 1);
    FUZZ_CHECK(memcmp(back, a, 16) == 0);
    return priv;
}

static void fn_check_v4(const uint8_t a[4], socklen_t extra) {
    bool ref = fn_ref_v4(a);
    if (fn_v4(a, extra) != ref) {
        char t[INET_ADDRSTRLEN];
        fprintf(stderr, "%s: netp_addr_private says %d, API.md says %d\n",
                inet_ntop(AF_INET, a, t, sizeof(t)), !ref, ref);
        FUZZ_CHECK(!"IPv4 verdict differs from API.md");
    }
    uint8_t mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    memcpy(mapped + 12, a, 4);
    FUZZ_CHECK(fn_v6(mapped, 0) == ref);
}

static void fn_check_v6(const uint8_t a[16], socklen_t extra) {
    bool ref = fn_ref_v6(a);
    if (fn_v6(a, extra) != ref) {
        char t[INET6_ADDRSTRLEN];
        fprintf(stderr, "%s: netp_addr_private says %d, API.md says %d\n",
                inet_ntop(AF_INET6, a, t, sizeof(t)), !ref, ref);
        FUZZ_CHECK(!"IPv6 verdict differs from API.md");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* as text: an address literal, as a URL host or getaddrinfo would see it */
    if (size > 0 && size < 64) {
        char *s = fuzz_cstr(data, size);
        uint8_t a[16];
        if (inet_pton(AF_INET, s, a) == 1)
            fn_check_v4(a, 0);
        if (inet_pton(AF_INET6, s, a) == 1)
            fn_check_v6(a, 0);
        mem_free(s);
    }
    /* as bytes: family selector, then the address; a longer length is fine */
    if (size >= 1) {
        socklen_t extra = (socklen_t)(data[0] >> 4);
        if ((data[0] & 1) == 0 && size >= 5)
            fn_check_v4(data + 1, extra);
        else if ((data[0] & 1) == 1 && size >= 17)
            fn_check_v6(data + 1, extra);
    }

    /* anything but AF_INET and AF_INET6 is refused, as is no address at all */
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    ss.ss_family = size >= 2 ? (sa_family_t)(data[1] | data[0] << 8) : AF_UNIX;
    if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)
        FUZZ_CHECK(netp_addr_private((struct sockaddr *)&ss, sizeof(ss)));
    FUZZ_CHECK(netp_addr_private(NULL, 0));

    /* as a HERALD_WEBHOOK_ALLOW list */
    char *spec = fuzz_cstr(data, size);
    char err[HD_ERR_LEN] = "";
    netallow *a = netallow_parse(spec, err, sizeof(err));
    if (!a) {
        FUZZ_CHECK(err[0] != '\0' && !strchr(err, '\n'));
    } else {
        FUZZ_CHECK(netallow_count(a) <= NETALLOW_ENTRIES_MAX);
        struct netp_rules rules = {.allow_private = true, .allow = a};
        struct sockaddr_in meta = {.sin_family = AF_INET, .sin_port = htons(80)};
        inet_pton(AF_INET, "169.254.169.254", &meta.sin_addr);
        FUZZ_CHECK(netp_check(&rules, spec, (struct sockaddr *)&meta, sizeof(meta)) ==
                   NETP_LINK_LOCAL);
        struct sockaddr_in6 ll = {.sin6_family = AF_INET6, .sin6_port = htons(80)};
        inet_pton(AF_INET6, "fe80::1", &ll.sin6_addr);
        rules.allow_private = false;
        FUZZ_CHECK(netp_check(&rules, spec, (struct sockaddr *)&ll, sizeof(ll)) == NETP_LINK_LOCAL);
        netallow_free(a);
    }
    mem_free(spec);
    return 0;
}
