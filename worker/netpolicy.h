/* netpolicy: which network addresses a webhook may not reach; pure functions. */
#ifndef HERALD_WORKER_NETPOLICY_H
#define HERALD_WORKER_NETPOLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define NETP_ADDR_LEN 64 /* a formatted address, NUL included */

/* netp_addr_private: true when sa is in one of API.md's "Webhook
 * destinations" ranges (loopback, private, link-local, CGNAT, multicast,
 * reserved, NAT64, unique-local, and IPv4-mapped IPv6 forms of any of
 * them). Unknown address families count as private (refused). */
bool netp_addr_private(const struct sockaddr *sa, socklen_t len);

/* netp_addr_format: the numeric address of sa (no port) into
 * out[NETP_ADDR_LEN]; "?" when it cannot be printed. */
void netp_addr_format(const struct sockaddr *sa, socklen_t len, char *out);

#endif
