#include "api/docs_handlers.hpp"

#include "api/docs_assets.hpp"

#include <boost/algorithm/string/classification.hpp>
#include <boost/algorithm/string/trim.hpp>

#include <array>
#include <cstdint>

namespace analytics::api {

namespace {

constexpr std::string_view html_type = "text/html; charset=utf-8";
constexpr std::string_view javascript_type = "text/javascript; charset=utf-8";  // RFC 9239
constexpr std::string_view css_type = "text/css; charset=utf-8";
constexpr std::string_view png_type = "image/png";

// This origin only, so the pages cannot fetch anything from the internet even by accident.
// 'unsafe-inline' for styles: Swagger UI sets style attributes and ReDoc (styled-components)
// inserts <style> elements at run time. blob: workers: ReDoc runs its search index in a worker
// made from a Blob. Scripts stay 'self' only: both pages start their UI from a file.
constexpr std::string_view content_security_policy =
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; worker-src 'self' blob:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'";

struct asset_source {
    std::string_view path;
    std::string_view content_type;
    std::string_view (*bytes)() noexcept;
    bool page;
};

// The routes and their files; docs/openapi.json lists the same paths (tests/api/docs_* check it).
constexpr std::array<asset_source, 9> sources{{
    {"/openapi.json", http::json_content_type, &docs_assets::openapi_json, false},
    {"/docs", html_type, &docs_assets::swagger_html, true},
    {"/docs/swagger-ui.css", css_type, &docs_assets::swagger_ui_css, false},
    {"/docs/swagger-ui-bundle.js", javascript_type, &docs_assets::swagger_ui_bundle_js, false},
    {"/docs/swagger-init.js", javascript_type, &docs_assets::swagger_init_js, false},
    {"/docs/favicon.png", png_type, &docs_assets::favicon_png, false},
    {"/redoc", html_type, &docs_assets::redoc_html, true},
    {"/redoc/redoc.standalone.js", javascript_type, &docs_assets::redoc_js, false},
    {"/redoc/redoc-init.js", javascript_type, &docs_assets::redoc_init_js, false},
}};

// 64-bit FNV-1a: enough to tell two builds' files apart, and stable across runs and machines,
// so every worker and every replica of one build gives a file the same tag.
std::string entity_tag(std::string_view bytes)
{
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (const char c : bytes) {
        h ^= static_cast<unsigned char>(c);
        h *= 0x100000001b3ULL;
    }
    constexpr std::string_view hex = "0123456789abcdef";
    std::string tag(18, '"');
    for (int i = 16; i >= 1; --i) {
        tag[static_cast<std::size_t>(i)] = hex[h & 0xfU];
        h >>= 4U;
    }
    return tag;
}

std::string_view strip_weak(std::string_view tag) noexcept
{
    if (tag.starts_with("W/")) {
        tag.remove_prefix(2);
    }
    return tag;
}

}  // namespace

bool if_none_match_matches(std::string_view header, std::string_view etag) noexcept
{
    const std::string_view wanted = strip_weak(etag);
    while (!header.empty()) {
        const auto comma = header.find(',');
        const std::string_view item = boost::algorithm::trim_copy_if(
            header.substr(0, comma), boost::algorithm::is_any_of(" \t"));
        if (item == "*" || (!item.empty() && strip_weak(item) == wanted)) {
            return true;
        }
        if (comma == std::string_view::npos) {
            break;
        }
        header.remove_prefix(comma + 1);
    }
    return false;
}

docs_handlers::docs_handlers()
{
    assets_.reserve(sources.size());
    for (const auto& s : sources) {
        const std::string_view body = s.bytes();
        assets_.push_back({s.path, s.content_type, body, entity_tag(body), s.page});
    }
}

std::string_view docs_handlers::openapi_document() noexcept
{
    return docs_assets::openapi_json();
}

net::awaitable<http::response> docs_handlers::serve(const asset& a, http::request& req) const
{
    http::response res;
    res.set("ETag", a.etag);
    res.set("Cache-Control", "no-cache");
    if (if_none_match_matches(req.header("If-None-Match"), a.etag)) {
        // No content, so no Content-Type (RFC 9110 § 15.4.5): the client keeps the one it has.
        res.status = 304;
        res.content_type = {};
        co_return res;
    }
    res.status = 200;
    res.content_type = a.content_type;
    res.body.assign(a.body);
    res.set("X-Content-Type-Options", "nosniff");
    if (a.page) {
        res.set("Content-Security-Policy", std::string(content_security_policy));
    }
    co_return res;
}

void docs_handlers::register_routes(http::router& r)
{
    for (const auto& a : assets_) {
        r.add(http::method::get, a.path, [this, &a](http::request& req) { return serve(a, req); });
    }
}

}  // namespace analytics::api
