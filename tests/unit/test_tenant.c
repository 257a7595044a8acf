/* test_tenant: a tenant's settings: mailbox and URL checks, event type lists and masks, a PATCH
 * body. */
#include <criterion/criterion.h>
#include <json-c/json.h>
#include <string.h>

#include "common/buf.h"
#include "common/json.h"
#include "common/recipient.h"
#include "common/tenant.h"
#include "common/validate.h"

static const char *mailbox(const char *s) {
    return rcpt_mailbox(s, strlen(s));
}

Test(tenant, mailbox_forms) {
    cr_expect_null(mailbox("team@acme.example"));
    cr_expect_null(mailbox("Acme <team@acme.example>"));
    cr_expect_null(mailbox("Acme Café<team@acme.example>"));
    cr_expect_not_null(mailbox("<team@acme.example>"), "a display name is needed before <");
    cr_expect_not_null(mailbox("Acme <team@acme>x"));
    cr_expect_not_null(mailbox("Acme <not an address>"));
    cr_expect_not_null(mailbox("Ac\"me <team@acme.example>"));
    cr_expect_not_null(mailbox("Acme\r\nBcc: x <team@acme.example>"));
    cr_expect_not_null(mailbox("A <b> <team@acme.example>"));
    char name[200];
    memset(name, 'n', 129);
    strcpy(name + 129, " <a@b.example>");
    cr_expect_not_null(mailbox(name), "129 characters is one too many");
    name[128] = '<';
    memmove(name + 128, " <a@b.example>", 15);
    cr_expect_null(mailbox(name), "128 characters fit");
}

Test(tenant, events_url) {
    cr_expect_null(tenant_check_events_url("https://hooks.example.com/in"));
    cr_expect_not_null(tenant_check_events_url("ftp://hooks.example.com/in"));
    cr_expect_not_null(tenant_check_events_url("https://user:pw@hooks.example.com/"));
    cr_expect_not_null(tenant_check_events_url("https://hooks.example.com/\x01"));
}

Test(tenant, type_lists) {
    unsigned m = 0;
    char bad[64];
    cr_assert_eq(tenant_types_parse("notification.failed,notification.sent", &m, bad, sizeof(bad)),
                 0);
    cr_expect_eq(m, (1u << EV_FAILED) | (1u << EV_SENT));
    cr_assert_eq(tenant_types_parse("all", &m, bad, sizeof(bad)), 0);
    cr_expect_eq(m, TENANT_EVENTS_ALL);
    cr_expect_eq(tenant_types_parse("notification.sent,,x", &m, bad, sizeof(bad)), -1);
    cr_expect_str_eq(bad, "");
    cr_expect_eq(tenant_types_parse("notification.opened", &m, bad, sizeof(bad)), -1);
    cr_expect_str_eq(bad, "notification.opened");
    struct buf b = {0};
    tenant_types_literal(&b, (1u << EV_EXPIRED) | (1u << EV_DELIVERED));
    cr_expect_str_eq(b.data, "{notification.delivered,notification.expired}");
    cr_expect_eq(tenant_types_from_literal(b.data), (1u << EV_EXPIRED) | (1u << EV_DELIVERED));
    cr_expect_eq(tenant_types_from_literal(NULL), TENANT_EVENTS_ALL);
    buf_free(&b);
}

static int patch(const char *json, struct tenant_patch *p, struct val_errors *errs) {
    char err[128];
    struct json_object *o = hjson_parse(json, strlen(json), err, sizeof(err));
    cr_assert_not_null(o, "%s", err);
    int rc = tenant_patch_from_json(o, p, errs);
    json_object_put(o);
    return rc;
}

Test(tenant, patch_bodies) {
    struct tenant_patch p;
    struct val_errors errs = {0};
    cr_assert_eq(patch("{\"events_url\":null,\"email_from\":\"a@b.example\"}", &p, &errs), 0);
    cr_expect(p.has_events_url && !p.events_url);
    cr_expect(p.has_email_from);
    cr_expect_str_eq(p.email_from, "a@b.example");
    cr_expect(!p.has_event_types);
    tenant_patch_free(&p);
    cr_assert_eq(
        patch("{\"event_types\":[\"notification.sent\",\"notification.sent\"]}", &p, &errs), 0);
    cr_expect_eq(p.event_types, 1u << EV_SENT);
    tenant_patch_free(&p);
    cr_expect_eq(
        patch("{\"event_types\":\"notification.sent\",\"x\":1,\"events_url\":3}", &p, &errs), -1);
    cr_expect_eq(errs.len, 3);
    val_errors_free(&errs);
}
