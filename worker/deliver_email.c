/* deliver_email: the email channel; one RFC 5322 message per notification over SMTP (API.md). */
#include "common/buf.h"
#include "common/config.h"
#include "common/mem.h"
#include "common/template.h"
#include "common/util.h"
#include "worker/deliver_email.h"
#include "worker/dlv.h"
#include "worker/mime.h"
#include "worker/provider.h"

#include <arpa/inet.h>
#include <json-c/json.h>
#include <ctype.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define EM_REPLY_LEN 160 /* the server's last reply line kept for last_error */
#define EM_STAGE_LEN 12

struct em_state {
    const char *url;      /* HERALD_SMTP_URL; borrowed from the config */
    const char *user;     /* NULL: no AUTH */
    const char *password; /* never logged or stored */
    long use_ssl;         /* CURLOPT_USE_SSL */
    struct mime_from from;
    struct curl_slist *pin;  /* a local relay's checked addresses (CURLOPT_RESOLVE), or NULL */
    char host[DLV_HOST_LEN]; /* the per-host limit's key */
    int timeout_ms;
};

/* Per attempt: the message being uploaded and what the dialogue showed. */
struct em_priv {
    struct curl_slist *rcpt;
    const char *data; /* req->body, borrowed */
    size_t len, off;
    char stage[EM_STAGE_LEN]; /* the last command sent: "MAIL", "RCPT", ...; "" before any */
    bool body_sent;           /* message bytes went out after DATA */
    bool quitting;            /* QUIT sent: what follows says nothing about the message */
    char reply[EM_REPLY_LEN]; /* the last reply line, printable ASCII */
};

static bool em_addr_loopback(const struct sockaddr *sa) {
    if (sa->sa_family == AF_INET) {
        const uint8_t *a = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
        return a[0] == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return false;
}

bool em_host_loopback(const char *host, const char *port, struct curl_slist **pin) {
    char name[256];
    size_t n = strlen(host);
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
        host++;
        n -= 2;
    }
    if (n == 0 || n >= sizeof(name))
        return false;
    memcpy(name, host, n);
    name[n] = '\0';
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(name, port, &hints, &res) != 0 || !res)
        return false;
    bool loopback = true;
    struct buf b = {0};
    buf_printf(&b, "%s:%s:", name, port);
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        char ip[INET6_ADDRSTRLEN];
        loopback = loopback && em_addr_loopback(ai->ai_addr);
        if (getnameinfo(ai->ai_addr, ai->ai_addrlen, ip, sizeof(ip), NULL, 0, NI_NUMERICHOST))
            loopback = false;
        else
            buf_printf(&b, ai->ai_family == AF_INET6 ? "%s[%s]" : "%s%s", ai == res ? "" : ",", ip);
    }
    freeaddrinfo(res);
    if (loopback && pin)
        *pin = curl_slist_append(NULL, b.data);
    buf_free(&b);
    return loopback;
}

static int em_init(const struct cfg *c, void **state, char *err, size_t errlen) {
    struct em_state *s = mem_calloc(1, sizeof(*s));
    struct prov_url p;
    char why[128];
    int rc = -1;
    if (prov_url_parse(c->smtp_url, &p) < 0) {
        snprintf(err, errlen, "HERALD_SMTP_URL: not a valid smtp:// or smtps:// URL");
        goto out;
    }
    if (mime_parse_from(c->smtp_from, &s->from, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "HERALD_SMTP_FROM: %s", why);
        goto out;
    }
    if (c->smtp_user && !c->smtp_password) {
        snprintf(err, errlen, "HERALD_SMTP_PASSWORD: required when HERALD_SMTP_USER is set");
        goto out;
    }
    s->url = c->smtp_url;
    s->user = c->smtp_user;
    s->password = c->smtp_password;
    /* credentials never cross the network in clear, except to a local relay:
     * one whose every address is loopback, and which is then reached at
     * exactly those addresses */
    s->use_ssl = CURLUSESSL_TRY;
    if (s->user && !em_host_loopback(p.host, p.port, &s->pin))
        s->use_ssl = CURLUSESSL_ALL;
    snprintf(s->host, sizeof(s->host), "%s://%s:%s", p.scheme, p.host, p.port);
    s->timeout_ms = c->delivery_timeout_ms;
    rc = 0;
out:
    prov_url_free(&p);
    if (rc < 0)
        mem_free(s);
    else
        *state = s;
    return rc;
}

static void em_fini(void *state) {
    struct em_state *s = state;
    if (s)
        curl_slist_free_all(s->pin);
    mem_free(s);
}

