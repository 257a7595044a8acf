/* sqlsplit: splits a PostgreSQL script into its statements, for migrations that must run
 * one statement at a time outside a transaction (CREATE INDEX CONCURRENTLY). */
#ifndef HERALD_COMMON_SQLSPLIT_H
#define HERALD_COMMON_SQLSPLIT_H

#include <stdbool.h>
#include <stddef.h>

/* sqlsplit_next: finds the next statement of sql (NUL-terminated) at or after *pos. On
 * true, sql[*start .. *start + *len) is the statement without its terminating ';' (leading
 * comments and whitespace skipped) and *pos is past its ';' or at the end. False when
 * nothing but whitespace, comments and empty statements is left. Semicolons inside
 * '...' and E'...' strings, "..." identifiers, $tag$...$tag$ bodies, -- comments and
 * nested block comments do not end a statement. An unterminated string or comment runs
 * to the end (the server then reports it). Never reads past the NUL. */
bool sqlsplit_next(const char *sql, size_t *pos, size_t *start, size_t *len);

#endif
