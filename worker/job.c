/* job: the held entries of one engine, one list per state, and their claimed rows. */
#include "worker/job.h"
#include "common/db.h"
#include "common/log.h"
#include "common/mem.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const job_state_names[JS_STATE_COUNT] = {"claiming", "sending", "recording",
                                                            "waiting"};

void jobs_init(struct jobs *s) {
    memset(s, 0, sizeof(*s));
    s->by_id = hmap_new();
    s->by_entry = hmap_new();
}

void jobs_fini(struct jobs *s) {
    hmap_free(s->by_id);
    hmap_free(s->by_entry);
    s->by_id = s->by_entry = NULL;
}

static void job_link(struct job *j) {
    struct jobs *s = j->set;
    j->prev = NULL;
    j->next = s->head[j->state];
    if (j->next)
        j->next->prev = j;
    s->head[j->state] = j;
    s->n[j->state]++;
}

static void job_unlink(struct job *j) {
    struct jobs *s = j->set;
    if (j->prev)
        j->prev->next = j->next;
    else
        s->head[j->state] = j->next;
    if (j->next)
        j->next->prev = j->prev;
    j->prev = j->next = NULL;
    s->n[j->state]--;
}

struct job *job_new(struct jobs *s, void *owner, const char *entry_id, const char *nid) {
    char id[UTIL_UUID_LEN];
    snprintf(id, sizeof(id), "%s", nid);
    /* PostgreSQL prints uuids in lowercase; match its form */
    for (char *p = id; *p; p++)
        if (*p >= 'A' && *p <= 'F')
            *p = (char)(*p - 'A' + 'a');
    if (hmap_get(s->by_id, id) || hmap_get(s->by_entry, entry_id))
        return NULL;
    struct job *j = mem_calloc(1, sizeof(*j));
    j->set = s;
    j->owner = owner;
    j->state = JS_CLAIMING;
    snprintf(j->entry_id, sizeof(j->entry_id), "%s", entry_id);
    memcpy(j->id, id, sizeof(id));
    hmap_put(s->by_id, j->id, j);
    hmap_put(s->by_entry, j->entry_id, j);
    job_link(j);
    s->total++;
    return j;
}

struct job *job_find(struct jobs *s, const char *id) {
    return hmap_get(s->by_id, id);
}

bool job_holds_entry(struct jobs *s, const char *entry_id) {
    return hmap_get(s->by_entry, entry_id) != NULL;
}

void job_set_state(struct job *j, enum job_state st) {
    if ((unsigned)st >= JS_STATE_COUNT || j->state == st)
        return;
    HLOG(HLOG_DEBUG, "delivery.state", &(struct hlog_ctx){.notif_id = j->id}, "job %s -> %s",
         job_state_names[j->state], job_state_names[st]);
    job_unlink(j);
    j->state = st;
    job_link(j);
}

static char *job_dup_or_null(const PGresult *res, int row, int col) {
    return db_isnull(res, row, col) ? NULL : mem_strdup(db_get(res, row, col));
}

void job_take_row(struct job *j, const PGresult *res, int k, int64_t leased_mono) {
    j->recipient = mem_strdup(db_get(res, k, LC_RECIPIENT));
    j->subject = job_dup_or_null(res, k, LC_SUBJECT);
    j->body = mem_strdup(db_get(res, k, LC_BODY));
    j->metadata = job_dup_or_null(res, k, LC_METADATA);
    j->created_ms = strtoll(db_get(res, k, LC_CREATED_MS), NULL, 10);
    j->due_ms = strtoll(db_get(res, k, LC_DUE_MS), NULL, 10);
    snprintf(j->priority, sizeof(j->priority), "%s", db_get(res, k, LC_PRIORITY));
    j->attempts = atoi(db_get(res, k, LC_ATTEMPTS));
    j->budget_base = atoi(db_get(res, k, LC_BUDGET_BASE));
    j->tenant = mem_strdup(db_get(res, k, LC_TENANT));
    j->secret = mem_strdup(db_get(res, k, LC_SECRET));
    j->prev_secret = job_dup_or_null(res, k, LC_PREV_SECRET);
    j->html = job_dup_or_null(res, k, LC_HTML);
    j->reply_to = job_dup_or_null(res, k, LC_REPLY_TO);
    j->email_from = job_dup_or_null(res, k, LC_EMAIL_FROM);
    j->expires_ms =
        db_isnull(res, k, LC_EXPIRES_MS) ? 0 : strtoll(db_get(res, k, LC_EXPIRES_MS), NULL, 10);
    j->leased_mono = leased_mono;
    j->msg = (struct dlv_msg){
        .id = j->id,
        .tenant = j->tenant,
        .recipient = j->recipient,
        .subject = j->subject,
        .body = j->body,
        .metadata = j->metadata,
        .created_at_ms = j->created_ms,
        .attempt = j->attempts + 1,
        .secret = j->secret,
        .prev_secret = j->prev_secret,
        .html = j->html,
        .reply_to = j->reply_to,
        .email_from = j->email_from,
        .expires_at_ms = j->expires_ms,
        .event = strcmp(db_get(res, k, LC_KIND), "event") == 0,
    };
}

bool job_claimed(const struct job *j) {
    return j->recipient != NULL;
}

void job_free(struct job *j) {
    struct jobs *s = j->set;
    if (hmap_get(s->by_id, j->id) == j)
        hmap_del(s->by_id, j->id);
    if (hmap_get(s->by_entry, j->entry_id) == j)
        hmap_del(s->by_entry, j->entry_id);
    job_unlink(j);
    s->total--;
    xfer_capture_free(&j->cap);
    mem_free(j->recipient);
    mem_free(j->subject);
    mem_free(j->body);
    mem_free(j->metadata);
    mem_free(j->tenant);
    mem_free(j->secret);
    mem_free(j->prev_secret);
    mem_free(j->html);
    mem_free(j->reply_to);
    mem_free(j->email_from);
    if (j->wait_ev)
        event_free(j->wait_ev);
    mem_free(j);
}

struct hlog_ctx job_ctx(const struct job *j, const char *channel) {
    return (struct hlog_ctx){
        .notif_id = j->id, .tenant = j->tenant, .channel = channel, .attempt = j->attempts + 1};
}
