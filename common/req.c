/* req: cancellable PostgreSQL/Redis requests and the scopes that hold them. */
#include "common/req.h"
#include "common/list.h"
#include "common/mem.h"

#include <stddef.h>

void req_init(struct req *r, void (*cancel)(struct req *r)) {
    *r = (struct req){.cancel = cancel};
}

static void req_unlink(struct req *r) {
    struct req_scope *s = r->scope;
    if (!s)
        return;
    LIST_UNLINK(s->head, r);
    s->count--;
    r->scope = NULL;
    r->prev = r->next = NULL;
}

void req_finish(struct req *r) {
    req_unlink(r);
    r->drop = NULL; /* the callback has its argument now */
}

struct req *req_scope_add(struct req_scope *s, struct req *r) {
    if (!r)
        return NULL;
    req_unlink(r);
    r->scope = s;
    LIST_PUSH(s->head, r);
    s->count++;
    return r;
}

struct req *req_scope_add_arg(struct req_scope *s, struct req *r, void (*drop)(void *arg),
                              void *arg) {
    if (req_scope_add(s, r)) {
        r->drop = drop;
        r->drop_arg = arg;
    }
    return r;
}

static void req_mem_free(void *arg) {
    mem_free(arg);
}

struct req *req_scope_add_owning(struct req_scope *s, struct req *r, void *arg) {
    return req_scope_add_arg(s, r, req_mem_free, arg);
}

void req_cancel(struct req *r) {
    if (!r)
        return;
    void (*drop)(void *) = r->drop;
    void *arg = r->drop_arg;
    req_unlink(r);
    r->drop = NULL;
    r->cancel(r); /* may free r */
    if (drop)
        drop(arg);
}

void req_scope_cancel(struct req_scope *s) {
    while (s->head)
        req_cancel(s->head);
}

bool req_scope_idle(const struct req_scope *s) {
    return s->count == 0;
}
