/* netpolicy: which network addresses a webhook may reach (API.md, "Webhook destinations"); pure
 * functions. */
#ifndef HERALD_WORKER_NETPOLICY_H
#define HERALD_WORKER_NETPOLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define NETP_ADDR_LEN 64 /* a formatted address, NUL included */

struct netallow;

/* netp_addr_private: true when sa is in one of API.md's "Webhook
 * destinations" ranges (loopback, private, link-local, CGNAT, multicast,
 * reserved, NAT64, unique-local, and IPv4-mapped IPv6 forms of any of
 * them). Unknown address families count as private (refused). */
bool netp_addr_private(const struct sockaddr *sa, socklen_t len);

/* netp_addr_link_local: true when sa is in 169.254/16 or fe80::/10 (also
 * IPv4-mapped): refused whatever the settings say. */
bool netp_addr_link_local(const struct sockaddr *sa, socklen_t len);

/* What a webhook connection may reach: HERALD_WEBHOOK_ALLOW_PRIVATE and the
 * parsed HERALD_WEBHOOK_ALLOW (borrowed; NULL lists nothing). */
struct netp_rules {
    bool allow_private;
    const struct netallow *allow;
};

enum netp_verdict {
    NETP_OK = 0,    /* public, listed, or private with allow_private */
    NETP_PRIVATE,   /* private or reserved and not allowed */
    NETP_LINK_LOCAL /* link-local: always refused */
};

/* netp_check: the verdict for connecting to sa for a URL whose host is
 * url_host (as written; NULL when unknown). */
enum netp_verdict netp_check(const struct netp_rules *r, const char *url_host,
                             const struct sockaddr *sa, socklen_t len);

/* netp_addr_format: the numeric address of sa (no port) into
 * out[NETP_ADDR_LEN]; "?" when it cannot be printed. */
void netp_addr_format(const struct sockaddr *sa, socklen_t len, char *out);

#endif
