/* it_channels_email: what herald-worker --channel email puts on the SMTP wire and how it reads the
 * server's replies, against tests/receivers/smtp_server.py. */
#include "support/itchannels.h"

static int smtp_port;
static char smtp_url[64];

static void setup(void) {
    ct_setup();
    smtp_port = it_free_port();
    int control = it_free_port();
    char sp[16], cp[16];
    snprintf(sp, sizeof(sp), "%d", smtp_port);
    snprintf(cp, sizeof(cp), "%d", control);
    snprintf(smtp_url, sizeof(smtp_url), "HERALD_SMTP_URL=smtp://127.0.0.1:%d", smtp_port);
    const char *args[] = {sp, cp, NULL};
    ct_start_standin("smtp_server.py", control, args);
}

TestSuite(channels_email, .init = setup, .fini = wt_teardown, .timeout = 120);

static pid_t start_email_worker(const char *const more[]) {
    const char *env[16] = {smtp_url, "HERALD_SMTP_FROM=Herald Tests <herald@example.com>"};
    int n = 2;
    for (int i = 0; more && more[i] && n < 15; i++)
        env[n++] = more[i];
    env[n] = NULL;
    return ct_start_worker("email", env);
}

/* the single message the server accepted */
static struct json_object *only_message(struct json_object **all) {
    *all = wt_requests(NULL);
    cr_assert_eq(json_object_array_length(*all), 1, "messages: %zu",
                 json_object_array_length(*all));
    return json_object_array_get_idx(*all, 0);
}

/* scripted: the SMTP stand-in answers one reply at step ("rcpt", "data") for
 * recipient; one email to recipient and a worker. Returns the id. */
static char *scripted(const char *recipient, const char *step, const char *reply) {
    char control[256];
    snprintf(control, sizeof(control), "{\"recipient\": \"%s\", \"%s\": [\"%s\"]}", recipient, step,
             reply);
    wt_control(control);
    char *id = wt_enqueue_row("email", recipient, "Hi", "x", NULL);
    start_email_worker(NULL);
    return id;
}

Test(channels_email, exact_message_on_the_wire) {
    char *id = wt_enqueue_row(
        "email", "ada@example.org", "Grüße, {{name}}",
        "Hello {{name}},\n.hidden line\n"
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        "xxxxxxxxxxxxxxxxxxxx\nCafé = 5 €\n",
        "{\"name\":\"Ada\"}");
    time_t before = time(NULL);
    start_email_worker(NULL);
    cr_assert(wt_wait_status(id, "sent", 30000), "not sent");

    struct json_object *all, *msg = only_message(&all);
    cr_assert_str_eq(wt_str(msg, "mail_from"), "herald@example.com");
    struct json_object *rcpt = json_object_object_get(msg, "rcpt_to");
    cr_assert_eq(json_object_array_length(rcpt), 1);
    cr_assert_str_eq(json_object_get_string(json_object_array_get_idx(rcpt, 0)), "ada@example.org");

    /* the message as sent, with the Date line checked apart */
    const char *m = wt_str(msg, "message");
    const char *date = strstr(m, "\r\nDate: ");
    cr_assert(date, "no Date header");
    const char *date_end = strstr(date + 2, "\r\n");
    char datev[64];
    snprintf(datev, sizeof(datev), "%.*s", (int)(date_end - date - 8), date + 8);
    struct tm tm = {0};
    char *rest = strptime(datev, "%a, %d %b %Y %H:%M:%S +0000", &tm);
    cr_assert(rest && *rest == '\0', "Date \"%s\" is not RFC 5322 UTC", datev);
    /* written between the worker's start and now (whole seconds) */
    time_t when = timegm(&tm);
    cr_assert(when >= before - 1 && when <= time(NULL) + 1, "Date %s", datev);
    struct buf got = {0};
    buf_append(&got, m, (size_t)(date - m));
    buf_puts(&got, date_end);
    struct buf want = {0};
    buf_printf(&want,
               "From: Herald Tests <herald@example.com>\r\n"
               "To: ada@example.org\r\n"
               "Subject: =?UTF-8?B?R3LDvMOfZSwgQWRh?=\r\n"
               "Message-ID: <%s@example.com>\r\n"
               "MIME-Version: 1.0\r\n"
               "Content-Type: text/plain; charset=utf-8\r\n"
               "Content-Transfer-Encoding: quoted-printable\r\n"
               "\r\n"
               "Hello Ada,\r\n"
               ".hidden line\r\n"
               "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx=\r\n"
               "xxxxxxxxxxxxxxxxxxxxxxxxx\r\n"
               "Caf=C3=A9 =3D 5 =E2=82=AC\r\n",
               id);
    cr_assert_str_eq(got.data, want.data);

    /* on the wire: the line starting with "." was dot-stuffed by the client,
     * every line ends CRLF and none is long */
    const char *raw = wt_str(msg, "raw");
    cr_assert(strstr(raw, "\r\n..hidden line\r\n"), "not dot-stuffed");
    size_t line = 0;
    for (const char *p = raw; *p; p++) {
        if (*p == '\r') {
            cr_assert_eq(p[1], '\n', "bare CR");
            cr_assert_leq(line, 78);
            line = 0;
            p++;
        } else {
            cr_assert_neq(*p, '\n', "bare LF");
            cr_assert_lt((unsigned char)*p, 0x80, "8-bit byte on the wire");
            line++;
        }
    }
    wt_expect_outcomes(id, "success:250");
    cr_assert_eq(wt_attempts(id), 1);
    buf_free(&got);
    buf_free(&want);
    json_object_put(all);
    mem_free(id);
}

