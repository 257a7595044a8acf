/* fuzz_batch: a POST /v1/notifications/batch body through hjson_parse, val_batch_cost and
 * val_batch (what api/notifications.c runs). Checks: the body is accepted exactly when no
 * error is reported; every error names "notifications", a top-level field, or a field under
 * its element's "notifications[i]" prefix; every accepted element meets the
 * single-notification invariants; the rate-limit cost matches the element count. */
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/check_notif.h"
#include "common/json.h"
#include "common/validate.h"

#include <json-c/json.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    struct json_object *obj = hjson_parse((const char *)data, size, NULL, 0);
    if (!obj)
        return 0;
    int64_t cost = val_batch_cost(obj);
    FUZZ_CHECK(cost >= 1);
    struct val_errors errs = {0};
    struct notif_input *rows = NULL;
    size_t n = 0;
    int rc = val_batch(obj, CHECK_NOTIF_NOW_MS, &rows, &n, &errs);
    /* the API answers 201 exactly when nothing was reported */
    FUZZ_CHECK((rc == 0) == (errs.len == 0));
    FUZZ_CHECK(rc == 0 ? rows != NULL && n >= 1 && n <= VAL_BATCH_MAX : rows == NULL && n == 0);
    if (rc == 0) {
        FUZZ_CHECK((int64_t)n == cost);
        struct json_object *list;
        FUZZ_CHECK(json_object_object_get_ex(obj, "notifications", &list));
        for (size_t i = 0; i < n; i++)
            check_notif_valid(&rows[i], json_object_array_get_idx(list, i));
    }
    check_notif_errors(&errs, 0, "");
    for (size_t i = 0; i < errs.len; i++)
        FUZZ_CHECK(hjson_utf8_valid(errs.items[i].field, strlen(errs.items[i].field)));
    for (size_t i = 0; i < n; i++)
        notif_input_free(&rows[i]);
    mem_free(rows);
    val_errors_free(&errs);
    json_object_put(obj);
    return 0;
}
