/* fcm_token: the access-token cache and its background refresh through the engine's transfers. */
#include "worker/fcm_token.h"
#include "common/buf.h"
#include "common/json.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/util.h"
#include "worker/dlv.h"
#include "worker/jwt.h"
#include "worker/provider.h"
#include "worker/xfer.h"

#include <errno.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#define FCM_FILE_MAX (64 * 1024)     /* a service-account file is about 2.4 KB */
#define FCM_RESP_MAX (64 * 1024)     /* token endpoint answer bytes kept */
#define FCM_MARGIN_MAX_MS 60000      /* a token is used until this long before it expires */
#define FCM_REJECT_COOLDOWN_MS 60000 /* a token fetched after a 401 is not dropped for another */
#define FCM_BACKOFF_MIN_MS 1000      /* after a failed refresh, the next waits this long, */
#define FCM_BACKOFF_MAX_MS 60000     /* doubling up to this */

struct fcm_tok {
    char *fixed; /* HERALD_FCM_ACCESS_TOKEN; NULL with a service account */
    /* the service account */
    EVP_PKEY *key;
    char *email, *token_uri;
    char host[DLV_HOST_LEN];
    int timeout_ms;
    /* the cached token; times on util_mono_ms */
    char *token; /* NULL: none usable */
    uint64_t gen;
    int64_t got_at, fresh_until, usable_until;
    bool after_reject; /* fetched because a 401 dropped its predecessor */
    /* the refresh */
    struct dlv_env env;
    bool attached;
    CURL *easy; /* non-NULL while a refresh runs */
    struct curl_slist *headers;
    char *body;
    struct buf resp;
    char errbuf[CURL_ERROR_SIZE];
    bool for_reject;
    /* the last failure */
    bool failed;
    char fail[160];
    int64_t retry_at;
    int backoff_ms;
};

fcm_tok *fcm_tok_fixed(const char *token) {
    fcm_tok *t = mem_calloc(1, sizeof(*t));
    t->fixed = mem_strdup(token);
    return t;
}

/* fcm_read_file: the whole file, NUL-terminated (mem_free), or NULL with err. */
static char *fcm_read_file(const char *path, size_t *len, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    char *data = mem_alloc(FCM_FILE_MAX + 1);
    size_t n = fread(data, 1, FCM_FILE_MAX + 1, f);
    bool bad = ferror(f);
    fclose(f);
    if (bad || n > FCM_FILE_MAX) {
        snprintf(err, errlen, "%s: %s", path, bad ? "read error" : "larger than 64 KiB");
        mem_free(data);
        return NULL;
    }
    data[n] = '\0';
    *len = n;
    return data;
}

