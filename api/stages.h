/* stages: a request's checks in API.md's order. On the head alone, before
 * any of the body is read: route (404, 405, CORS preflight), key (401,
 * 403; 429 for an address with too many failed keys), rate limit (429),
 * size (413), media type (415), room in the body budget (503). Then, with
 * the body: the query string (422) and the route's handler. */
#ifndef HERALD_API_STAGES_H
#define HERALD_API_STAGES_H

#include "api/http_server.h"

/* stages_head: runs the head checks for r (fresh from the edge, r->edge
 * set) and tells the edge to read the body (edge_accept) or to hand the
 * request over without it (edge_answer_head, with the answer kept in r).
 * Callbacks run on the loop; r is freed here if its connection is gone. */
void stages_head(struct api_req *r);

/* stages_body: evhttp handed r over with its body (in r->body): answers
 * what the head checks decided, or runs the query check and the handler. */
void stages_body(struct api_req *r, bool too_large);

#endif
