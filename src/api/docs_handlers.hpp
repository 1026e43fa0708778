#pragma once
// GET /openapi.json (the OpenAPI 3.1 document), GET /docs (Swagger UI), GET /redoc (ReDoc) and
// the scripts, stylesheet and icon those two pages load. Every byte served is built
// into the binary by cmake/embed.cmake: docs/openapi.json, the pages in docs/ui/, and the npm
// packages swagger-ui-dist and redoc at the versions tools/package.json pins. So the pages work
// with no internet access and no files beside the executable, and "Try it out" talks to the
// service that served the page (same origin).
//
// Each answer carries a strong ETag (a hash of the bytes) and `Cache-Control: no-cache`, so a
// browser revalidates with If-None-Match and gets 304 until the binary changes. The two pages
// also carry a Content-Security-Policy that allows this origin only.
//
// Owns: the table of served files (views of the embedded bytes) and their entity tags, computed
// once in the constructor. Thread safety: one instance per worker, on that worker's thread; it
// is read-only after construction and the embedded bytes are immutable process-wide data.

#include "common/asio.hpp"
#include "http/message.hpp"
#include "http/router.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace analytics::api {

class docs_handlers {
public:
    /// One file these handlers serve.
    struct asset {
        std::string_view path;          // the route, e.g. "/docs/swagger-ui.css"
        std::string_view content_type;  // the Content-Type it is served with
        std::string_view body;          // the embedded bytes
        std::string etag;               // strong entity tag, quoted: "\"0123456789abcdef\""
        bool page = false;              // an HTML page: also gets the Content-Security-Policy
    };

    /// Builds the table; hashes every file once (about 4 MB in all).
    docs_handlers();

    // The routes registered by register_routes() point into this object.
    docs_handlers(const docs_handlers&) = delete;
    docs_handlers& operator=(const docs_handlers&) = delete;

    /// 200 with `a`'s bytes, or 304 without a body when If-None-Match names its entity tag.
    net::awaitable<http::response> serve(const asset& a, http::request& req) const;

    /// Registers GET for every file on `r` (the router also answers HEAD with it).
    void register_routes(http::router& r);

    /// Every file served, in registration order.
    const std::vector<asset>& assets() const noexcept { return assets_; }

    /// The OpenAPI document exactly as the build embedded it (docs/openapi.json).
    static std::string_view openapi_document() noexcept;

private:
    std::vector<asset> assets_;
};

/// True when an If-None-Match value names `etag` (weak comparison, RFC 9110 § 13.1.2), or is `*`.
bool if_none_match_matches(std::string_view header, std::string_view etag) noexcept;

}  // namespace analytics::api