static const char *fcm_json_str(struct json_object *o, const char *key) {
    struct json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

fcm_tok *fcm_tok_from_file(const char *path, int timeout_ms, char *err, size_t errlen) {
    size_t len = 0;
    char *text = fcm_read_file(path, &len, err, errlen);
    if (!text)
        return NULL;
    fcm_tok *t = NULL;
    char why[128];
    struct json_object *doc = hjson_parse(text, len, why, sizeof(why));
    if (!doc) {
        snprintf(err, errlen, "%s is not a JSON object (%s)", path, why);
        goto out;
    }
    const char *type = fcm_json_str(doc, "type");
    const char *email = fcm_json_str(doc, "client_email");
    const char *key = fcm_json_str(doc, "private_key");
    const char *uri = fcm_json_str(doc, "token_uri");
    if (type && strcmp(type, "service_account") != 0) {
        snprintf(err, errlen, "%s: \"type\" is not \"service_account\"", path);
        goto out;
    }
    if (!email || !*email || !key) {
        snprintf(err, errlen, "%s: needs \"client_email\" and \"private_key\"", path);
        goto out;
    }
    t = mem_calloc(1, sizeof(*t));
    t->token_uri = mem_strdup(uri ? uri : FCM_DEFAULT_TOKEN_URI);
    if ((strncmp(t->token_uri, "https://", 8) != 0 && strncmp(t->token_uri, "http://", 7) != 0) ||
        prov_host_key(t->token_uri, t->host, sizeof(t->host)) < 0) {
        snprintf(err, errlen, "%s: \"token_uri\" is not an http(s) URL", path);
        goto fail;
    }
    t->key = jwt_load_key(key, strlen(key), why, sizeof(why));
    if (!t->key) {
        snprintf(err, errlen, "%s: %s", path, why);
        goto fail;
    }
    t->email = mem_strdup(email);
    t->timeout_ms = timeout_ms;
    t->backoff_ms = FCM_BACKOFF_MIN_MS;
    goto out;
fail:
    fcm_tok_free(t);
    t = NULL;
out:
    if (doc)
        json_object_put(doc);
    /* the key's text is not left lying in freed memory */
    OPENSSL_cleanse(text, len);
    mem_free(text);
    return t;
}

void fcm_tok_attach(fcm_tok *t, const struct dlv_env *env) {
    t->env = *env;
    t->attached = true;
}

static void fcm_refresh_release(fcm_tok *t) {
    if (t->easy)
        curl_easy_cleanup(t->easy);
    t->easy = NULL;
    curl_slist_free_all(t->headers);
    t->headers = NULL;
    mem_free(t->body);
    t->body = NULL;
    buf_free(&t->resp);
}

void fcm_tok_detach(fcm_tok *t) {
    if (!t || !t->attached)
        return;
    if (t->easy)
        xfer_cancel(t->env.x, t->easy);
    fcm_refresh_release(t);
    t->attached = false;
}

void fcm_tok_free(fcm_tok *t) {
    if (!t)
        return;
    fcm_tok_detach(t);
    if (t->fixed)
        OPENSSL_cleanse(t->fixed, strlen(t->fixed));
    if (t->token)
        OPENSSL_cleanse(t->token, strlen(t->token));
    mem_free(t->fixed);
    mem_free(t->token);
    mem_free(t->email);
    mem_free(t->token_uri);
    EVP_PKEY_free(t->key);
    mem_free(t);
}

static void fcm_drop(fcm_tok *t) {
    if (t->token)
        OPENSSL_cleanse(t->token, strlen(t->token));
    mem_free(t->token);
    t->token = NULL;
}

static void fcm_failed(fcm_tok *t, const char *why) {
    t->failed = true;
    /* cut to fit: the reason is a log and last_error text, not data */
    size_t n = strnlen(why, sizeof(t->fail) - 1);
    memcpy(t->fail, why, n);
    t->fail[n] = '\0';
    t->retry_at = util_mono_ms() + t->backoff_ms;
    t->backoff_ms = t->backoff_ms * 2 > FCM_BACKOFF_MAX_MS ? FCM_BACKOFF_MAX_MS : t->backoff_ms * 2;
    HLOG(HLOG_WARN, "fcm.token_failed", &(struct hlog_ctx){.channel = "push", .err = t->fail},
         "FCM access token refresh failed; next try in %d ms or later", t->backoff_ms / 2);
}

/* fcm_took: reads a token endpoint answer {"access_token", "expires_in"}. */
static void fcm_took(fcm_tok *t, long status) {
    char why[320]; /* cut to fail[] later */
    struct json_object *doc = hjson_parse(t->resp.data ? t->resp.data : "", t->resp.len, NULL, 0);
    const char *tok = doc ? fcm_json_str(doc, "access_token") : NULL;
    struct json_object *exp = NULL;
    int64_t expires_s = -1;
    if (doc && json_object_object_get_ex(doc, "expires_in", &exp) &&
        json_object_is_type(exp, json_type_int))
        expires_s = json_object_get_int64(exp);
    if (status != 200 || !tok || !*tok || expires_s <= 0) {
        /* OAuth errors: {"error": "invalid_grant", "error_description": "..."} */
        const char *code = doc ? fcm_json_str(doc, "error") : NULL;
        const char *desc = doc ? fcm_json_str(doc, "error_description") : NULL;
        char c[48] = "", d[96] = "";
        prov_clean(c, sizeof(c), code, code ? strlen(code) : 0);
        prov_clean(d, sizeof(d), desc, desc ? strlen(desc) : 0);
        if (status != 200)
            snprintf(why, sizeof(why), "token endpoint answered HTTP %ld%s%s%s%s", status,
                     c[0] ? " " : "", c, d[0] ? ": " : "", d);
        else
            snprintf(why, sizeof(why), "token endpoint answer has no access_token/expires_in");
        fcm_failed(t, why);
    } else {
        int64_t now = util_mono_ms(), life = expires_s * 1000;
        int64_t margin = life / 4 < FCM_MARGIN_MAX_MS ? life / 4 : FCM_MARGIN_MAX_MS;
        fcm_drop(t);
        t->token = mem_strdup(tok);
        t->gen++;
        t->got_at = now;
        t->usable_until = now + life - margin;
        t->fresh_until = now + life - 2 * margin;
        t->after_reject = t->for_reject;
        t->for_reject = false;
        t->failed = false;
        t->backoff_ms = FCM_BACKOFF_MIN_MS;
        HLOG(HLOG_INFO, "fcm.token_refreshed", &(struct hlog_ctx){.channel = "push"},
             "FCM access token fetched; expires in %lld s", (long long)expires_s);
    }
    if (doc)
        json_object_put(doc);
}

static void fcm_refresh_done(void *arg, CURLcode code, bool started) {
    fcm_tok *t = arg;
    (void)started; /* no start deadline: always started */
    long status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    if (code != CURLE_OK) {
        char why[320];
        snprintf(why, sizeof(why), "token endpoint: %s",
                 t->errbuf[0] ? t->errbuf : curl_easy_strerror(code));
        fcm_failed(t, why);
    } else {
        fcm_took(t, status);
    }
    fcm_refresh_release(t);
    t->env.wake(t->env.wake_arg);
}

static size_t fcm_refresh_body(char *p, size_t size, size_t n, void *arg) {
    fcm_tok *t = arg;
    size_t len = size * n;
    if (t->resp.len + len <= FCM_RESP_MAX)
        buf_append(&t->resp, p, len);
    return len;
}

/* fcm_refresh: starts a token request; false (with the failure noted) when it cannot. */
static bool fcm_refresh(fcm_tok *t) {
    char why[128];
    struct buf jwt = {0}, form = {0};
    if (!t->attached) {
        fcm_failed(t, "no event loop to fetch a token on");
        return false;
    }
    if (jwt_grant(t->key, t->email, FCM_SCOPE, t->token_uri, util_now_ms() / 1000, &jwt, why,
                  sizeof(why)) < 0) {
        fcm_failed(t, why);
        return false;
    }
    /* the JWT is base64url and dots: nothing in it needs escaping */
    buf_puts(&form, "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=");
    buf_append(&form, jwt.data, jwt.len);
    buf_free(&jwt);
    t->easy = curl_easy_init();
    if (!t->easy) {
        buf_free(&form);
        fcm_failed(t, "out of memory starting a token request");
        return false;
    }
    t->body = buf_steal(&form);
    t->errbuf[0] = '\0';
    t->headers = curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded");
    t->headers = curl_slist_append(t->headers, "Accept: application/json");
    t->headers = curl_slist_append(t->headers, "Expect:");
    CURL *e = t->easy;
    curl_easy_setopt(e, CURLOPT_URL, t->token_uri);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)t->timeout_ms);
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(t->body));
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, fcm_refresh_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    xfer_start(t->env.x, e, t->host, NULL, 0, fcm_refresh_done, t);
    HLOG(HLOG_DEBUG, "fcm.token_refreshing", &(struct hlog_ctx){.channel = "push"},
         "fetching an FCM access token");
    return true;
}

