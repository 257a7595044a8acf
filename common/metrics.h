/* metrics: a small Prometheus registry (counters, gauges, histograms with
 * label sets) and its text exposition. */
#ifndef HERALD_COMMON_METRICS_H
#define HERALD_COMMON_METRICS_H

#include <stddef.h>

struct buf;
struct event_base;
typedef struct metrics metrics;

enum metrics_type { METRICS_COUNTER = 0, METRICS_GAUGE, METRICS_HISTOGRAM };

/* metrics_new: caller frees with metrics_free(). */
metrics *metrics_new(void);
void metrics_free(metrics *m);

/* metrics_define: registers a family once (name and help are copied);
 * buckets are ascending upper bounds (seconds), histograms only. */
void metrics_define(metrics *m, const char *name, enum metrics_type type, const char *help,
                    const double *buckets, size_t nbuckets);

/* A family as metrics_define takes it, for a process's table of them. */
struct metrics_def {
    const char *name;
    enum metrics_type type;
    const char *help;
    const double *buckets; /* histograms only; NULL otherwise */
    size_t nbuckets;
};

/* metrics_define_all: metrics_define for each of the n defs (borrowed), in
 * order. */
void metrics_define_all(metrics *m, const struct metrics_def *defs, size_t n);

/* labels: "" or a Prometheus label list without braces, e.g.
 * route="notifications.create",status="201" (values already escaped).
 * An undefined name is ignored. */
void metrics_add(metrics *m, const char *name, const char *labels, double v);
void metrics_set(metrics *m, const char *name, const char *labels, double v);
void metrics_observe(metrics *m, const char *name, const char *labels, double v);

/* Handles: a series resolved once (family and label set) and then updated
 * with no lookup and no formatting, for counters bumped on every request. */
typedef struct metrics_series metrics_series;

/* metrics_series_of: the series name{labels}, created if new; borrowed for
 * m's lifetime. NULL when name is not defined (the updates below take NULL
 * and do nothing). */
metrics_series *metrics_series_of(metrics *m, const char *name, const char *labels);
void metrics_series_add(metrics_series *s, double v);
void metrics_series_set(metrics_series *s, double v);
/* metrics_series_observe: histograms only. */
void metrics_series_observe(metrics_series *s, double v);

/* metrics_on_render: fn runs before each render, to refresh gauges. */
void metrics_on_render(metrics *m, void (*fn)(void *arg, metrics *m), void *arg);

/* metrics_render: appends the text exposition format (version 0.0.4). */
void metrics_render(metrics *m, struct buf *out);

/* metrics_srv_start: serves GET /metrics and GET /healthz on listen
 * ("host:port"; port 0 picks one and logs it). Returns NULL with err filled
 * on failure. Caller stops it with metrics_srv_stop(). */
struct metrics_srv;
struct metrics_srv *metrics_srv_start(struct event_base *base, const char *listen, metrics *m,
                                      char *err, size_t errlen);
void metrics_srv_stop(struct metrics_srv *s);

#endif
