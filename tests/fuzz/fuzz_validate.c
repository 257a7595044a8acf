/* fuzz_validate: one notification request body through hjson_parse and val_notification.
 * Checks: accepted ⇔ no errors; errors are printable and name fields under the prefix; an
 * accepted notification meets API.md's limits, keeps the request's strings whole, and renders
 * (from its stored metadata text, as the worker does) to clean text within the limits; the
 * push message stays within 4096 bytes and parses back; the outcome does not depend on the
 * prefix. */
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/check_notif.h"
#include "common/json.h"
#include "common/validate.h"

#include <json-c/json.h>

#define FV_PREFIX "notifications[499]."

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct json_object *obj = hjson_parse((const char *)data, size, NULL, 0);
    if (!obj)
        return 0;
    struct notif_input in;
    struct val_errors errs = {0}, errs2 = {0};
    int rc = val_notification(obj, "", CHECK_NOTIF_NOW_MS, &in, &errs);
    FUZZ_CHECK(rc == 0 || rc == -1);
    FUZZ_CHECK((rc == 0) == (errs.len == 0));
    check_notif_errors(&errs, 0, "");
    if (rc == 0) {
        check_notif_valid(&in, obj);
    } else {
        FUZZ_CHECK(!in.recipient && !in.subject && !in.body && !in.metadata_json);
    }

    /* the same request as a batch element: the same verdict, the same fields, prefixed */
    struct notif_input in2;
    int rc2 = val_notification(obj, FV_PREFIX, CHECK_NOTIF_NOW_MS, &in2, &errs2);
    FUZZ_CHECK(rc2 == rc && errs2.len == errs.len);
    check_notif_errors(&errs2, 0, FV_PREFIX);
    for (size_t i = 0; i < errs.len; i++) {
        FUZZ_CHECK(strcmp(errs2.items[i].field + strlen(FV_PREFIX), errs.items[i].field) == 0);
        FUZZ_CHECK(strcmp(errs2.items[i].message, errs.items[i].message) == 0);
    }
    if (rc == 0) {
        FUZZ_CHECK(strcmp(in.body, in2.body) == 0 && in.send_at_ms == in2.send_at_ms);
        FUZZ_CHECK((in.metadata_json == NULL) == (in2.metadata_json == NULL));
        if (in.metadata_json)
            FUZZ_CHECK(strcmp(in.metadata_json, in2.metadata_json) == 0);
    }

    notif_input_free(&in);
    notif_input_free(&in2);
    val_errors_free(&errs);
    val_errors_free(&errs2);
    json_object_put(obj);
    return 0;
}