static size_t em_read(char *out, size_t size, size_t n, void *arg) {
    struct em_priv *p = arg;
    size_t want = size * n, left = p->len - p->off;
    if (want > left)
        want = left;
    memcpy(out, p->data + p->off, want);
    p->off += want;
    return want;
}

/* em_debug: follows the SMTP dialogue. Only a command's verb is kept, never
 * its argument: AUTH lines and their continuations carry credentials. */
static int em_debug(CURL *easy, curl_infotype type, char *data, size_t size, void *arg) {
    (void)easy;
    struct em_priv *p = arg;
    if (p->quitting)
        return 0;
    static const char *const verbs[] = {"EHLO", "HELO", "STARTTLS", "AUTH", "MAIL",
                                        "RCPT", "DATA", "RSET",     "QUIT"};
    if (type == CURLINFO_HEADER_OUT) {
        for (size_t i = 0; i < HD_ARRAY_LEN(verbs); i++) {
            size_t n = strlen(verbs[i]);
            if (size >= n && strncasecmp(data, verbs[i], n) == 0 &&
                (size == n || data[n] == ' ' || data[n] == '\r')) {
                if (strcmp(verbs[i], "QUIT") == 0) {
                    p->quitting = true;
                    return 0;
                }
                snprintf(p->stage, sizeof(p->stage), "%s", verbs[i]);
                p->body_sent = false;
                break;
            }
        }
    } else if (type == CURLINFO_DATA_OUT && strcmp(p->stage, "DATA") == 0) {
        p->body_sent = true;
    } else if (type == CURLINFO_HEADER_IN) {
        /* the last non-empty line of this chunk, made printable */
        size_t end = size;
        while (end > 0 && (data[end - 1] == '\r' || data[end - 1] == '\n'))
            end--;
        size_t start = end;
        while (start > 0 && data[start - 1] != '\n')
            start--;
        if (end > start) {
            size_t k = 0;
            for (size_t i = start; i < end && k + 1 < sizeof(p->reply); i++)
                p->reply[k++] = isprint((unsigned char)data[i]) ? data[i] : '?';
            p->reply[k] = '\0';
        }
    }
    return 0;
}

static int em_prepare(void *state, const struct dlv_msg *m, struct dlv_req *req,
                      struct dlv_result *res) {
    struct em_state *s = state;
    int rc = -1;
    struct buf subject = {0}, body = {0}, html = {0}, msg = {0};
    struct json_object *md = NULL;
    struct mime_from tenant_from;
    char why[128];

    snprintf(req->host, sizeof(req->host), "%s", s->host);
    if (!mime_addr_valid(m->recipient)) {
        res->outcome = DLV_FAILED;
        snprintf(res->error, sizeof(res->error), "the recipient is not a valid email address");
        goto out;
    }
    if (prov_render(m, &subject, &body, &md, res) < 0)
        goto out;
    char bad[TMPL_NAME_LEN] = "";
    if (m->html && tmpl_render_html(m->html, strlen(m->html), md, &html, bad, sizeof(bad)) < 0) {
        res->outcome = DLV_FAILED;
        snprintf(res->error, sizeof(res->error),
                 "template: metadata has no usable value for {{%s}}", bad);
        goto out;
    }
    /* the header's From is the tenant's when set; the envelope sender stays ours */
    if (m->email_from && mime_parse_from(m->email_from, &tenant_from, why, sizeof(why)) < 0) {
        res->outcome = DLV_FAILED;
        snprintf(res->error, sizeof(res->error), "the tenant's email_from: %s", why);
        goto out;
    }
    struct mime_msg mm = {
        .from = m->email_from ? &tenant_from : &s->from,
        .html = m->html ? (html.data ? html.data : "") : NULL,
        .html_len = html.len,
        .reply_to = m->reply_to,
        .to = m->recipient,
        .subject = m->subject ? (subject.data ? subject.data : "") : NULL,
        .subject_len = subject.len,
        .body = body.data ? body.data : "",
        .body_len = body.len,
        .msg_id_local = m->id,
        .date_ms = util_now_ms(),
    };
    if (mime_build(&mm, &msg, why, sizeof(why)) < 0) {
        res->outcome = DLV_FAILED;
        snprintf(res->error, sizeof(res->error), "%s", why);
        goto out;
    }

    struct em_priv *p = mem_calloc(1, sizeof(*p));
    char addr[MIME_ADDR_LEN + 2];
    snprintf(addr, sizeof(addr), "<%s>", m->recipient);
    p->rcpt = curl_slist_append(NULL, addr);
    req->body_len = msg.len;
    req->body = buf_steal(&msg);
    p->data = req->body;
    p->len = req->body_len;
    req->priv = p;

    CURL *e = req->easy;
    snprintf(addr, sizeof(addr), "<%s>", s->from.addr);
    curl_easy_setopt(e, CURLOPT_URL, s->url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(e, CURLOPT_USE_SSL, s->use_ssl);
    if (s->pin)
        curl_easy_setopt(e, CURLOPT_RESOLVE, s->pin);
    curl_easy_setopt(e, CURLOPT_MAIL_FROM, addr); /* copied by libcurl */
    curl_easy_setopt(e, CURLOPT_MAIL_RCPT, p->rcpt);
    if (s->user) {
        curl_easy_setopt(e, CURLOPT_USERNAME, s->user);
        curl_easy_setopt(e, CURLOPT_PASSWORD, s->password);
    }
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, em_read);
    curl_easy_setopt(e, CURLOPT_READDATA, p);
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)req->body_len);
    /* the dialogue, for classify; with a debug function nothing is printed */
    curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, em_debug);
    curl_easy_setopt(e, CURLOPT_DEBUGDATA, p);
    curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
    rc = 0;
