/* it_channels_push: what herald-worker --channel push sends to FCM HTTP v1 and how it reads the
 * answers, and the service-account token exchange, against tests/receivers/fcm_provider.py. */
#include "support/itchannels.h"
#include "common/crypto.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#define SEND_PATH "/v1/projects/herald-test/messages:send"
#define SA_EMAIL "herald-test@herald-test.iam.gserviceaccount.com"

static char base_url[80];
static char token_uri[80];
static char sa_path[512];
static char sa_env[600];
static EVP_PKEY *pair; /* the service account's key; the public half checks the JWTs */
static time_t started; /* before any worker of the test ran */

/* write_service_account: a fresh RSA key pair and its service-account JSON file. */
static void write_service_account(void) {
    pair = EVP_RSA_gen(2048);
    cr_assert(pair);
    BIO *bio = BIO_new(BIO_s_mem());
    cr_assert(PEM_write_bio_PrivateKey(bio, pair, NULL, NULL, 0, NULL, NULL) == 1);
    char *pem;
    long n = BIO_get_mem_data(bio, &pem);
    struct json_object *sa = json_object_new_object();
    json_object_object_add(sa, "type", json_object_new_string("service_account"));
    json_object_object_add(sa, "project_id", json_object_new_string("herald-test"));
    json_object_object_add(sa, "private_key_id", json_object_new_string("0123456789abcdef"));
    json_object_object_add(sa, "private_key", json_object_new_string_len(pem, (int)n));
    json_object_object_add(sa, "client_email", json_object_new_string(SA_EMAIL));
    json_object_object_add(sa, "token_uri", json_object_new_string(token_uri));
    const char *dir = getenv("HERALD_TEST_STACK_DIR");
    snprintf(sa_path, sizeof(sa_path), "%s/sa-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(sa_path);
    cr_assert_geq(fd, 0);
    const char *text = json_object_to_json_string_ext(sa, JSON_C_TO_STRING_PLAIN);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    snprintf(sa_env, sizeof(sa_env), "HERALD_FCM_CREDENTIALS_FILE=%s", sa_path);
    json_object_put(sa);
    BIO_free(bio);
}

static void setup(void) {
    started = time(NULL);
    ct_setup();
    int port = it_free_port();
    char p[16];
    snprintf(p, sizeof(p), "%d", port);
    snprintf(base_url, sizeof(base_url), "HERALD_FCM_BASE_URL=http://127.0.0.1:%d", port);
    snprintf(token_uri, sizeof(token_uri), "http://127.0.0.1:%d/token", port);
    const char *args[] = {p, NULL};
    ct_start_standin("fcm_provider.py", port, args);
    write_service_account();
}

static void teardown(void) {
    wt_teardown();
    if (sa_path[0])
        unlink(sa_path);
    EVP_PKEY_free(pair);
    pair = NULL;
}

TestSuite(channels_push, .init = setup, .fini = teardown, .timeout = 120);

/* start_push_worker: with the service account, or with fixed_token when not NULL. */
static pid_t start_push_worker(const char *fixed_token) {
    char tok[128];
    snprintf(tok, sizeof(tok), "HERALD_FCM_ACCESS_TOKEN=%s", fixed_token ? fixed_token : "");
    const char *env[] = {base_url, "HERALD_FCM_PROJECT_ID=herald-test", fixed_token ? tok : sa_env,
                         NULL};
    return ct_start_worker("push", env);
}

static const char *header_of(struct json_object *req, const char *name) {
    struct json_object *h;
    cr_assert(json_object_object_get_ex(req, "headers", &h));
    return wt_str(h, name);
}

/* b64url_part: part i of a compact JWT, decoded; caller frees with mem_free. */
/* expect_two_sends_with_new_token: two sends, the second with another access token. */
static void expect_two_sends_with_new_token(void) {
    struct json_object *sends = wt_requests(SEND_PATH);
    cr_assert_eq(json_object_array_length(sends), 2);
    cr_assert_str_neq(header_of(json_object_array_get_idx(sends, 0), "authorization"),
                      header_of(json_object_array_get_idx(sends, 1), "authorization"));
    json_object_put(sends);
}

static char *b64url_part(const char *jwt, int i, size_t *len) {
    const char *s = jwt;
    for (int k = 0; k < i; k++) {
        s = strchr(s, '.');
        cr_assert(s);
        s++;
    }
    const char *e = strchr(s, '.');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    cr_assert_eq(strcspn(s, "=+/"), strlen(s), "not unpadded base64url");
    char *out = mem_alloc(n + 1);
    long k = crypto_b64_decode(s, n, (uint8_t *)out, n + 1);
    cr_assert_geq(k, 0);
    out[k] = '\0';
    *len = (size_t)k;
    return out;
}

/* check_assertion: the JWT grant a token request carried, checked fully. */
static void check_assertion(struct json_object *treq) {
    struct json_object *form;
    cr_assert(json_object_object_get_ex(treq, "form", &form));
    cr_assert_str_eq(wt_str(form, "grant_type"), "urn:ietf:params:oauth:grant-type:jwt-bearer");
    const char *jwt = wt_str(form, "assertion");
    cr_assert(jwt);
    size_t n;
    char *h = b64url_part(jwt, 0, &n);
    struct json_object *ho = json_tokener_parse(h);
    cr_assert(ho && json_object_object_length(ho) == 2, "header %s", h);
    cr_assert_str_eq(wt_str(ho, "alg"), "RS256");
    cr_assert_str_eq(wt_str(ho, "typ"), "JWT");
    char *c = b64url_part(jwt, 1, &n);
    struct json_object *co = json_tokener_parse(c);
    cr_assert(co, "claims %s", c);
    cr_assert_str_eq(wt_str(co, "iss"), SA_EMAIL);
    cr_assert_str_eq(wt_str(co, "scope"), "https://www.googleapis.com/auth/firebase.messaging");
    cr_assert_str_eq(wt_str(co, "aud"), token_uri);
    int64_t iat = json_object_get_int64(json_object_object_get(co, "iat"));
    int64_t exp = json_object_get_int64(json_object_object_get(co, "exp"));
    cr_assert(iat >= (int64_t)started - 1 && iat <= (int64_t)time(NULL) + 1, "iat %lld",
              (long long)iat);
    cr_assert_eq(exp - iat, 3600);
    /* RS256 over "header.claims" with the service account's public key */
    size_t slen;
    char *sig = b64url_part(jwt, 2, &slen);
    const char *dot = strrchr(jwt, '.');
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    cr_assert(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pair) == 1);
    cr_assert(EVP_DigestVerify(md, (const unsigned char *)sig, slen, (const unsigned char *)jwt,
                               (size_t)(dot - jwt)) == 1,
              "the JWT's signature does not verify");
    EVP_MD_CTX_free(md);
    json_object_put(ho);
    json_object_put(co);
    mem_free(h);
    mem_free(c);
    mem_free(sig);
}

