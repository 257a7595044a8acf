/* db_cols: per-column array literals for unnest statements, named by an enum. */
#include "common/db_cols.h"
#include "common/db.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void db_cols_init(struct db_cols *c, int n) {
    memset(c, 0, sizeof(*c));
    c->n = n < DB_COLS_MAX ? n : DB_COLS_MAX;
    for (int i = 0; i < c->n; i++)
        buf_putc(&c->a[i], '{');
}

void db_cols_putn(struct db_cols *c, int col, const char *s, size_t len) {
    if (col >= 0 && col < c->n && !c->scalar[col])
        db_array_add(&c->a[col], s, len);
}

void db_cols_put(struct db_cols *c, int col, const char *s) {
    db_cols_putn(c, col, s, s ? strlen(s) : 0);
}

void db_cols_int(struct db_cols *c, int col, int64_t v) {
    char num[24];
    snprintf(num, sizeof(num), "%" PRId64, v);
    db_cols_put(c, col, num);
}

void db_cols_bool(struct db_cols *c, int col, bool v) {
    db_cols_put(c, col, v ? "t" : "f");
}

void db_cols_scalar(struct db_cols *c, int col, const char *s) {
    if (col < 0 || col >= c->n)
        return;
    c->scalar[col] = true;
    c->params[col] = s;
}

const char *const *db_cols_params(struct db_cols *c) {
    for (int i = 0; i < c->n; i++) {
        if (c->scalar[i])
            continue;
        buf_putc(&c->a[i], '}');
        c->params[i] = c->a[i].data;
    }
    return c->params;
}

void db_cols_free(struct db_cols *c) {
    for (int i = 0; i < c->n; i++)
        buf_free(&c->a[i]);
}