Test(channels_email, temporary_failure_at_rcpt_is_retried) {
    char *id = scripted("grey@example.org", "rcpt", "451 4.7.1 Greylisted, try again later");
    cr_assert(wt_wait_status(id, "sent", 30000), "not sent");
    wt_expect_outcomes(id, "retry:451,success:250");
    char *err = it_sql_value("SELECT error FROM notification_attempts WHERE notification_id = $1"
                             " AND attempt = 1",
                             id, NULL);
    cr_assert(err && strstr(err, "451") && strstr(err, "RCPT TO") && strstr(err, "Greylisted"),
              "error: %s", err);
    struct json_object *all;
    only_message(&all);
    json_object_put(all);
    mem_free(err);
    mem_free(id);
}

Test(channels_email, always_temporary_is_dead_lettered_after_max_attempts) {
    char *id = wt_enqueue_row("email", "tempfail@example.org", "Hi", "x", NULL);
    start_email_worker(NULL);
    wt_expect_end(id, "failed", 3);
    wt_expect_outcomes(id, "retry:451,retry:451,failed:451");
    mem_free(id);
}

Test(channels_email, rejected_recipient_fails_at_once) {
    char *id = wt_enqueue_row("email", "reject@example.org", "Hi", "x", NULL);
    start_email_worker(NULL);
    wt_expect_end(id, "failed", 1);
    wt_expect_error(id, "550");
    wt_expect_error(id, "recipient");
    wt_expect_outcomes(id, "failed:550");
    cr_assert(wt_dlq_has("email", id));
    cr_assert_eq(wt_count(NULL), 0);
    mem_free(id);
}

Test(channels_email, rejected_at_end_of_data_fails_at_once) {
    char *id = scripted("spamtrap@example.org", "data", "554 5.6.0 Message content rejected");
    cr_assert(wt_wait_status(id, "failed", 30000), "not failed");
    wt_expect_error(id, "554 at end of data");
    cr_assert_eq(wt_attempts(id), 1);
    mem_free(id);
}

static bool three_sessions(void *arg) {
    (void)arg;
    char *u = wt_url("/_sessions");
    struct it_resp r = it_http("GET", u, NULL, NULL, 0);
    mem_free(u);
    struct json_object *s = json_tokener_parse(r.body);
    it_resp_free(&r);
    int n = s ? (int)json_object_array_length(s) : 0;
    json_object_put(s);
    return n >= 3;
}