/* scripted: the stand-in told control (its JSON); one push to device and a worker
 * that fetches its own tokens. Returns the id. */
static char *scripted(const char *control, const char *device) {
    wt_control(control);
    char *id = wt_enqueue_row("push", device, NULL, "x", NULL);
    start_push_worker(NULL);
    return id;
}

Test(channels_push, payload_and_fixed_bearer_token) {
    char *id =
        wt_enqueue_row("push", "dev-abc:APA91b", "Hi {{name}}", "Order {{order}} shipped",
                       "{\"name\":\"Ada\",\"order\":42,\"vip\":true,\"extra\":{\"a\":[1,2]}}");
    start_push_worker("test-access-token");
    cr_assert(wt_wait_status(id, "sent", 30000), "not sent");
    struct json_object *reqs = wt_requests(SEND_PATH);
    cr_assert_eq(json_object_array_length(reqs), 1);
    struct json_object *req = json_object_array_get_idx(reqs, 0);
    cr_assert_str_eq(header_of(req, "authorization"), "Bearer test-access-token");
    cr_assert(strncmp(header_of(req, "content-type"), "application/json", 16) == 0);
    cr_assert_str_eq(wt_str(req, "body"),
                     "{\"message\":{\"token\":\"dev-abc:APA91b\",\"notification\":{\"title\":\"Hi "
                     "Ada\",\"body\":\"Order 42 shipped\"},\"data\":{\"name\":\"Ada\",\"order\":"
                     "\"42\",\"vip\":\"true\",\"extra\":\"{\\\"a\\\":[1,2]}\"}}}");
    char *ref = wt_field(id, "provider_ref");
    cr_assert(ref && strncmp(ref, "projects/herald-test/messages/", 30) == 0, "ref %s", ref);
    wt_expect_outcomes(id, "success:200");
    cr_assert_eq(wt_count("/token"), 0);
    mem_free(ref);
    json_object_put(reqs);
    mem_free(id);
}

Test(channels_push, no_subject_means_no_title) {
    char *id = wt_enqueue_row("push", "dev-2", NULL, "just a body", NULL);
    start_push_worker("test-access-token");
    cr_assert(wt_wait_status(id, "sent", 30000), "not sent");
    struct json_object *reqs = wt_requests(SEND_PATH);
    cr_assert_str_eq(wt_str(json_object_array_get_idx(reqs, 0), "body"),
                     "{\"message\":{\"token\":\"dev-2\",\"notification\":{\"body\":\"just a "
                     "body\"}}}");
    json_object_put(reqs);
    mem_free(id);
}

