/* api: the request context and every answer's shape: X-Request-Id, the
 * RateLimit-* headers on /v1, CORS headers decided earlier, the JSON error
 * envelope, and HEAD answers without a body. */
#include "api/api.h"
#include "api/http_head.h"
#include "api/http_server.h"
#include "api/ratelimit.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/db.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/validate.h"

#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void api_req_free(struct api_req *r) {
    http_srv_forget(r->srv);
    query_free(&r->query);
    evhttp_clear_headers(&r->extra);
    if (r->head) {
        hhead_free(r->head);
        mem_free(r->head);
    }
    mem_free(r->body);
    json_object_put(r->json);
    mem_free(r);
}

void api_header(struct api_req *r, const char *name, const char *value) {
    evhttp_add_header(&r->extra, name, value);
}

const char *api_query(struct api_req *r, const char *name) {
    return query_get(&r->query, name);
}

int api_query_int(struct api_req *r, const char *name, int min, int max, int dflt,
                  const char *message, struct val_errors *errs) {
    const char *s = api_query(r, name);
    if (!s)
        return dflt;
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < min || v > max) {
        val_errors_add(errs, name, message);
        return dflt;
    }
    return (int)v;
}

const char *api_req_header(struct api_req *r, const char *name) {
    return hhead_get(r->head, name);
}

/* api_reason: the reason phrase of the statuses Herald answers with. */
static const char *api_reason(int status) {
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    }
    return "Unknown";
}

void api_rate_headers(struct api_req *r, const struct rl_result *res) {
    char v[32];
    evhttp_remove_header(&r->extra, "RateLimit-Limit");
    evhttp_remove_header(&r->extra, "RateLimit-Remaining");
    evhttp_remove_header(&r->extra, "RateLimit-Reset");
    snprintf(v, sizeof(v), "%d", r->app->cfg->rate_limit_burst);
    api_header(r, "RateLimit-Limit", v);
    snprintf(v, sizeof(v), "%lld", (long long)(res->remaining < 0 ? 0 : res->remaining));
    api_header(r, "RateLimit-Remaining", v);
    snprintf(v, sizeof(v), "%lld", (long long)res->reset_s);
    api_header(r, "RateLimit-Reset", v);
}

void api_reply_rate_limited(struct api_req *r, const struct rl_result *res) {
    char v[32];
    api_rate_headers(r, res);
    snprintf(v, sizeof(v), "%lld", (long long)res->retry_after_s);
    api_header(r, "Retry-After", v);
    api_reply_error(r, 429, "rate_limited", "rate limit exceeded for this API key", NULL);
}

void api_reply(struct api_req *r, int status, const char *body, size_t len) {
    struct evhttp_request *req = r->req;
    if (req && r->path && strncmp(r->path, "/v1/", 4) == 0 &&
        !evhttp_find_header(&r->extra, "RateLimit-Limit")) {
        /* not charged (refused before the limiter, or a provider callback):
         * the key's bucket is untouched */
        struct rl_result full = {.remaining = r->app->cfg->rate_limit_burst};
        api_rate_headers(r, &full);
    }
    if (req) {
        struct evhttp_connection *conn = evhttp_request_get_connection(req);
        if (conn)
            evhttp_connection_set_closecb(conn, NULL, NULL);
        struct evkeyvalq *out = evhttp_request_get_output_headers(req);
        evhttp_add_header(out, "X-Request-Id", r->req_id);
        if (body && !evhttp_find_header(&r->extra, "Content-Type"))
            evhttp_add_header(out, "Content-Type", "application/json");
        for (struct evkeyval *kv = r->extra.tqh_first; kv; kv = kv->next.tqe_next)
            evhttp_add_header(out, kv->key, kv->value);
        struct evbuffer *eb = evbuffer_new();
        if (r->method == EVHTTP_REQ_HEAD) {
            /* the length the GET answer has, and no body (evhttp would send it) */
            char n[24];
            snprintf(n, sizeof(n), "%zu", body ? len : 0);
            if (status != 204)
                evhttp_add_header(out, "Content-Length", n);
        } else if (body && len) {
            evbuffer_add(eb, body, len);
        }
        evhttp_send_reply(req, status, api_reason(status), eb);
        evbuffer_free(eb);
    }
    const char *method = r->head ? r->head->method_name : "?";
    if (status >= 500)
        HLOG(HLOG_ERROR, "http.error", &(struct hlog_ctx){.req_id = r->req_id}, "%s %s -> %d",
             method, r->path ? r->path : "?", status);
    else
        HLOG(HLOG_DEBUG, "http.request", &(struct hlog_ctx){.req_id = r->req_id}, "%s %s -> %d",
             method, r->path ? r->path : "?", status);
    http_srv_answered(r, status); /* frees r */
}

void api_reply_error(struct api_req *r, int status, const char *code, const char *message,
                     const char *details_json) {
    struct buf b = {0};
    buf_puts(&b, "{\"error\":{\"code\":");
    buf_json_str(&b, code, strlen(code));
    buf_puts(&b, ",\"message\":");
    buf_json_str(&b, message, strlen(message));
    if (details_json) {
        buf_puts(&b, ",\"details\":");
        buf_puts(&b, details_json);
    }
    buf_puts(&b, "},\"request_id\":");
    buf_json_str(&b, r->req_id, strlen(r->req_id));
    buf_putc(&b, '}');
    api_reply(r, status, b.data, b.len);
    buf_free(&b);
}

void api_reply_db_failed(struct api_req *r, const struct db_result *res) {
    if (res->status == DB_ERROR) {
        HLOG(HLOG_ERROR, "db.query_failed", &(struct hlog_ctx){.req_id = r->req_id}, "%s",
             res->message);
        api_reply_error(r, 500, "internal_error", "internal error", NULL);
    } else {
        api_reply_error(r, 503, "unavailable", "the database cannot be reached", NULL);
    }
}

char *api_errors_json(const struct val_errors *errs) {
    struct buf b = {0};
    buf_putc(&b, '[');
    for (size_t i = 0; i < errs->len; i++) {
        if (i)
            buf_putc(&b, ',');
        buf_puts(&b, "{\"field\":");
        buf_json_str(&b, errs->items[i].field, strlen(errs->items[i].field));
        buf_puts(&b, ",\"message\":");
        buf_json_str(&b, errs->items[i].message, strlen(errs->items[i].message));
        buf_putc(&b, '}');
    }
    buf_putc(&b, ']');
    return buf_steal(&b);
}

void api_reply_invalid(struct api_req *r, const struct val_errors *errs) {
    char *details = api_errors_json(errs);
    api_reply_error(r, 422, "validation_failed", "the request has invalid fields", details);
    mem_free(details);
}
