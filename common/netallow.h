/* netallow: the HERALD_WEBHOOK_ALLOW list, the exact destinations a webhook may reach although
 * they are private; parsing (at start-up) and matching (per connection). Pure functions. */
#ifndef HERALD_COMMON_NETALLOW_H
#define HERALD_COMMON_NETALLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define NETALLOW_SPEC_MAX 4096 /* bytes of the whole setting */
#define NETALLOW_ENTRIES_MAX 64
#define NETALLOW_NAME_MAX 253 /* a DNS name, without a trailing dot */

typedef struct netallow netallow;

/* netallow_parse: spec is a comma list (spaces around entries ignored) of
 *   host:port  an IPv4 literal, a bracketed IPv6 literal ([::1]:9101) or a DNS
 *              name, and a port 1..65535: that one destination;
 *   a CIDR     10.1.2.0/24 or fd00::/8: every address in it, any port.
 * NULL or blank is the empty list. Entries that lie wholly in link-local
 * space (169.254/16, fe80::/10) are refused: such addresses are refused
 * whatever the list says. Returns the list (caller frees with
 * netallow_free()), or NULL with a one-line reason in err naming the entry
 * (without the variable's name, which the caller adds). */
netallow *netallow_parse(const char *spec, char *err, size_t errlen);
void netallow_free(netallow *a);

/* netallow_count: entries in a (0 for NULL). */
size_t netallow_count(const netallow *a);

/* netallow_match: whether a connection to sa (the address and port about to
 * be connected to) is listed: inside a CIDR entry, equal to an address:port
 * entry, or, for a name:port entry, when url_host (the URL's host as written,
 * any case, NULL when unknown) is that name and the port is that port (the
 * name was resolved for this very connection). IPv4-mapped IPv6 addresses
 * match as their IPv4 address. a may be NULL (nothing is listed). */
bool netallow_match(const netallow *a, const char *url_host, const struct sockaddr *sa,
                    socklen_t len);

#endif