static bool three_sent(void *arg) {
    char **ids = arg;
    for (int i = 0; i < 3; i++) {
        char *s = wt_field(ids[i], "status");
        bool ok = s && strcmp(s, "sent") == 0;
        mem_free(s);
        if (!ok)
            return false;
    }
    return true;
}

Test(channels_push, service_account_token_exchange_is_signed_and_reused) {
    char *ids[3];
    for (int i = 0; i < 3; i++)
        ids[i] = wt_enqueue_row("push", i == 1 ? "dev-b" : "dev-a", NULL, "x", NULL);
    pid_t pid = start_push_worker(NULL);
    cr_assert(it_eventually(three_sent, ids, 30000), "not all sent");
    /* one exchange for every push */
    struct json_object *treqs = wt_requests("/token");
    cr_assert_eq(json_object_array_length(treqs), 1);
    check_assertion(json_object_array_get_idx(treqs, 0));
    struct json_object *sends = wt_requests(SEND_PATH);
    cr_assert_eq(json_object_array_length(sends), 3);
    const char *first = header_of(json_object_array_get_idx(sends, 0), "authorization");
    cr_assert(strncmp(first, "Bearer ya29.", 12) == 0, "%s", first);
    for (size_t i = 1; i < 3; i++)
        cr_assert_str_eq(header_of(json_object_array_get_idx(sends, i), "authorization"), first);
    /* a fourth, later, still uses it */
    char *late = wt_enqueue_row("push", "dev-c", NULL, "x", NULL);
    cr_assert(wt_wait_status(late, "sent", 30000));
    cr_assert_eq(wt_count("/token"), 1);
    cr_assert_not(ct_log_has(pid, first + 7), "the access token reached the log");
    cr_assert_not(ct_log_has(pid, "PRIVATE KEY"), "the key reached the log");
    for (int i = 0; i < 3; i++)
        mem_free(ids[i]);
    mem_free(late);
    json_object_put(sends);
    json_object_put(treqs);
}

Test(channels_push, token_is_refreshed_before_it_expires) {
    /* 2 s tokens: used for about 1.5 s, then a new one */
    wt_control("{\"expires_in\": 2}");
    start_push_worker(NULL);
    char *a = wt_enqueue_row("push", "dev-a", NULL, "x", NULL);
    cr_assert(wt_wait_status(a, "sent", 30000));
    usleep(2500 * 1000);
    char *b = wt_enqueue_row("push", "dev-b", NULL, "x", NULL);
    cr_assert(wt_wait_status(b, "sent", 30000));
    struct json_object *treqs = wt_requests("/token");
    cr_assert_geq(json_object_array_length(treqs), 2);
    check_assertion(json_object_array_get_idx(treqs, 1));
    expect_two_sends_with_new_token();
    json_object_put(treqs);
    mem_free(a);
    mem_free(b);
}

Test(channels_push, unauthorized_refreshes_the_token_once_and_sends) {
    char *id = scripted("{\"device\": \"dev-401\", \"responses\": [401]}", "dev-401");
    cr_assert(wt_wait_status(id, "sent", 30000), "not sent");
    cr_assert_eq(wt_count("/token"), 2);
    expect_two_sends_with_new_token();
    /* the 401 did not use an attempt */
    cr_assert_eq(wt_attempts(id), 1);
    wt_expect_outcomes(id, "success:200");
    mem_free(id);
}

Test(channels_push, revoked_tokens_are_replaced) {
    start_push_worker(NULL);
    char *a = wt_enqueue_row("push", "dev-a", NULL, "x", NULL);
    cr_assert(wt_wait_status(a, "sent", 30000));
    wt_control("{\"revoke\": true}");
    char *b = wt_enqueue_row("push", "dev-b", NULL, "x", NULL);
    cr_assert(wt_wait_status(b, "sent", 30000));
    cr_assert_eq(wt_count("/token"), 2);
    cr_assert_eq(wt_attempts(b), 1);
    mem_free(a);
    mem_free(b);
}

Test(channels_push, token_endpoint_failure_does_not_use_attempts) {
    char *id = scripted("{\"token_responses\": [400]}", "dev-a");
    cr_assert(wt_wait_status(id, "sent", 30000), "not sent");
    cr_assert_eq(wt_count("/token"), 2);
    cr_assert_eq(wt_attempts(id), 1);
    cr_assert_eq(wt_count(SEND_PATH), 1);
    mem_free(id);
}

