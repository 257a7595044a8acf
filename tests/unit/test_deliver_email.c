/* test_deliver_email: whether an SMTP host counts as this machine (then a
 * login may go without STARTTLS) is decided on its addresses. */
#include "worker/deliver_email.h"

#include <criterion/criterion.h>
#include <string.h>

Test(deliver_email, loopback_literals) {
    cr_expect(em_host_loopback("127.0.0.1", "25", NULL));
    cr_expect(em_host_loopback("127.9.8.7", "25", NULL));
    cr_expect(em_host_loopback("::1", "25", NULL));
    cr_expect(em_host_loopback("[::1]", "25", NULL));
    cr_expect(em_host_loopback("::ffff:127.0.0.1", "25", NULL));
    cr_expect_not(em_host_loopback("10.0.0.1", "25", NULL));
    cr_expect_not(em_host_loopback("192.0.2.7", "25", NULL));
    cr_expect_not(em_host_loopback("[2001:db8::1]", "25", NULL));
    cr_expect_not(em_host_loopback("::ffff:10.0.0.1", "25", NULL));
    cr_expect_not(em_host_loopback("", "25", NULL));
    cr_expect_not(em_host_loopback("[]", "25", NULL));
}

/* issue 16: the old check took any name spelled "127..." for loopback, so a
 * login to such a host could go out in clear */
Test(deliver_email, test_issue_16_name_spelled_like_loopback_is_not) {
    cr_expect_not(em_host_loopback("127.mail.example", "25", NULL));
    cr_expect_not(em_host_loopback("127.0.0.1.mail.invalid", "25", NULL));
}

/* a name that resolves to loopback is local, and connections are pinned to
 * the addresses that were checked */
Test(deliver_email, localhost_by_resolution_is_pinned) {
    struct curl_slist *pin = NULL;
    cr_assert(em_host_loopback("localhost", "2525", &pin));
    cr_assert_not_null(pin);
    cr_expect(strncmp(pin->data, "localhost:2525:", 15) == 0, "%s", pin->data);
    cr_expect(strstr(pin->data, "127.0.0.1") || strstr(pin->data, "[::1]"), "%s", pin->data);
    curl_slist_free_all(pin);
}
