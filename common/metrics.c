/* metrics: families in a hash map, series per label set, rendered in
 * definition order; a tiny evhttp server for processes without an API. */
#include "common/metrics.h"
#include "common/buf.h"
#include "common/hmap.h"
#include "common/list.h"
#include "common/log.h"
#include "common/mem.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct metrics_series {
    struct metrics_family *fam;
    char *labels;
    double value;   /* counter/gauge value; histogram sum */
    uint64_t count; /* histogram observations */
    uint64_t *le;   /* histogram cumulative bucket counts */
    struct metrics_series *next;
};

struct metrics_family {
    char *name, *help;
    enum metrics_type type;
    double *buckets;
    size_t nbuckets;
    hmap *series;                        /* labels -> series */
    struct metrics_series *first, *last; /* in creation order */
    struct metrics_family *next;
};

struct metrics {
    hmap *families;
    struct metrics_family *first, *last;
    void (*on_render)(void *, metrics *);
    void *on_render_arg;
};

metrics *metrics_new(void) {
    metrics *m = mem_calloc(1, sizeof(*m));
    m->families = hmap_new();
    return m;
}

/* The maps own what they hold: families by name, each family's series by labels. */
static void metrics_series_free(void *val) {
    struct metrics_series *s = val;
    mem_free(s->labels);
    mem_free(s->le);
    mem_free(s);
}

static void metrics_family_free(void *val) {
    struct metrics_family *f = val;
    hmap_free_with(f->series, metrics_series_free);
    mem_free(f->name);
    mem_free(f->help);
    mem_free(f->buckets);
    mem_free(f);
}

void metrics_free(metrics *m) {
    if (m)
        hmap_free_with(m->families, metrics_family_free);
    mem_free(m);
}

void metrics_define(metrics *m, const char *name, enum metrics_type type, const char *help,
                    const double *buckets, size_t nbuckets) {
    if (hmap_get(m->families, name))
        return;
    struct metrics_family *f = mem_calloc(1, sizeof(*f));
    f->name = mem_strdup(name);
    f->help = mem_strdup(help);
    f->type = type;
    if (type == METRICS_HISTOGRAM && nbuckets) {
        f->buckets = mem_alloc(nbuckets * sizeof(double));
        memcpy(f->buckets, buckets, nbuckets * sizeof(double));
        f->nbuckets = nbuckets;
    }
    f->series = hmap_new();
    QUEUE_APPEND(m->first, m->last, f);
    hmap_put(m->families, name, f);
}

void metrics_define_all(metrics *m, const struct metrics_def *defs, size_t n) {
    for (size_t i = 0; i < n; i++)
        metrics_define(m, defs[i].name, defs[i].type, defs[i].help, defs[i].buckets,
                       defs[i].nbuckets);
}

static struct metrics_series *metrics_series_get(metrics *m, const char *name, const char *labels,
                                                 struct metrics_family **fam) {
    struct metrics_family *f = hmap_get(m->families, name);
    if (!f)
        return NULL;
    *fam = f;
    struct metrics_series *s = hmap_get(f->series, labels);
    if (s)
        return s;
    s = mem_calloc(1, sizeof(*s));
    s->fam = f;
    s->labels = mem_strdup(labels);
    if (f->type == METRICS_HISTOGRAM)
        s->le = mem_calloc(f->nbuckets ? f->nbuckets : 1, sizeof(uint64_t));
    QUEUE_APPEND(f->first, f->last, s);
    hmap_put(f->series, labels, s);
    return s;
}

metrics_series *metrics_series_of(metrics *m, const char *name, const char *labels) {
    struct metrics_family *f;
    return metrics_series_get(m, name, labels, &f);
}

void metrics_series_add(metrics_series *s, double v) {
    if (s)
        s->value += v;
}

void metrics_series_set(metrics_series *s, double v) {
    if (s)
        s->value = v;
}

void metrics_series_observe(metrics_series *s, double v) {
    if (!s || s->fam->type != METRICS_HISTOGRAM)
        return;
    s->value += v;
    s->count++;
    for (size_t i = 0; i < s->fam->nbuckets; i++)
        if (v <= s->fam->buckets[i])
            s->le[i]++;
}

void metrics_add(metrics *m, const char *name, const char *labels, double v) {
    metrics_series_add(metrics_series_of(m, name, labels), v);
}

void metrics_set(metrics *m, const char *name, const char *labels, double v) {
    metrics_series_set(metrics_series_of(m, name, labels), v);
}

void metrics_observe(metrics *m, const char *name, const char *labels, double v) {
    metrics_series_observe(metrics_series_of(m, name, labels), v);
}

