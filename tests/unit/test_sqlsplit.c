/* test_sqlsplit: a migration script splits at its top-level semicolons only. */
#include "common/sqlsplit.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

/* split: the statements of sql joined by "|". */
static void split(const char *sql, char *out, size_t n) {
    size_t pos = 0, start, len, o = 0;
    out[0] = '\0';
    while (sqlsplit_next(sql, &pos, &start, &len)) {
        o += (size_t)snprintf(out + o, n - o, "%s%.*s", o ? "|" : "", (int)len, sql + start);
        cr_assert_lt(o, n);
    }
    cr_assert_eq(pos, strlen(sql), "the whole script was read");
}

Test(sqlsplit, plain_statements) {
    char out[512];
    split("SELECT 1;\n  SELECT 2 ;;\n\nCREATE INDEX CONCURRENTLY i ON t (a)", out, sizeof(out));
    cr_expect_str_eq(out, "SELECT 1|SELECT 2|CREATE INDEX CONCURRENTLY i ON t (a)");
}

Test(sqlsplit, comments_only_is_nothing) {
    char out[64];
    split("-- heraldctl: no transaction\n/* a; /* nested; */ b; */\n ; \n", out, sizeof(out));
    cr_expect_str_eq(out, "");
}

Test(sqlsplit, semicolons_inside_tokens) {
    char out[1024];
    split("SELECT 'a;b', 'it''s;';\n"
          "SELECT E'x\\';y';\n"
          "SELECT \"odd;name\" FROM t; -- c;d\n"
          "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$;\n"
          "DO $body$ BEGIN PERFORM 1; /* $$ */ END $body$;\n"
          "SELECT $1::int, a$b FROM t",
          out, sizeof(out));
    cr_expect_str_eq(out, "SELECT 'a;b', 'it''s;'|"
                          "SELECT E'x\\';y'|"
                          "SELECT \"odd;name\" FROM t|"
                          "CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1; $$|"
                          "DO $body$ BEGIN PERFORM 1; /* $$ */ END $body$|"
                          "SELECT $1::int, a$b FROM t");
}

Test(sqlsplit, leading_comment_skipped_and_unterminated_runs_to_end) {
    char out[256];
    split("-- first\nSELECT 1; /* open ; never closed", out, sizeof(out));
    cr_expect_str_eq(out, "SELECT 1");
    split("SELECT 'open; never closed", out, sizeof(out));
    cr_expect_str_eq(out, "SELECT 'open; never closed");
}
