/* notif: the notification model shared by the API, the workers and heraldctl. */
#ifndef HERALD_COMMON_NOTIF_H
#define HERALD_COMMON_NOTIF_H

#include <stdbool.h>
#include <stdint.h>

enum notif_channel { CH_EMAIL = 0, CH_SMS, CH_PUSH, CH_WEBHOOK, CH_COUNT };

/* notif_channel_name: "email", "sms", "push", "webhook". */
const char *notif_channel_name(enum notif_channel ch);
/* notif_channel_parse: -1 if s is not a channel name. */
int notif_channel_parse(const char *s);

/* A validated notification request. Every pointer is owned; free with notif_input_free(). */
struct notif_input {
    enum notif_channel channel;
    char *recipient;
    char *subject;       /* template source; NULL when absent */
    char *body;          /* template source */
    char *metadata_json; /* compact JSON object text; NULL when absent */
    int64_t send_at_ms;  /* ms since epoch; 0 when absent or not in the future */
};

void notif_input_free(struct notif_input *in);

#endif
