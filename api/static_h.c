/* static_h: serves the OpenAPI document and the two HTML pages that
 * cmake/embed.cmake compiled in, with their caching and security headers. */
#include "api/static_h.h"
#include "api/static_assets.h"

/* static_h_send: replies 200 with asset; cache is the Cache-Control value. */
static void static_h_send(struct api_req *r, const struct static_h_asset *asset,
                          const char *cache) {
    api_header(r, "Content-Type", asset->content_type);
    api_header(r, "Cache-Control", cache);
    api_header(r, "X-Content-Type-Options", "nosniff");
    if (asset->csp) {
        api_header(r, "Content-Security-Policy", asset->csp);
        api_header(r, "X-Frame-Options", "DENY");
        api_header(r, "Referrer-Policy", "no-referrer");
    }
    api_reply(r, 200, (const char *)asset->data, asset->len);
}

/* The document and the reference page change only with a new binary, so a
 * few minutes of caching is harmless; the on-call page is never cached, so a
 * deploy is seen at the next reload. */
void static_h_openapi(struct api_req *r) {
    static_h_send(r, &static_h_asset_openapi, "public, max-age=300");
}

void static_h_docs(struct api_req *r) {
    static_h_send(r, &static_h_asset_docs, "public, max-age=300");
}

void static_h_admin(struct api_req *r) {
    static_h_send(r, &static_h_asset_admin, "no-store");
}
