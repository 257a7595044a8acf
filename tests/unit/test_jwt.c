/* test_jwt: the service-account grant JWT: header, claims, RS256 signature, key loading. */
#include "worker/jwt.h"
#include "common/buf.h"
#include "common/crypto.h"
#include "common/mem.h"

#include "common/json.h"

#include <criterion/criterion.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <string.h>

static EVP_PKEY *pair;   /* the generated key pair */
static struct buf pem;   /* its private half, PKCS#8 PEM */
static EVP_PKEY *loaded; /* what jwt_load_key made of pem */

static void setup(void) {
    pair = EVP_RSA_gen(2048);
    cr_assert(pair);
    BIO *bio = BIO_new(BIO_s_mem());
    cr_assert(PEM_write_bio_PrivateKey(bio, pair, NULL, NULL, 0, NULL, NULL) == 1);
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    memset(&pem, 0, sizeof(pem));
    buf_append(&pem, data, (size_t)n);
    BIO_free(bio);
    char err[128];
    loaded = jwt_load_key(pem.data, pem.len, err, sizeof(err));
    cr_assert(loaded, "%s", err);
}

static void teardown(void) {
    EVP_PKEY_free(pair);
    EVP_PKEY_free(loaded);
    buf_free(&pem);
}

TestSuite(jwt, .init = setup, .fini = teardown);

/* part: base64url-decoded part i (0..2) of a compact JWT; caller frees. */
static uint8_t *part(const char *jwt, int i, size_t *len) {
    const char *s = jwt;
    for (int k = 0; k < i; k++) {
        s = strchr(s, '.');
        cr_assert(s, "no part %d", i);
        s++;
    }
    const char *e = strchr(s, '.');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    cr_assert(strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") >= n,
              "part %d is not unpadded base64url", i);
    uint8_t *out = malloc(n + 1);
    long k = crypto_b64_decode(s, n, out, n + 1);
    cr_assert_geq(k, 0);
    out[k] = 0;
    *len = (size_t)k;
    return out;
}

Test(jwt, header_claims_and_signature) {
    struct buf jwt = {0};
    char err[128];
    cr_assert_eq(jwt_grant(loaded, "sa@proj.iam.gserviceaccount.com",
                           "https://www.googleapis.com/auth/firebase.messaging",
                           "https://oauth2.googleapis.com/token", 1795514400, &jwt, err,
                           sizeof(err)),
                 0, "%s", err);
    size_t n;
    uint8_t *h = part(jwt.data, 0, &n);
    cr_assert_str_eq((char *)h, "{\"alg\":\"RS256\",\"typ\":\"JWT\"}");
    uint8_t *c = part(jwt.data, 1, &n);
    cr_assert_str_eq((char *)c, "{\"iss\":\"sa@proj.iam.gserviceaccount.com\","
                                "\"scope\":\"https://www.googleapis.com/auth/firebase.messaging\","
                                "\"aud\":\"https://oauth2.googleapis.com/token\","
                                "\"iat\":1795514400,\"exp\":1795518000}");
    size_t slen;
    uint8_t *sig = part(jwt.data, 2, &slen);
    cr_assert_eq(slen, 256);

    /* verified with the public half over "header.claims" */
    const char *dot = strrchr(jwt.data, '.');
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    cr_assert(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pair) == 1);
    cr_assert(EVP_DigestVerify(md, sig, slen, (const unsigned char *)jwt.data,
                               (size_t)(dot - jwt.data)) == 1,
              "signature does not verify");
    /* and not over anything else */
    EVP_MD_CTX_reset(md);
    cr_assert(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pair) == 1);
    cr_assert(EVP_DigestVerify(md, sig, slen, (const unsigned char *)jwt.data,
                               (size_t)(dot - jwt.data) - 1) != 1);
    EVP_MD_CTX_free(md);
    free(h);
    free(c);
    free(sig);
    buf_free(&jwt);
}

Test(jwt, claims_are_json_escaped) {
    struct buf jwt = {0};
    char err[128];
    cr_assert_eq(jwt_grant(loaded, "a\"b\\c", "s", "https://x/token", 1, &jwt, err, sizeof(err)),
                 0);
    size_t n;
    uint8_t *c = part(jwt.data, 1, &n);
    struct json_object *o = hjson_parse((char *)c, n, err, sizeof(err));
    cr_assert(o, "claims are not JSON: %s", err);
    cr_assert_str_eq(json_object_get_string(json_object_object_get(o, "iss")), "a\"b\\c");
    cr_assert_eq(json_object_get_int64(json_object_object_get(o, "exp")), 3601);
    json_object_put(o);
    free(c);
    buf_free(&jwt);
}

Test(jwt, keys_that_cannot_sign_rs256_are_refused) {
    char err[128];
    cr_assert_null(jwt_load_key("not a key", 9, err, sizeof(err)));
    cr_assert(strstr(err, "PEM"), "%s", err);
    cr_assert_null(jwt_load_key(pem.data, pem.len / 2, err, sizeof(err)));
    EVP_PKEY *ec = EVP_EC_gen("P-256");
    cr_assert(ec);
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, ec, NULL, NULL, 0, NULL, NULL);
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    cr_assert_null(jwt_load_key(data, (size_t)n, err, sizeof(err)));
    cr_assert(strstr(err, "RSA"), "%s", err);
    BIO_free(bio);
    EVP_PKEY_free(ec);
}