enum fcm_tok_answer fcm_tok_get(fcm_tok *t, const char **token, uint64_t *gen, char *err,
                                size_t errlen) {
    if (t->fixed) {
        *token = t->fixed;
        *gen = 0;
        return FCM_TOK_READY;
    }
    int64_t now = util_mono_ms();
    bool may_start = !t->easy && (!t->failed || now >= t->retry_at);
    if (t->token && now < t->usable_until) {
        /* good for a little longer: fetch its successor meanwhile */
        if (now >= t->fresh_until && may_start) {
            t->for_reject = false;
            (void)fcm_refresh(t);
        }
        *token = t->token;
        *gen = t->gen;
        return FCM_TOK_READY;
    }
    if (t->easy)
        return FCM_TOK_WAIT;
    if (may_start && fcm_refresh(t))
        return FCM_TOK_WAIT;
    snprintf(err, errlen, "%s", t->fail);
    return FCM_TOK_FAILED;
}

bool fcm_tok_rejected(fcm_tok *t, uint64_t gen) {
    if (t->fixed || !t->token || gen != t->gen)
        return false;
    if (t->after_reject && util_mono_ms() - t->got_at < FCM_REJECT_COOLDOWN_MS)
        return false;
    fcm_drop(t);
    t->for_reject = true;
    return true;
}