Test(channels_push, unregistered_and_invalid_fail_at_once) {
    wt_control("{\"device\": \"dev-other-sender\", \"responses\": [403]}");
    char *gone = wt_enqueue_row("push", "dev-unregistered-1", NULL, "x", NULL);
    char *bad = wt_enqueue_row("push", "dev-invalid-1", NULL, "x", NULL);
    char *other = wt_enqueue_row("push", "dev-other-sender", NULL, "x", NULL);
    start_push_worker("test-access-token");
    cr_assert(wt_wait_status(gone, "failed", 30000));
    cr_assert(wt_wait_status(bad, "failed", 30000));
    cr_assert(wt_wait_status(other, "failed", 30000));
    char *err = wt_field(gone, "last_error");
    cr_assert_str_eq(err, "HTTP 404 UNREGISTERED: Requested entity was not found.");
    mem_free(err);
    wt_expect_error(bad, "HTTP 400 INVALID_ARGUMENT");
    wt_expect_error(other, "HTTP 403 SENDER_ID_MISMATCH");
    cr_assert_eq(wt_int("SELECT sum(attempts) FROM notifications", NULL), 3);
    cr_assert(wt_dlq_has("push", gone));
    mem_free(gone);
    mem_free(bad);
    mem_free(other);
}

Test(channels_push, server_errors_are_retried_with_retry_after) {
    wt_control("{\"device\": \"dev-flaky\", \"responses\": [500, {\"status\": 503,"
               " \"retry_after\": 2}]}");
    char *id = wt_enqueue_row("push", "dev-flaky", NULL, "x", NULL);
    start_push_worker("test-access-token");
    cr_assert(wt_wait_status(id, "sent", 30000), "not sent");
    wt_expect_outcomes(id, "retry:500,retry:503,success:200");
    struct json_object *sends = wt_requests(SEND_PATH);
    double t1 = wt_time_of(sends, 1);
    double t2 = wt_time_of(sends, 2);
    cr_assert_geq(t2 - t1, 1.95, "only %.3f s apart", t2 - t1);
    json_object_put(sends);
    mem_free(id);
}

Test(channels_push, bad_configuration_stops_start_up) {
    const char *no_project[] = {base_url, sa_env, NULL};
    ct_expect_config_error("push", no_project, "HERALD_FCM_PROJECT_ID");
    const char *no_creds[] = {base_url, "HERALD_FCM_PROJECT_ID=herald-test", NULL};
    ct_expect_config_error("push", no_creds, "HERALD_FCM_CREDENTIALS_FILE");
    const char *missing[] = {base_url, "HERALD_FCM_PROJECT_ID=herald-test",
                             "HERALD_FCM_CREDENTIALS_FILE=/nonexistent/sa.json", NULL};
    ct_expect_config_error("push", missing, "HERALD_FCM_CREDENTIALS_FILE");
    /* a file that is not a service account */
    FILE *f = fopen(sa_path, "w");
    fputs("{\"client_email\": \"x@y\", \"private_key\": \"not a key\"}", f);
    fclose(f);
    const char *garbage[] = {base_url, "HERALD_FCM_PROJECT_ID=herald-test", sa_env, NULL};
    ct_expect_config_error("push", garbage, "HERALD_FCM_CREDENTIALS_FILE");
}

Test(channels_push, deadline_passed_as_ttl_and_apns_expiration) {
    char *id = wt_enqueue_row("push", "dev-ttl", "T", "B", NULL);
    it_sql_exec("UPDATE notifications SET expires_at = now() + interval '300 seconds'"
                " WHERE id = $1",
                id, NULL);
    char *exp = it_sql_value("SELECT floor(extract(epoch FROM expires_at))::bigint::text"
                             " FROM notifications WHERE id = $1",
                             id, NULL);
    start_push_worker("test-access-token");
    cr_assert(wt_wait_status(id, "sent", 30000), "not sent");
    struct json_object *reqs = wt_requests(SEND_PATH);
    cr_assert_eq(json_object_array_length(reqs), 1);
    struct json_object *msg =
        json_tokener_parse(wt_str(json_object_array_get_idx(reqs, 0), "body"));
    struct json_object *m, *android, *apns, *headers;
    cr_assert(json_object_object_get_ex(msg, "message", &m));
    cr_assert(json_object_object_get_ex(m, "android", &android));
    const char *ttl = wt_str(android, "ttl");
    cr_assert_not_null(ttl);
    long secs = strtol(ttl, NULL, 10);
    cr_expect(secs > 280 && secs <= 300 && ttl[strlen(ttl) - 1] == 's', "ttl %s", ttl);
    cr_assert(json_object_object_get_ex(m, "apns", &apns));
    cr_assert(json_object_object_get_ex(apns, "headers", &headers));
    cr_expect_str_eq(wt_str(headers, "apns-expiration"), exp);
    json_object_put(msg);
    json_object_put(reqs);
    mem_free(exp);
    mem_free(id);
}
