/* test_netallow: HERALD_WEBHOOK_ALLOW's syntax, its refusals, and which connections it lists. */
#include "common/netallow.h"
#include "common/mem.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* sa: "1.2.3.4" or "::1" and a port as a socket address in *ss. */
static socklen_t sa(struct sockaddr_storage *ss, const char *ip, int port) {
    memset(ss, 0, sizeof(*ss));
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        cr_assert_eq(inet_pton(AF_INET6, ip, &in6->sin6_addr), 1, "%s", ip);
        return sizeof(*in6);
    }
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    in->sin_family = AF_INET;
    in->sin_port = htons((uint16_t)port);
    cr_assert_eq(inet_pton(AF_INET, ip, &in->sin_addr), 1, "%s", ip);
    return sizeof(*in);
}

static bool listed(const netallow *a, const char *host, const char *ip, int port) {
    struct sockaddr_storage ss;
    socklen_t len = sa(&ss, ip, port);
    return netallow_match(a, host, (struct sockaddr *)&ss, len);
}

static netallow *parse_ok(const char *spec) {
    char err[HD_ERR_LEN] = "";
    netallow *a = netallow_parse(spec, err, sizeof(err));
    cr_assert(a, "\"%s\" refused: %s", spec, err);
    return a;
}

TestSuite(netallow);

Test(netallow, empty_lists_nothing) {
    const char *specs[] = {NULL, "", "  "};
    for (size_t i = 0; i < HD_ARRAY_LEN(specs); i++) {
        netallow *a = parse_ok(specs[i]);
        cr_expect_eq(netallow_count(a), 0);
        cr_expect(!listed(a, "127.0.0.1", "127.0.0.1", 80));
        netallow_free(a);
    }
    cr_expect(!listed(NULL, "127.0.0.1", "127.0.0.1", 80));
}

Test(netallow, address_and_port_is_exact) {
    netallow *a = parse_ok("127.0.0.1:9101, [::1]:9101");
    cr_expect_eq(netallow_count(a), 2);
    cr_expect(listed(a, "127.0.0.1", "127.0.0.1", 9101));
    cr_expect(listed(a, "localhost", "127.0.0.1", 9101), "by address, whatever the name");
    cr_expect(listed(a, NULL, "::1", 9101));
    cr_expect(listed(a, NULL, "::ffff:127.0.0.1", 9101), "a mapped address is its IPv4 one");
    cr_expect(!listed(a, NULL, "127.0.0.1", 9102), "another port");
    cr_expect(!listed(a, NULL, "127.0.0.2", 9101), "another address");
    cr_expect(!listed(a, NULL, "10.0.0.1", 9101));
    netallow_free(a);
}

Test(netallow, cidr_any_port) {
    netallow *a = parse_ok("10.1.2.0/24,fd00:1::/32,::ffff:192.168.7.0/120");
    cr_expect(listed(a, NULL, "10.1.2.0", 1));
    cr_expect(listed(a, NULL, "10.1.2.255", 65535));
    cr_expect(!listed(a, NULL, "10.1.3.0", 80));
    cr_expect(listed(a, NULL, "fd00:1:ffff::1", 443));
    cr_expect(!listed(a, NULL, "fd00:2::1", 443));
    cr_expect(listed(a, NULL, "192.168.7.9", 80), "a mapped CIDR counts in IPv4 bits");
    cr_expect(!listed(a, NULL, "192.168.8.9", 80));
    netallow_free(a);
    a = parse_ok("0.0.0.0/0");
    cr_expect(listed(a, NULL, "10.9.9.9", 80));
    cr_expect(!listed(a, NULL, "::1", 80), "IPv4 CIDRs never list IPv6 addresses");
    netallow_free(a);
}

