/* fcm_token: the push channel's OAuth 2.0 access token: a fixed one
 * (HERALD_FCM_ACCESS_TOKEN), or one a service account's RS256 JWT grant
 * fetches at its token_uri, cached until shortly before it expires and
 * refreshed in the background on the worker's loop (through the engine's
 * transfers), never blocking it. */
#ifndef HERALD_WORKER_FCM_TOKEN_H
#define HERALD_WORKER_FCM_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct dlv_env;
typedef struct fcm_tok fcm_tok;

#define FCM_SCOPE "https://www.googleapis.com/auth/firebase.messaging"
#define FCM_DEFAULT_TOKEN_URI "https://oauth2.googleapis.com/token"

/* fcm_tok_fixed: a token that is used as is and never refreshed (copied).
 * Caller frees with fcm_tok_free(). */
fcm_tok *fcm_tok_fixed(const char *token);

/* fcm_tok_from_file: reads a service-account JSON file (client_email,
 * private_key PEM, token_uri; "type" if present must be "service_account").
 * timeout_ms bounds each token request. Returns the cache (caller frees with
 * fcm_tok_free()), or NULL with a one-line reason in err that names neither
 * the key nor a token. Blocks on the file read: start-up only. */
fcm_tok *fcm_tok_from_file(const char *path, int timeout_ms, char *err, size_t errlen);

/* fcm_tok_attach: from now on refreshes run on env's loop and transfers,
 * and env->wake is called when one ends (env is borrowed until detach).
 * fcm_tok_detach: stops a running refresh; no wake after it. */
void fcm_tok_attach(fcm_tok *t, const struct dlv_env *env);
void fcm_tok_detach(fcm_tok *t);
void fcm_tok_free(fcm_tok *t);

enum fcm_tok_answer {
    FCM_TOK_READY = 0, /* *token and *gen are set */
    FCM_TOK_WAIT,      /* a refresh runs; env->wake follows when it ends */
    FCM_TOK_FAILED,    /* the last refresh failed moments ago; err says why */
};

/* fcm_tok_get: the token to send now. READY sets *token (borrowed: copy it
 * before returning to the loop) and *gen, the token's generation for
 * fcm_tok_rejected. A token close to its expiry is still READY while its
 * successor is fetched in the background. Never blocks. */
enum fcm_tok_answer fcm_tok_get(fcm_tok *t, const char **token, uint64_t *gen, char *err,
                                size_t errlen);

/* fcm_tok_rejected: the provider answered 401 to the token of generation
 * gen. Drops it so the next fcm_tok_get fetches a new one, unless it is no
 * longer the current one or was itself fetched after a 401 less than a
 * minute ago (one refresh per rejection, not a loop). Returns true when it
 * dropped the token; a fixed token is never dropped. */
bool fcm_tok_rejected(fcm_tok *t, uint64_t gen);

#endif
