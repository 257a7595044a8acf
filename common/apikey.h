/* apikey: the format of API keys (hk_<key id>_<secret>) and webhook signing secrets, and how key
 * secrets are hashed and checked. */
#ifndef HERALD_COMMON_APIKEY_H
#define HERALD_COMMON_APIKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/mem.h"

#define APIKEY_ID_LEN 16     /* lowercase hex of 8 random bytes */
#define APIKEY_SECRET_LEN 43 /* base64url, unpadded, of 32 random bytes */
/* "hk_" + id + "_" + secret, not counting the NUL. */
#define APIKEY_LEN (3 + APIKEY_ID_LEN + 1 + APIKEY_SECRET_LEN)
#define APIKEY_HASH_LEN 32 /* SHA-256 */
/* "whsec_" + standard base64, padded, of 32 random bytes, not counting the NUL. */
#define APIKEY_WHSEC_LEN (6 + 44)

/* The two halves of a key, each NUL-terminated. */
struct apikey_parts {
    char id[APIKEY_ID_LEN + 1];
    char secret[APIKEY_SECRET_LEN + 1];
};

/* apikey_generate: a new random key into key[APIKEY_LEN + 1] (caller's
 * buffer); parts, if not NULL, receives its id and secret. The key is a
 * credential: show it to its owner once and never log it. */
void apikey_generate(char *key, struct apikey_parts *parts);

/* apikey_parse: splits a presented key of len bytes (key is borrowed and
 * need not be NUL-terminated). Accepts exactly "hk_", 16 lowercase hex
 * characters, "_" and 43 base64url characters in canonical form (as
 * apikey_generate makes them); anything else, including a longer or shorter
 * input, returns -1 and leaves out zeroed. Returns 0 on success. Runs in time
 * bounded by APIKEY_LEN whatever len is. */
int apikey_parse(const char *key, size_t len, struct apikey_parts *out) HD_MUSTCHECK;

/* apikey_id_valid: whether s (NUL-terminated, borrowed) is a well-formed key
 * id: exactly 16 lowercase hex characters. */
bool apikey_id_valid(const char *s);

/* apikey_hash_secret: SHA-256 of the secret's characters as presented (its
 * text, not its decoded bytes) into out; this is what api_keys.secret_hash
 * stores. secret is borrowed and NUL-terminated. */
void apikey_hash_secret(const char *secret, uint8_t out[APIKEY_HASH_LEN]);

/* apikey_verify: whether secret (NUL-terminated, borrowed) hashes to stored
 * (stored_len bytes, borrowed). The hashes are compared in constant time; a
 * stored hash of the wrong length is refused. */
bool apikey_verify(const char *secret, const uint8_t *stored, size_t stored_len);

/* apikey_new_webhook_secret: a new tenant webhook signing secret, "whsec_" +
 * base64 (standard alphabet, padded) of 32 random bytes, APIKEY_WHSEC_LEN
 * characters. Caller frees with mem_free(). Never fails (aborts on OOM). */
char *apikey_new_webhook_secret(void);

#endif
