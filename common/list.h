/* list: the operations of the tree's intrusive linked lists, written once.
 * A doubly linked element has prev and next pointers (LIST_*_AS names other
 * fields, for an element on two lists); a list is its head pointer, and its
 * tail pointer where it has one. Each argument is evaluated more than once:
 * pass plain lvalues. */
#ifndef HERALD_COMMON_LIST_H
#define HERALD_COMMON_LIST_H

#include <stddef.h>

/* LIST_PUSH_AS: e becomes the first element of the list at head (no tail),
 * its links named prev and next. */
#define LIST_PUSH_AS(head, e, prev, next)                                                          \
    do {                                                                                           \
        (e)->prev = NULL;                                                                          \
        (e)->next = (head);                                                                        \
        if (head)                                                                                  \
            (head)->prev = (e);                                                                    \
        (head) = (e);                                                                              \
    } while (0)

#define LIST_PUSH(head, e) LIST_PUSH_AS(head, e, prev, next)

/* LIST_UNLINK_AS: takes e out of the list at head (no tail), its links named
 * prev and next; e's own links are left as they were. */
#define LIST_UNLINK_AS(head, e, prev, next)                                                        \
    do {                                                                                           \
        if ((e)->prev)                                                                             \
            (e)->prev->next = (e)->next;                                                           \
        else                                                                                       \
            (head) = (e)->next;                                                                    \
        if ((e)->next)                                                                             \
            (e)->next->prev = (e)->prev;                                                           \
    } while (0)

#define LIST_UNLINK(head, e) LIST_UNLINK_AS(head, e, prev, next)

/* QUEUE_APPEND: e (its next) ends the singly linked list at head and tail. */
#define QUEUE_APPEND(head, tail, e)                                                                \
    do {                                                                                           \
        (e)->next = NULL;                                                                          \
        if (tail)                                                                                  \
            (tail)->next = (e);                                                                    \
        else                                                                                       \
            (head) = (e);                                                                          \
        (tail) = (e);                                                                              \
    } while (0)

/* DLIST_APPEND, DLIST_REMOVE: a doubly linked list with a tail; REMOVE
 * clears e's links. */
#define DLIST_APPEND(head, tail, e)                                                                \
    do {                                                                                           \
        (e)->prev = (tail);                                                                        \
        QUEUE_APPEND(head, tail, e);                                                               \
    } while (0)

#define DLIST_REMOVE(head, tail, e)                                                                \
    do {                                                                                           \
        if (!(e)->next)                                                                            \
            (tail) = (e)->prev;                                                                    \
        LIST_UNLINK(head, e);                                                                      \
        (e)->prev = (e)->next = NULL;                                                              \
    } while (0)

#endif