Test(channels_email, auth_failure_does_not_use_attempts) {
    wt_control("{\"auth\": \"535 5.7.8 Authentication credentials invalid\"}");
    char *id = wt_enqueue_row("email", "ada@example.org", "Hi", "x", NULL);
    const char *env[] = {"HERALD_SMTP_USER=herald", "HERALD_SMTP_PASSWORD=s3cr3t-pw-for-tests",
                         NULL};
    pid_t pid = start_email_worker(env);
    /* several refusals, none counted */
    cr_assert(it_eventually(three_sessions, NULL, 30000), "fewer than 3 SMTP sessions");
    char *status = wt_field(id, "status");
    cr_assert_str_eq(status, "pending");
    cr_assert_eq(wt_attempts(id), 0);
    wt_expect_error(id, "535");

    /* the password is right again: sent, one attempt used */
    wt_control("{\"auth\": null, \"users\": {\"herald\": \"s3cr3t-pw-for-tests\"}}");
    wt_expect_end(id, "sent", 1);
    struct json_object *all, *msg = only_message(&all);
    cr_assert_str_eq(wt_str(msg, "auth_user"), "herald");
    cr_assert_not(ct_log_has(pid, "s3cr3t-pw-for-tests"), "the password reached the log");
    json_object_put(all);
    mem_free(status);
    mem_free(id);
}

Test(channels_email, unreachable_server_is_retried) {
    char url[64];
    snprintf(url, sizeof(url), "HERALD_SMTP_URL=smtp://127.0.0.1:%d", it_free_port());
    char *id = wt_enqueue_row("email", "ada@example.org", "Hi", "x", NULL);
    const char *env[] = {url, NULL};
    ct_start_worker("email", env);
    wt_expect_end(id, "failed", 3);
    wt_expect_outcomes(id, "retry:0,retry:0,failed:0");
    mem_free(id);
}

Test(channels_email, bad_from_stops_start_up) {
    const char *env[] = {smtp_url, "HERALD_SMTP_FROM=not an address", NULL};
    ct_expect_config_error("email", env, "HERALD_SMTP_FROM");
}

/* html, reply_to and the tenant's email_from, parsed back by Python's email package */
Test(channels_email, html_reply_to_and_tenant_sender_parse_back) {
    char *id = wt_enqueue_row("email", "ada@example.org", "Hi {{name}}", "Hello {{name}}, café",
                              "{\"name\":\"A&B <x>\"}");
    it_sql_exec("UPDATE notifications SET html = '<p>Hello <b>{{name}}</b>, café</p>',"
                " reply_to = 'help@example.net' WHERE id = $1",
                id, NULL);
    it_sql_exec("UPDATE tenants SET email_from = 'Zoë Shop <shop@example.net>'", NULL);
    start_email_worker(NULL);
    cr_assert(wt_wait_status(id, "sent", 30000), "not sent");
    struct json_object *all, *msg = only_message(&all);
    /* the envelope sender stays HERALD_SMTP_FROM */
    cr_expect_str_eq(wt_str(msg, "mail_from"), "herald@example.com");
    char file[256];
    snprintf(file, sizeof(file), "%s/mail-%d.eml", getenv("HERALD_TEST_STACK_DIR"), (int)getpid());
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f);
    fputs(wt_str(msg, "message"), f);
    fclose(f);
    static const char py[] =
        "import sys, email, email.policy\n"
        "m = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=email.policy.SMTP)\n"
        "assert m.defects == [], m.defects\n"
        "assert m['From'].addresses[0].display_name == 'Zoë Shop', str(m['From'])\n"
        "assert m['From'].addresses[0].addr_spec == 'shop@example.net'\n"
        "assert str(m['Reply-To']) == 'help@example.net', str(m['Reply-To'])\n"
        "assert str(m['Subject']) == 'Hi A&B <x>', str(m['Subject'])\n"
        "assert m.get_content_type() == 'multipart/alternative', m.get_content_type()\n"
        "parts = list(m.iter_parts())\n"
        "assert [p.get_content_type() for p in parts] == ['text/plain', 'text/html']\n"
        "for p in parts:\n"
        "    assert p['Content-Transfer-Encoding'] in ('quoted-printable', 'base64')\n"
        "    assert p.get_content_charset() == 'utf-8'\n"
        "assert parts[0].get_content().rstrip() == 'Hello A&B <x>, café', parts[0].get_content()\n"
        "assert parts[1].get_content().rstrip() == "
        "'<p>Hello <b>A&amp;B &lt;x&gt;</b>, café</p>', parts[1].get_content()\n"
        "print('ok')\n";
    const char *argv[] = {"python3", "-c", py, file, NULL};
    int code;
    char *out = it_run_capture(argv, NULL, &code);
    cr_expect_eq(code, 0, "python's email package: %s", out);
    mem_free(out);
    json_object_put(all);
    mem_free(id);
}
