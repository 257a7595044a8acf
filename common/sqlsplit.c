/* sqlsplit: a PostgreSQL script split into statements by its top-level semicolons. */
#include "common/sqlsplit.h"

#include <ctype.h>
#include <string.h>

/* sqlsplit_ident_char: whether c may continue an identifier (so that "x$1" or a
 * dollar inside a name does not open a dollar quote). */
static bool sqlsplit_ident_char(char c) {
    return isalnum((unsigned char)c) || c == '_' || c == '$' || (unsigned char)c >= 0x80;
}

/* sqlsplit_dollar_tag: the length of the dollar-quote tag ("$tag$" or "$$") at p, or 0. */
static size_t sqlsplit_dollar_tag(const char *p) {
    size_t n = 1;
    if (isdigit((unsigned char)p[1]))
        return 0; /* $1: a parameter */
    while (p[n] && p[n] != '$') {
        if (!(isalnum((unsigned char)p[n]) || p[n] == '_' || (unsigned char)p[n] >= 0x80))
            return 0;
        n++;
    }
    return p[n] == '$' ? n + 1 : 0;
}

/* sqlsplit_skip: the index just past the token (string, identifier, dollar body or
 * comment) that starts at i, or i + 1 for any other character. */
static size_t sqlsplit_skip(const char *s, size_t i) {
    size_t tag, depth, open;
    bool backslashes;

    switch (s[i]) {
    case '-':
        if (s[i + 1] != '-')
            return i + 1;
        while (s[i] && s[i] != '\n')
            i++;
        return i;
    case '/':
        if (s[i + 1] != '*')
            return i + 1;
        depth = 1;
        i += 2;
        while (s[i] && depth > 0) {
            if (s[i] == '/' && s[i + 1] == '*') {
                depth++;
                i += 2;
            } else if (s[i] == '*' && s[i + 1] == '/') {
                depth--;
                i += 2;
            } else {
                i++;
            }
        }
        return i;
    case '\'':
        backslashes = i > 0 && (s[i - 1] == 'E' || s[i - 1] == 'e') &&
                      (i < 2 || !sqlsplit_ident_char(s[i - 2]));
        for (i++; s[i]; i++) {
            if (backslashes && s[i] == '\\' && s[i + 1]) {
                i++;
            } else if (s[i] == '\'') {
                if (s[i + 1] != '\'')
                    return i + 1;
                i++;
            }
        }
        return i;
    case '"':
        for (i++; s[i]; i++) {
            if (s[i] == '"') {
                if (s[i + 1] != '"')
                    return i + 1;
                i++;
            }
        }
        return i;
    case '$':
        if (i > 0 && sqlsplit_ident_char(s[i - 1]))
            return i + 1;
        tag = sqlsplit_dollar_tag(s + i);
        if (!tag)
            return i + 1;
        open = i;
        for (i += tag; s[i]; i++)
            if (s[i] == '$' && strncmp(s + i, s + open, tag) == 0)
                return i + tag;
        return i;
    default:
        return i + 1;
    }
}

bool sqlsplit_next(const char *sql, size_t *pos, size_t *start, size_t *len) {
    size_t i = *pos, begin, end;

    /* whitespace, comments and empty statements before the statement */
    while (sql[i]) {
        if (isspace((unsigned char)sql[i]) || sql[i] == ';')
            i++;
        else if ((sql[i] == '-' && sql[i + 1] == '-') || (sql[i] == '/' && sql[i + 1] == '*'))
            i = sqlsplit_skip(sql, i);
        else
            break;
    }
    if (!sql[i]) {
        *pos = i;
        return false;
    }
    begin = i;
    while (sql[i] && sql[i] != ';')
        i = sqlsplit_skip(sql, i);
    end = i;
    while (end > begin && isspace((unsigned char)sql[end - 1]))
        end--;
    *pos = sql[i] ? i + 1 : i;
    *start = begin;
    *len = end - begin;
    return true;
}
