/* test_netpolicy: the webhook destination ranges of API.md. */
#include "worker/netpolicy.h"
#include "common/mem.h"
#include "common/netallow.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>

static bool priv(const char *s) {
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (strchr(s, ':')) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        cr_assert_eq(inet_pton(AF_INET6, s, &in6->sin6_addr), 1, "%s", s);
        return netp_addr_private((struct sockaddr *)in6, sizeof(*in6));
    }
    struct sockaddr_in *in = (struct sockaddr_in *)&ss;
    in->sin_family = AF_INET;
    cr_assert_eq(inet_pton(AF_INET, s, &in->sin_addr), 1, "%s", s);
    return netp_addr_private((struct sockaddr *)in, sizeof(*in));
}

TestSuite(netpolicy);

Test(netpolicy, refused_v4) {
    const char *bad[] = {"0.0.0.0",         "0.255.1.2",     "10.0.0.1",       "10.255.255.255",
                         "100.64.0.0",      "100.127.255.1", "127.0.0.1",      "127.9.9.9",
                         "169.254.169.254", "172.16.0.1",    "172.31.255.255", "192.0.0.8",
                         "192.168.1.1",     "198.18.0.1",    "198.19.255.255", "224.0.0.1",
                         "239.1.1.1",       "240.0.0.1",     "255.255.255.255"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect(priv(bad[i]), "%s should be refused", bad[i]);
}

Test(netpolicy, allowed_v4) {
    const char *ok[] = {"1.1.1.1",         "8.8.8.8",    "100.63.255.255",  "100.128.0.0",
                        "126.255.255.255", "128.0.0.1",  "169.253.0.1",     "172.15.255.255",
                        "172.32.0.0",      "192.0.1.1",  "192.0.2.1",       "192.167.1.1",
                        "198.17.0.1",      "198.20.0.1", "223.255.255.255", "11.0.0.1"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        cr_expect(!priv(ok[i]), "%s should be allowed", ok[i]);
}

Test(netpolicy, refused_v6) {
    const char *bad[] = {"::",
                         "::1",
                         "::ffff:127.0.0.1",
                         "::ffff:10.1.2.3",
                         "::ffff:169.254.169.254",
                         "64:ff9b::1.2.3.4",
                         "fc00::1",
                         "fd12:3456::1",
                         "fe80::1",
                         "febf::1",
                         "ff02::1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_expect(priv(bad[i]), "%s should be refused", bad[i]);
}

Test(netpolicy, allowed_v6) {
    const char *ok[] = {"2001:4860:4860::8888", "::ffff:8.8.8.8", "::2", "fec0::1",
                        "2606:4700::1",         "64:ff9c::1"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        cr_expect(!priv(ok[i]), "%s should be allowed", ok[i]);
}

Test(netpolicy, unknown_family_refused_and_format) {
    struct sockaddr sa = {.sa_family = AF_UNIX};
    cr_expect(netp_addr_private(&sa, sizeof(sa)));
    cr_expect(netp_addr_private(NULL, 0));
    struct sockaddr_in in = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
    char out[NETP_ADDR_LEN];
    netp_addr_format((struct sockaddr *)&in, sizeof(in), out);
    cr_expect_str_eq(out, "127.0.0.1");
    netp_addr_format(&sa, sizeof(sa), out);
    cr_expect_str_eq(out, "?");
}

/* check: netp_check's verdict for ip:port under the given settings. */
static enum netp_verdict check(bool allow_private, const char *allow, const char *host,
                               const char *ip, int port) {
    char err[HD_ERR_LEN];
    netallow *a = netallow_parse(allow, err, sizeof(err));
    cr_assert(a, "%s", err);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t len;
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        cr_assert_eq(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1);
        len = sizeof(*in6);
    } else {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        in->sin_port = htons((uint16_t)port);
        cr_assert_eq(inet_pton(AF_INET, ip, &in->sin_addr), 1);
        len = sizeof(*in);
    }
    struct netp_rules r = {.allow_private = allow_private, .allow = a};
    enum netp_verdict v = netp_check(&r, host, (struct sockaddr *)&ss, len);
    netallow_free(a);
    return v;
}

Test(netpolicy, allow_list_lets_through_only_what_it_lists) {
    const char *allow = "127.0.0.1:9101,10.1.2.0/24,hooks.internal:8443";
    cr_expect_eq(check(false, allow, "127.0.0.1", "127.0.0.1", 9101), NETP_OK);
    cr_expect_eq(check(false, allow, "127.0.0.1", "127.0.0.1", 9102), NETP_PRIVATE);
    cr_expect_eq(check(false, allow, "127.0.0.2", "127.0.0.2", 9101), NETP_PRIVATE);
    cr_expect_eq(check(false, allow, NULL, "10.1.2.3", 80), NETP_OK);
    cr_expect_eq(check(false, allow, NULL, "10.1.3.3", 80), NETP_PRIVATE);
    cr_expect_eq(check(false, allow, NULL, "192.168.1.1", 80), NETP_PRIVATE);
    cr_expect_eq(check(false, allow, "hooks.internal", "172.16.0.9", 8443), NETP_OK);
    cr_expect_eq(check(false, allow, "hooks.internal", "172.16.0.9", 443), NETP_PRIVATE);
    cr_expect_eq(check(false, allow, "evil.example", "172.16.0.9", 8443), NETP_PRIVATE);
    cr_expect_eq(check(false, allow, "example.com", "93.184.216.34", 443), NETP_OK, "public");
    cr_expect_eq(check(false, "", NULL, "127.0.0.1", 9101), NETP_PRIVATE);
    cr_expect_eq(check(true, "", NULL, "127.0.0.1", 9101), NETP_OK);
}

Test(netpolicy, link_local_is_refused_whatever_the_settings) {
    const char *ips[] = {"169.254.169.254", "169.254.0.1", "fe80::1", "febf::1",
                         "::ffff:169.254.169.254"};
    for (size_t i = 0; i < HD_ARRAY_LEN(ips); i++) {
        cr_expect_eq(check(false, "", NULL, ips[i], 80), NETP_LINK_LOCAL, "%s", ips[i]);
        cr_expect_eq(check(true, "", NULL, ips[i], 80), NETP_LINK_LOCAL, "%s private", ips[i]);
        cr_expect_eq(check(true, "0.0.0.0/0,::/0", NULL, ips[i], 80), NETP_LINK_LOCAL, "%s listed",
                     ips[i]);
        cr_expect_eq(check(true, "metadata.internal:80", "metadata.internal", ips[i], 80),
                     NETP_LINK_LOCAL, "%s by name", ips[i]);
    }
    cr_expect_eq(check(true, "", NULL, "169.253.255.255", 80), NETP_OK);
    cr_expect_eq(check(true, "", NULL, "fec0::1", 80), NETP_OK);
}
