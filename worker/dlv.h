/* dlv: the channel plug-in interface. The engine reads, claims, schedules and
 * records; a channel only turns one notification into one libcurl transfer
 * and its answer into an outcome (API.md, "What each channel sends"). */
#ifndef HERALD_WORKER_DLV_H
#define HERALD_WORKER_DLV_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cfg;
struct event_base;
struct xfer;

enum dlv_outcome { DLV_SENT = 0, DLV_RETRY, DLV_FAILED };

#define DLV_ERR_LEN 256
#define DLV_REF_LEN 128
#define DLV_HOST_LEN 300

/* The result of one attempt. */
struct dlv_result {
    enum dlv_outcome outcome;
    int64_t retry_after_ms;         /* the provider's requested wait; -1 none */
    int status_code;                /* HTTP or SMTP reply code; 0 none */
    char provider_ref[DLV_REF_LEN]; /* the provider's message id; "" none */
    char error[DLV_ERR_LEN];        /* why it was not sent; "" when sent. Stored as
                                       last_error: never a secret */
    bool auth_error;                /* Herald's own provider account was refused:
                                       retried without using up an attempt */
};

/* One claimed notification. Every string is borrowed from the engine and
 * valid until the attempt's classify returns. */
struct dlv_msg {
    const char *id;     /* UUID */
    const char *tenant; /* tenant name, for logs */
    const char *recipient;
    const char *subject;     /* template source; NULL when absent */
    const char *body;        /* template source */
    const char *metadata;    /* compact JSON object text; NULL when absent */
    int64_t created_at_ms;   /* wall clock */
    int attempt;             /* the number of this attempt, from 1 */
    const char *secret;      /* the tenant's webhook secret (whsec_...) */
    const char *prev_secret; /* the previous one while its grace lasts; else NULL */
    const char *html;        /* email: the HTML alternative's template source; NULL: none */
    const char *reply_to;    /* email: the Reply-To address; NULL: none */
    const char *email_from;  /* email: the tenant's From ("Name <addr>"); NULL: the default */
    int64_t expires_at_ms;   /* the deadline, wall clock; 0: none */
    bool event;              /* a status event for the tenant's events_url: body is sent as is */
};

/* The request a channel builds. The engine owns easy and has already set the
 * options every channel shares: CURLOPT_TIMEOUT_MS (HERALD_DELIVERY_TIMEOUT_MS),
 * NOSIGNAL, the response header/body capture, the error buffer and
 * FOLLOWLOCATION off. The channel sets the rest (URL, protocols, headers,
 * body, auth, proxy policy). */
struct dlv_req {
    CURL *easy;
    char host[DLV_HOST_LEN];    /* the per-host limit's key, e.g. "https://a.example:443" */
    struct curl_slist *headers; /* freed by the engine after the transfer */
    char *body;                 /* request body, freed by the engine with mem_free */
    size_t body_len;
    void *priv; /* channel state for this attempt; see release */
};

/* A finished transfer as classify sees it; borrowed. */
struct dlv_resp {
    CURLcode code;
    const char *curl_error; /* curl's error text, "" if none */
    long status;            /* CURLINFO_RESPONSE_CODE; 0 when no answer */
    const char *headers;    /* the last response's header block, CRLF lines, NUL-terminated */
    const char *body;       /* the first bytes of the response body, NUL-terminated */
    size_t body_len;
    int64_t elapsed_ms;
    int64_t now_ms; /* wall clock at completion */
};

/* prepare's answer when the request cannot be built yet and no attempt
 * should be used (e.g. an access token is being fetched): the engine keeps
 * the job, leased, and calls prepare again after the channel calls
 * env->wake, or hands it back unattempted (due again at once) if its lease
 * would run short first. */
#define DLV_WAIT 1

/* What the engine lends a channel for background work of its own, from
 * attach until detach; borrowed. */
struct dlv_env {
    struct event_base *base;
    struct xfer *x;               /* the engine's transfers (worker/xfer.h) */
    void (*wake)(void *wake_arg); /* jobs told DLV_WAIT may go now; callable from any
                                     callback on the loop (they go on a later turn) */
    void *wake_arg;
};

/* A channel. state is the channel's own, made by init and passed back. */
struct dlv_ops {
    const char *name; /* the channel name, as in --channel */
    /* init: validates the channel's configuration; -1 with a one-line err
     * naming the variable stops start-up (exit code 3). */
    int (*init)(const struct cfg *c, void **state, char *err, size_t errlen);
    /* prepare: fills req for m. Returns 0, or -1 with res filled when no
     * transfer is needed to decide (e.g. the message cannot be built), or
     * DLV_WAIT (req and res untouched but for priv, released as usual). */
    int (*prepare)(void *state, const struct dlv_msg *m, struct dlv_req *req,
                   struct dlv_result *res);
    /* classify: the transfer's answer as an outcome, per API.md's table. */
    void (*classify)(void *state, const struct dlv_msg *m, const struct dlv_req *req,
                     const struct dlv_resp *resp, struct dlv_result *res);
    /* release (optional for a channel that never sets req->priv): frees
     * req->priv (may be NULL); the engine frees the rest. */
    void (*release)(void *state, struct dlv_req *req);
    void (*fini)(void *state);
    /* attach (optional): the engine lends env before the first prepare.
     * detach (optional): stop background work (no wake after it); called
     * before the engine, its transfers and the loop are freed. */
    void (*attach)(void *state, const struct dlv_env *env);
    void (*detach)(void *state);
};

/* dlv_find: the channel called name; NULL when there is none (yet). */
const struct dlv_ops *dlv_find(const char *name);

/* dlv_http_header: the value of the first header called name (any case) in a
 * CRLF header block, trimmed, copied into out (outlen bytes). Returns false
 * when absent. */
bool dlv_http_header(const char *headers, const char *name, char *out, size_t outlen);

/* Channels. */
extern const struct dlv_ops dlv_webhook_ops;
extern const struct dlv_ops dlv_email_ops;
extern const struct dlv_ops dlv_sms_ops;
extern const struct dlv_ops dlv_push_ops;

#endif
