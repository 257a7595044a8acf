/* recipient: API.md's address rules: each channel's recipient, and the
 * addresses of reply_to, a tenant's email_from and events_url. */
#ifndef HERALD_COMMON_RECIPIENT_H
#define HERALD_COMMON_RECIPIENT_H

#include "common/notif.h"

#include <stddef.h>

/* Each checker takes n bytes at s (not NUL-terminated, already known to be
 * UTF-8 without NUL) and returns NULL when they are acceptable, else a static
 * message that completes "<field> ..." (e.g. "must be an email address"). */

/* rcpt_email: an ASCII address per RFC 5321: dot-atom local part, a hostname
 * domain, at most 254 bytes. */
const char *rcpt_email(const char *s, size_t n);
/* rcpt_e164: + then 8 to 15 digits, the first not 0. */
const char *rcpt_e164(const char *s, size_t n);
/* rcpt_token: a push device token: 1..4096 printable ASCII, no spaces. */
const char *rcpt_token(const char *s, size_t n);
/* rcpt_url: an absolute http or https URL, at most 2048 bytes, with a host
 * and no user:password@. */
const char *rcpt_url(const char *s, size_t n);
/* rcpt_check: the rule of channel ch's recipient. */
const char *rcpt_check(enum notif_channel ch, const char *s, size_t n);
/* rcpt_mailbox: a bare address (rcpt_email), or "Display Name <address>"
 * with a display name of 1..128 code points without control characters,
 * quotes, backslashes or angle brackets (spaces before "<" are optional). */
const char *rcpt_mailbox(const char *s, size_t n);

#endif