out:
    buf_free(&subject);
    buf_free(&body);
    buf_free(&html);
    buf_free(&msg);
    if (md)
        json_object_put(md);
    return rc;
}

/* em_stage_name: where in the dialogue the last reply came. */
static const char *em_stage_name(const struct em_priv *p) {
    if (!p || !p->stage[0])
        return "connect";
    if (strcmp(p->stage, "MAIL") == 0)
        return "MAIL FROM";
    if (strcmp(p->stage, "RCPT") == 0)
        return "RCPT TO";
    if (strcmp(p->stage, "DATA") == 0 && p->body_sent)
        return "end of data";
    return p->stage;
}

static void em_classify(void *state, const struct dlv_msg *m, const struct dlv_req *req,
                        const struct dlv_resp *resp, struct dlv_result *res) {
    struct em_state *s = state;
    (void)m;
    const struct em_priv *p = req->priv;
    long code = resp->status;
    if (code == 0 && p && isdigit((unsigned char)p->reply[0]))
        code = strtol(p->reply, NULL, 10);
    res->status_code = (int)code;
    if (resp->code == CURLE_OK) {
        res->outcome = DLV_SENT;
        return;
    }
    const char *stage = em_stage_name(p);
    const char *reply = p && p->reply[0] ? p->reply : "";
    res->outcome = DLV_RETRY;
    if (resp->code == CURLE_OPERATION_TIMEDOUT) {
        snprintf(res->error, sizeof(res->error), "SMTP timed out after %d ms (at %s)",
                 s->timeout_ms, stage);
        return;
    }
    if (code < 400 || code > 599) {
        /* no refusal from the server (the last reply, if any, was a success):
         * the transport failed, so curl's own error is the news */
        snprintf(res->error, sizeof(res->error), "SMTP at %s: %s", stage,
                 resp->curl_error[0] ? resp->curl_error : curl_easy_strerror(resp->code));
        return;
    }
    snprintf(res->error, sizeof(res->error), "SMTP %ld at %s: %s", code, stage, reply);
    bool at_mail = strcmp(stage, "MAIL FROM") == 0;
    if (resp->code == CURLE_LOGIN_DENIED || resp->code == CURLE_USE_SSL_FAILED || code == 530 ||
        code == 534 || code == 535 || code == 538 || (at_mail && code >= 500 && code != 552)) {
        /* Herald's own account or sender is refused: not the message's fault */
        res->auth_error = true;
        return;
    }
    if (code >= 500 && (strcmp(stage, "RCPT TO") == 0 || strcmp(stage, "DATA") == 0 ||
                        strcmp(stage, "end of data") == 0 || (at_mail && code == 552))) {
        res->outcome = DLV_FAILED;
        if (code >= 550 && code <= 553 && strcmp(stage, "RCPT TO") == 0)
            snprintf(res->error, sizeof(res->error), "SMTP %ld at RCPT TO: recipient refused: %s",
                     code, reply);
        return;
    }
    /* 4xx anywhere, and 5xx before the transaction (greeting, EHLO): retried */
}

static void em_release(void *state, struct dlv_req *req) {
    struct em_priv *p = req->priv;
    if (p)
        curl_slist_free_all(p->rcpt);
    prov_release_priv(state, req);
}

const struct dlv_ops dlv_email_ops = {
    .name = "email",
    .init = em_init,
    .prepare = em_prepare,
    .classify = em_classify,
    .release = em_release,
    .fini = em_fini,
};
