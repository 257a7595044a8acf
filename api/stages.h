/* stages: a request's way through API.md's checks: route -> auth -> cost ->
 * limit on the head alone, before any of the body is read (404, 405, CORS
 * preflight; 401, 403, 429 for an address with too many failed keys; the
 * route's cost hook; 429 for the key's bucket; then 413 for the size, 415
 * for the media type, 503 without room in the body budget); then parse ->
 * handle with the body (400 or 413 from the bounded JSON parser, 422 for
 * the query string, the cost's growth charged (429), the route's handler).
 *
 * One rule for callbacks: a stage may finish before returning (a cached
 * key, tokens already leased) or later on the loop; either way the next
 * stage runs from its completion, and the request is answered exactly once,
 * by a stage or by the handler. */
#ifndef HERALD_API_STAGES_H
#define HERALD_API_STAGES_H

#include "api/api.h"

/* stages_head: runs the head checks for r (fresh from the edge, r->edge
 * set) and tells the edge to read the body (edge_accept) or to hand the
 * request over without it (edge_answer_head, with the answer kept in r).
 * Callbacks run on the loop; r is freed here if its connection is gone. */
void stages_head(struct api_req *r);

/* stages_body: evhttp handed r over with its body (in r->body): answers
 * what the head checks decided, or runs the query check and the handler. */
void stages_body(struct api_req *r, bool too_large);

/* stages_cost_size: the default cost: one token per started KiB of the
 * body, at least one (a 1 KiB body costs 1, 1025 bytes cost 2). */
int64_t stages_cost_size(const struct api_req *r);

#endif
