/* rds: one asynchronous hiredis connection on the process's event_base, with
 * per-command deadlines and reconnection. */
#ifndef HERALD_COMMON_RDS_H
#define HERALD_COMMON_RDS_H

#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/req.h"

struct event_base;
struct cfg;
typedef struct rds rds;

/* A command callback runs exactly once per rds_command (never, if the
 * request is cancelled first), on the loop, never inside rds_command (except
 * after rds_shutdown, below). reply is NULL on failure (not connected, timed out,
 * connection lost) with err saying why; otherwise it is borrowed and freed
 * after the callback (an error reply has type REDIS_REPLY_ERROR). */
typedef void (*rds_cb)(void *arg, redisReply *reply, const char *err);

/* rds_open: connects in the background (a hostname is resolved by hiredis
 * with getaddrinfo, which blocks: use a numeric address). Caller frees with
 * rds_close(). */
rds *rds_open(struct event_base *base, const struct cfg *c);
/* rds_shutdown: drops the connection (pending commands get a NULL reply
 * synchronously) and from now on rds_command answers NULL at once, inside
 * rds_command, so callbacks that send again during a teardown find a live
 * handle. Idempotent. rds_close: rds_shutdown, then frees r. */
void rds_shutdown(rds *r);
void rds_close(rds *r);

/* rds_command: sends argv (lens NULL: NUL-terminated strings; copied) with a
 * deadline of HERALD_REDIS_TIMEOUT_MS; on expiry the connection is dropped
 * and re-made. cb may be NULL to ignore the reply. Returns the request's
 * handle (common/req.h), valid until its callback starts; NULL after
 * rds_shutdown, when the callback has already run. A cancelled command that
 * was sent still has its deadline. */
struct req *rds_command(rds *r, rds_cb cb, void *arg, int argc, const char **argv,
                        const size_t *lens);

/* rds_up: connected and ready. */
bool rds_up(const rds *r);

/* rds_on_connect: fn runs every time the connection becomes ready. */
void rds_on_connect(rds *r, void (*fn)(void *arg), void *arg);

#endif
