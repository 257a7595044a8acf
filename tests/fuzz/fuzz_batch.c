/* fuzz_batch: a POST /v1/notifications/batch body through hjson_parse and the per-element
 * validation loop of api/notifications.c (notif_h_batch_validate, restated here because the
 * API's handlers cannot be linked without a server). Checks: the body is accepted only when
 * every element is; every error names "notifications", a top-level field, or a field under
 * its own element's "notifications[i]." prefix, in element order; every accepted element meets
 * the single-notification invariants; the rate-limit cost matches the element count. */
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/check_notif.h"
#include "common/json.h"
#include "common/validate.h"

#include <json-c/json.h>

#define FB_MAX 500 /* NOTIF_BATCH_MAX in api/notifications.c */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct json_object *obj = hjson_parse((const char *)data, size, NULL, 0);
    if (!obj)
        return 0;

    /* notif_h_batch: the cost charged before validation */
    struct json_object *list = NULL;
    int64_t cost = 1;
    if (json_object_object_get_ex(obj, "notifications", &list) &&
        json_object_is_type(list, json_type_array) && json_object_array_length(list) > 0)
        cost = (int64_t)json_object_array_length(list);
    FUZZ_CHECK(cost >= 1);

    /* notif_h_batch_validate, without the Idempotency-Key header */
    struct val_errors errs = {0};
    list = NULL;
    json_object_object_foreach(obj, key, val) {
        if (strcmp(key, "notifications") == 0)
            list = val;
        else if (strlen(key) <= 128 && hjson_utf8_valid(key, strlen(key)))
            val_errors_add(&errs, key, "unknown field");
        else
            val_errors_add(&errs, "(unprintable field name)", "unknown field");
    }
    size_t top_errors = errs.len;
    size_t n = 0;
    if (!list) {
        val_errors_add(&errs, "notifications", "is required");
    } else if (!json_object_is_type(list, json_type_array)) {
        val_errors_add(&errs, "notifications", "must be an array");
        list = NULL;
    } else {
        n = json_object_array_length(list);
        if (n < 1 || n > FB_MAX) {
            val_errors_add(&errs, "notifications", "must hold 1 to 500 notifications");
            list = NULL;
        }
    }
    if (list)
        FUZZ_CHECK((int64_t)n == cost);
    size_t bad_elements = 0;
    bool all_ok = list != NULL;
    struct notif_input *rows = list ? mem_calloc(n, sizeof(*rows)) : NULL;
    for (size_t i = 0; list && i < n; i++) {
        char prefix[40];
        size_t before = errs.len;
        snprintf(prefix, sizeof(prefix), "notifications[%zu].", i);
        struct json_object *el = json_object_array_get_idx(list, i);
        if (!json_object_is_type(el, json_type_object)) {
            snprintf(prefix, sizeof(prefix), "notifications[%zu]", i);
            val_errors_add(&errs, prefix, "must be an object");
            bad_elements++;
            all_ok = false;
            continue;
        }
        int rc = val_notification(el, prefix, CHECK_NOTIF_NOW_MS, &rows[i], &errs);
        FUZZ_CHECK((rc == 0) == (errs.len == before));
        check_notif_errors(&errs, before, prefix);
        if (rc == 0) {
            check_notif_valid(&rows[i], el);
        } else {
            bad_elements++;
            all_ok = false;
        }
    }
    /* the API answers 201 exactly when nothing was reported */
    FUZZ_CHECK((errs.len == 0) == (all_ok && top_errors == 0));
    if (list)
        FUZZ_CHECK(errs.len >= top_errors + bad_elements);
    for (size_t i = 0; i < errs.len; i++)
        FUZZ_CHECK(hjson_utf8_valid(errs.items[i].field, strlen(errs.items[i].field)));

    for (size_t i = 0; rows && i < n; i++)
        notif_input_free(&rows[i]);
    mem_free(rows);
    val_errors_free(&errs);
    json_object_put(obj);
    return 0;
}
