/* circuits: reading the shared circuit tables and writing them as JSON. */
#include "common/circuits.h"
#include "common/mem.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct circ_run {
    circ_cb cb;
    void *arg;
    int owed;
    struct circ_list l;
    char err[128];
    int cap;
};

struct circ_one {
    struct circ_run *run;
    enum notif_channel ch;
};

static int circ_cmp(const void *a, const void *b) {
    const struct circ_row *x = a, *y = b;
    if (x->ch != y->ch)
        return x->ch < y->ch ? -1 : 1;
    return strcmp(x->destination, y->destination);
}

static void circ_finish(struct circ_run *run) {
    if (run->l.n > 1)
        qsort(run->l.rows, (size_t)run->l.n, sizeof(struct circ_row), circ_cmp);
    run->cb(run->arg, &run->l);
    for (int i = 0; i < run->l.n; i++)
        mem_free(run->l.rows[i].destination);
    mem_free(run->l.rows);
    mem_free(run);
}

static void circ_reply(void *arg, redisReply *reply, const char *err) {
    struct circ_one *one = arg;
    struct circ_run *run = one->run;
    if (!reply || reply->type != REDIS_REPLY_ARRAY) {
        if (run->l.redis_ok) {
            snprintf(run->err, sizeof(run->err), "%s",
                     err                   ? err
                     : reply && reply->str ? reply->str
                                           : "unexpected reply");
            run->l.err = run->err;
        }
        run->l.redis_ok = false;
    } else {
        for (size_t i = 0; i + 1 < reply->elements; i += 2) {
            const redisReply *k = reply->element[i], *v = reply->element[i + 1];
            struct brk b;
            if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING ||
                brk_parse(v->str, &b) < 0)
                continue;
            if (run->l.n == run->cap) {
                run->cap = run->cap ? run->cap * 2 : 16;
                run->l.rows = mem_realloc(run->l.rows, (size_t)run->cap * sizeof(struct circ_row));
            }
            run->l.rows[run->l.n++] =
                (struct circ_row){.ch = one->ch, .destination = mem_strdup(k->str), .b = b};
        }
    }
    mem_free(one);
    if (--run->owed == 0)
        circ_finish(run);
}

void circ_read(rds *r, int ch, circ_cb cb, void *arg) {
    struct circ_run *run = mem_calloc(1, sizeof(*run));
    run->cb = cb;
    run->arg = arg;
    run->l.redis_ok = true;
    int first = ch < 0 ? 0 : ch, last = ch < 0 ? CH_COUNT - 1 : ch;
    run->owed = last - first + 1;
    for (int c = first; c <= last; c++) {
        struct circ_one *one = mem_calloc(1, sizeof(*one));
        one->run = run;
        one->ch = (enum notif_channel)c;
        char key[BRK_KEY_LEN];
        brk_key(one->ch, key);
        const char *argv[] = {"HGETALL", key};
        rds_command(r, circ_reply, one, 2, argv, NULL);
    }
}

void circ_json(struct buf *b, const struct circ_list *l, int64_t now_ms) {
    buf_puts(b, "{\"data\": [");
    for (int i = 0; i < l->n; i++) {
        const struct circ_row *row = &l->rows[i];
        char since[40];
        util_fmt_time_ms(row->b.since_ms, since);
        buf_puts(b, i ? ", {\"channel\": " : "{\"channel\": ");
        const char *ch = notif_channel_name(row->ch);
        buf_json_str(b, ch, strlen(ch));
        buf_puts(b, ", \"destination\": ");
        buf_json_str(b, row->destination, strlen(row->destination));
        buf_printf(b,
                   ", \"state\": \"%s\", \"failures\": %d, \"waiting\": %lld, \"since\": \"%s\"}",
                   brk_state_name(brk_state(&row->b, now_ms)), row->b.failures,
                   (long long)row->b.waiting, since);
    }
    buf_puts(b, "]}");
}