Test(netallow, name_is_matched_on_the_url_host_and_port) {
    netallow *a = parse_ok("Hooks.Internal.:8443");
    cr_expect(listed(a, "hooks.internal", "10.0.0.7", 8443), "any address the name resolves to");
    cr_expect(listed(a, "HOOKS.internal.", "fd00::7", 8443));
    cr_expect(!listed(a, "hooks.internal", "10.0.0.7", 443), "another port");
    cr_expect(!listed(a, "other.internal", "10.0.0.7", 8443), "another name");
    cr_expect(!listed(a, "hooks.internal.evil", "10.0.0.7", 8443));
    cr_expect(!listed(a, NULL, "10.0.0.7", 8443), "unknown host");
    netallow_free(a);
}

Test(netallow, bad_entries_are_refused_naming_them) {
    struct {
        const char *spec, *says;
    } bad[] = {
        {"127.0.0.1", "expected host:port"},
        {"::1:9101", "brackets"},
        {"127.0.0.1:0", "port"},
        {"127.0.0.1:65536", "port"},
        {"127.0.0.1:+80", "port"},
        {"127.0.0.1:080", "port"},
        {"127.0.0.1:", "port"},
        {"10.0.0.1/24", "host bits"},
        {"10.0.0.0/33", "prefix length"},
        {"10.0.0.0/", "expected host:port"},
        {"10.0.0.0/8/8", "expected host:port"},
        {"hooks.internal/8", "expected host:port"},
        {"[10.0.0.1]:80", "not an IPv6 address"},
        {"[::1]9101", "expected host:port"},
        {"999.1.1.1:80", "not an IP address or a DNS name"},
        {"-bad.example:80", "not an IP address or a DNS name"},
        {"bad_name.example:80", "not an IP address or a DNS name"},
        {"a..b:80", "not an IP address or a DNS name"},
        {"127.0.0.1:80,,10.0.0.0/8", "entry 2 is empty"},
        {"127.0.0.1:80,", "entry 2 is empty"},
        {"127.0.0.1 :80", "space"},
        {"169.254.169.254:80", "link-local"},
        {"169.254.0.0/16", "link-local"},
        {"169.254.1.0/24", "link-local"},
        {"[fe80::1]:80", "link-local"},
        {"fe80::/10", "link-local"},
        {"[::ffff:169.254.169.254]:80", "link-local"},
    };
    for (size_t i = 0; i < HD_ARRAY_LEN(bad); i++) {
        char err[HD_ERR_LEN] = "";
        netallow *a = netallow_parse(bad[i].spec, err, sizeof(err));
        cr_expect_null(a, "\"%s\" accepted", bad[i].spec);
        netallow_free(a);
        cr_expect(strstr(err, bad[i].says), "\"%s\": \"%s\" does not say \"%s\"", bad[i].spec, err,
                  bad[i].says);
        cr_expect_null(strchr(err, '\n'), "one line");
    }
}

Test(netallow, bounds) {
    char spec[NETALLOW_SPEC_MAX + 2];
    memset(spec, 'a', sizeof(spec) - 1);
    spec[sizeof(spec) - 1] = '\0';
    char err[HD_ERR_LEN];
    cr_expect_null(netallow_parse(spec, err, sizeof(err)));
    cr_expect(strstr(err, "longer than"), "%s", err);
    /* one entry too many */
    size_t n = 0;
    for (int i = 0; i <= NETALLOW_ENTRIES_MAX; i++)
        n += (size_t)snprintf(spec + n, sizeof(spec) - n, "%s10.0.%d.0/24", i ? "," : "", i);
    cr_expect_null(netallow_parse(spec, err, sizeof(err)));
    cr_expect(strstr(err, "more than"), "%s", err);
    /* the most entries */
    char *last = strrchr(spec, ',');
    *last = '\0';
    netallow *a = parse_ok(spec);
    cr_expect_eq(netallow_count(a), NETALLOW_ENTRIES_MAX);
    netallow_free(a);
    /* a link-local range inside a wider one is fine: the check refuses it anyway */
    a = parse_ok("169.0.0.0/8");
    netallow_free(a);
}
