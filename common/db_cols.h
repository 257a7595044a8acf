/* db_cols: the parameters of a statement that writes many rows at once
 * (unnest of arrays): one PostgreSQL array literal per column, columns named
 * by the caller's enum, whose value + 1 is the column's $n. A column may
 * instead be a scalar parameter (the same for every row). */
#ifndef HERALD_COMMON_DB_COLS_H
#define HERALD_COMMON_DB_COLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define DB_COLS_MAX 32

struct db_cols {
    int n;
    struct buf a[DB_COLS_MAX];
    bool scalar[DB_COLS_MAX];
    const char *params[DB_COLS_MAX];
};

/* db_cols_init: n columns (at most DB_COLS_MAX), every one an empty array. */
void db_cols_init(struct db_cols *c, int n);
/* db_cols_put: appends s (NULL: SQL NULL) to column col's array. */
void db_cols_put(struct db_cols *c, int col, const char *s);
void db_cols_putn(struct db_cols *c, int col, const char *s, size_t len);
void db_cols_int(struct db_cols *c, int col, int64_t v);
void db_cols_bool(struct db_cols *c, int col, bool v);
/* db_cols_scalar: column col is the parameter s itself (NULL: SQL NULL);
 * s is borrowed until db_cols_free. */
void db_cols_scalar(struct db_cols *c, int col, const char *s);
/* db_cols_params: the n parameters in column order; borrowed, valid until
 * db_cols_free. Call once, after the last put. */
const char *const *db_cols_params(struct db_cols *c);
void db_cols_free(struct db_cols *c);

#endif