void metrics_on_render(metrics *m, void (*fn)(void *arg, metrics *m), void *arg) {
    m->on_render = fn;
    m->on_render_arg = arg;
}

static void metrics_num(struct buf *out, double v) {
    if (isinf(v))
        buf_puts(out, v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        buf_printf(out, "%.0f", v);
    else
        buf_printf(out, "%.9g", v);
}

static void metrics_line(struct buf *out, const char *name, const char *suffix, const char *labels,
                         const char *extra, double v) {
    buf_printf(out, "%s%s", name, suffix);
    if (labels[0] || extra) {
        buf_putc(out, '{');
        buf_puts(out, labels);
        if (extra) {
            if (labels[0])
                buf_putc(out, ',');
            buf_puts(out, extra);
        }
        buf_putc(out, '}');
    }
    buf_putc(out, ' ');
    metrics_num(out, v);
    buf_putc(out, '\n');
}

void metrics_render(metrics *m, struct buf *out) {
    static const char *const types[] = {"counter", "gauge", "histogram"};
    if (m->on_render)
        m->on_render(m->on_render_arg, m);
    for (struct metrics_family *f = m->first; f; f = f->next) {
        buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, types[f->type]);
        for (struct metrics_series *s = f->first; s; s = s->next) {
            if (f->type != METRICS_HISTOGRAM) {
                metrics_line(out, f->name, "", s->labels, NULL, s->value);
                continue;
            }
            for (size_t i = 0; i < f->nbuckets; i++) {
                char le[48];
                snprintf(le, sizeof(le), "le=\"%g\"", f->buckets[i]);
                metrics_line(out, f->name, "_bucket", s->labels, le, (double)s->le[i]);
            }
            metrics_line(out, f->name, "_bucket", s->labels, "le=\"+Inf\"", (double)s->count);
            metrics_line(out, f->name, "_sum", s->labels, NULL, s->value);
            metrics_line(out, f->name, "_count", s->labels, NULL, (double)s->count);
        }
    }
}

struct metrics_srv {
    struct evhttp *http;
    metrics *m;
};

static void metrics_srv_cb(struct evhttp_request *req, void *arg) {
    struct metrics_srv *s = arg;
    const char *uri = evhttp_request_get_uri(req);
    struct evbuffer *eb = evbuffer_new();
    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
        evhttp_send_reply(req, 405, "Method Not Allowed", eb);
    } else if (strncmp(uri, "/metrics", 8) == 0 && (uri[8] == '\0' || uri[8] == '?')) {
        struct buf b = {0};
        metrics_render(s->m, &b);
        evbuffer_add(eb, b.data, b.len);
        buf_free(&b);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "text/plain; version=0.0.4; charset=utf-8");
        evhttp_send_reply(req, 200, "OK", eb);
    } else if (strcmp(uri, "/healthz") == 0) {
        evbuffer_add_printf(eb, "{\"status\":\"ok\"}");
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "application/json");
        evhttp_send_reply(req, 200, "OK", eb);
    } else {
        evhttp_send_reply(req, 404, "Not Found", eb);
    }
    evbuffer_free(eb);
}

struct metrics_srv *metrics_srv_start(struct event_base *base, const char *listen, metrics *m,
                                      char *err, size_t errlen) {
    char host[128];
    const char *colon = strrchr(listen, ':');
    size_t hl = colon ? (size_t)(colon - listen) : 0;
    if (!colon || hl >= sizeof(host)) {
        snprintf(err, errlen, "bad metrics address %s", listen);
        return NULL;
    }
    memcpy(host, listen, hl);
    host[hl] = '\0';
    struct metrics_srv *s = mem_calloc(1, sizeof(*s));
    s->m = m;
    s->http = evhttp_new(base);
    evhttp_set_gencb(s->http, metrics_srv_cb, s);
    evhttp_set_max_headers_size(s->http, 16 * 1024);
    evhttp_set_max_body_size(s->http, 1024);
    evhttp_set_timeout(s->http, 30);
    struct evhttp_bound_socket *bs =
        evhttp_bind_socket_with_handle(s->http, host, (uint16_t)atoi(colon + 1));
    if (!bs) {
        snprintf(err, errlen, "cannot listen on %s for metrics", listen);
        evhttp_free(s->http);
        mem_free(s);
        return NULL;
    }
    struct sockaddr_storage ss = {0};
    socklen_t sl = sizeof(ss);
    int port = 0;
    if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET)
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    HLOG(HLOG_INFO, "metrics.listening", NULL, "metrics on %s:%d", host, port);
    return s;
}

void metrics_srv_stop(struct metrics_srv *s) {
    if (!s)
        return;
    evhttp_free(s->http);
    mem_free(s);
}
