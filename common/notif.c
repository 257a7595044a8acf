/* notif: channel names and the request model's lifetime. */
#include "common/notif.h"
#include "common/mem.h"

#include <string.h>

static const char *const notif_channels[CH_COUNT] = {"email", "sms", "push", "webhook"};

const char *notif_channel_name(enum notif_channel ch) {
    return (unsigned)ch < CH_COUNT ? notif_channels[ch] : "unknown";
}

int notif_channel_parse(const char *s) {
    for (int i = 0; i < CH_COUNT; i++)
        if (strcmp(s, notif_channels[i]) == 0)
            return i;
    return -1;
}

void notif_input_free(struct notif_input *in) {
    mem_free(in->recipient);
    mem_free(in->subject);
    mem_free(in->body);
    mem_free(in->metadata_json);
    memset(in, 0, sizeof(*in));
}
