// GET /openapi.json, /docs, /redoc and their files, through the router: what is served is what the
// build embedded from the repository and from the pinned npm packages, with the right types and
// caching headers, and the pages load nothing that this service does not serve itself.

#include "api/docs_handlers.hpp"

#include "http/router.hpp"
#include "support/fake_request.hpp"
#include "support/run_coro.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace analytics::api {
namespace {

using test::header_map;
using test::lower;

// "0123456789abcdef", quoted.
bool is_strong_tag(std::string_view tag)
{
    if (tag.size() != 18 || tag.front() != '"' || tag.back() != '"') {
        return false;
    }
    return std::all_of(tag.begin() + 1, tag.end() - 1,
                       [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

// The values of every src="..." and href="..." attribute of a page.
std::vector<std::string> linked_urls(std::string_view html)
{
    std::vector<std::string> out;
    for (const std::string_view attribute : {"src=\"", "href=\""}) {
        for (auto at = html.find(attribute); at != std::string_view::npos;
             at = html.find(attribute, at + 1)) {
            const auto start = at + attribute.size();
            const auto end = html.find('"', start);
            out.emplace_back(html.substr(start, end - start));
        }
    }
    return out;
}

std::string read_source_file(const std::string& relative)
{
    std::ifstream in(std::string(ANALYTICS_SOURCE_DIR) + "/" + relative, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

// The version tools/package.json pins for `package`.
std::string pinned_version(std::string_view package)
{
    const auto manifest = boost::json::parse(read_source_file("tools/package.json"));
    return std::string(manifest.at("dependencies").at(package).as_string());
}

struct docs_fixture : ::testing::Test {
    docs_fixture() { handlers.register_routes(router); }

    http::response get(std::string_view target, header_map headers = {},
                       http::method verb = http::method::get)
    {
        net::io_context ioc;
        http::request_context ctx;
        http::request req(verb, target, {}, &headers, &test::lookup_in_map, ctx);
        return test::run_coro(ioc, router.dispatch(req));
    }

    bool routed(const std::string& path) const
    {
        for (const auto& r : router.routes()) {
            if (r.path == path) {
                return true;
            }
        }
        return false;
    }

    docs_handlers handlers;
    http::router router;
};

TEST_F(docs_fixture, serves_the_document_from_the_repository_as_json)
{
    const auto res = get("/openapi.json");
    EXPECT_EQ(res.status, 200U);
    EXPECT_EQ(res.content_type, "application/json; charset=utf-8");
    EXPECT_EQ(res.body, docs_handlers::openapi_document());
    // The build embedded the file as it is now, not a stale copy.
    EXPECT_EQ(res.body, read_source_file("docs/openapi.json"));
    EXPECT_EQ(boost::json::parse(res.body).at("openapi").as_string(), "3.1.0");
}

TEST_F(docs_fixture, serves_every_file_with_its_type_a_strong_etag_and_no_cache)
{
    const std::map<std::string, std::string> types = {
        {"/openapi.json", "application/json; charset=utf-8"},
        {"/docs", "text/html; charset=utf-8"},
        {"/docs/swagger-ui.css", "text/css; charset=utf-8"},
        {"/docs/swagger-ui-bundle.js", "text/javascript; charset=utf-8"},
        {"/docs/swagger-init.js", "text/javascript; charset=utf-8"},
        {"/docs/favicon.png", "image/png"},
        {"/redoc", "text/html; charset=utf-8"},
        {"/redoc/redoc.standalone.js", "text/javascript; charset=utf-8"},
        {"/redoc/redoc-init.js", "text/javascript; charset=utf-8"},
    };
    ASSERT_EQ(handlers.assets().size(), types.size());
    std::set<std::string> tags;
    for (const auto& [path, type] : types) {
        const auto res = get(path);
        EXPECT_EQ(res.status, 200U) << path;
        EXPECT_EQ(res.content_type, type) << path;
        EXPECT_FALSE(res.body.empty()) << path;
        EXPECT_EQ(res.get("Cache-Control"), "no-cache") << path;
        EXPECT_EQ(res.get("X-Content-Type-Options"), "nosniff") << path;
        EXPECT_TRUE(is_strong_tag(res.get("ETag"))) << path << ": " << res.get("ETag");
        tags.insert(std::string(res.get("ETag")));
    }
    EXPECT_EQ(tags.size(), types.size()) << "two files share an entity tag";
    EXPECT_TRUE(get("/docs/favicon.png").body.starts_with("\x89PNG\r\n\x1a\n"));
}

TEST_F(docs_fixture, answers_304_without_a_body_when_if_none_match_names_the_tag)
{
    const std::string tag(get("/docs").get("ETag"));
    for (const std::string& value : {tag, "W/" + tag, "\"other\", " + tag, std::string("*")}) {
        const auto res = get("/docs", {{"if-none-match", value}});
        EXPECT_EQ(res.status, 304U) << value;
        EXPECT_TRUE(res.body.empty()) << value;
        // RFC 9110 § 15.4.5: no content metadata on a 304.
        EXPECT_TRUE(res.content_type.empty()) << value;
        EXPECT_EQ(res.get("ETag"), tag) << value;
    }
    EXPECT_EQ(get("/docs", {{"if-none-match", "\"0000000000000000\""}}).status, 200U);
    EXPECT_EQ(get("/docs", {{"if-none-match", ""}}).status, 200U);
}

TEST_F(docs_fixture, head_is_answered_by_the_get_route)
{
    EXPECT_EQ(get("/redoc", {}, http::method::head).status, 200U);
}

TEST_F(docs_fixture, the_embedded_bundles_are_the_pinned_npm_versions)
{
    const auto swagger = get("/docs/swagger-ui-bundle.js").body;
    EXPECT_NE(swagger.find("PACKAGE_VERSION:\"" + pinned_version("swagger-ui-dist") + "\""),
              std::string::npos);
    const auto redoc = get("/redoc/redoc.standalone.js").body;
    EXPECT_NE(redoc.find("\"" + pinned_version("redoc") + "\""), std::string::npos);
}

TEST_F(docs_fixture, the_pages_load_only_files_this_service_serves)
{
    // No CDN: the pages must work where the service runs without Internet access. Every src/href of
    // a page is relative and routed here, and the start-up scripts fetch the document from this
    // origin.
    for (const std::string page : {"/docs", "/redoc"}) {
        const auto html = get(page).body;
        EXPECT_EQ(html.find("http://"), std::string::npos) << page;
        EXPECT_EQ(html.find("https://"), std::string::npos) << page;
        EXPECT_EQ(html.find("<script>"), std::string::npos) << page << ": inline script";
        std::size_t links = 0;
        for (const auto& url : linked_urls(html)) {
            ++links;
            ASSERT_FALSE(url.empty() || url.starts_with("/") || url.find(':') != std::string::npos)
                << page << " links " << url;
            // Relative to the page: "/docs" + "docs/x" -> "/docs/x".
            EXPECT_TRUE(routed("/" + url)) << page << " loads /" << url << ", which is not routed";
        }
        EXPECT_GE(links, 3U) << page;
    }
    for (const std::string script : {"/docs/swagger-init.js", "/redoc/redoc-init.js"}) {
        const auto js = get(script).body;
        EXPECT_NE(js.find("'openapi.json'"), std::string::npos) << script;
        EXPECT_EQ(js.find("http"), std::string::npos) << script;
    }
    EXPECT_NE(get("/docs/swagger-init.js").body.find("validatorUrl: null"), std::string::npos);
}

TEST_F(docs_fixture, the_pages_allow_this_origin_only)
{
    for (const std::string page : {"/docs", "/redoc"}) {
        const auto csp = std::string(get(page).get("Content-Security-Policy"));
        EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << page;
        EXPECT_NE(csp.find("script-src 'self';"), std::string::npos) << page;
        EXPECT_NE(csp.find("connect-src 'self';"), std::string::npos) << page;
    }
    EXPECT_EQ(get("/openapi.json").get("Content-Security-Policy"), "");
}

TEST(docs_if_none_match, compares_weakly_and_accepts_lists_and_star)
{
    EXPECT_TRUE(if_none_match_matches("\"a\"", "\"a\""));
    EXPECT_TRUE(if_none_match_matches(" W/\"a\" ", "\"a\""));
    EXPECT_TRUE(if_none_match_matches("\"b\",\"a\"", "\"a\""));
    EXPECT_TRUE(if_none_match_matches("*", "\"a\""));
    EXPECT_FALSE(if_none_match_matches("\"b\"", "\"a\""));
    EXPECT_FALSE(if_none_match_matches("", "\"a\""));
    EXPECT_FALSE(if_none_match_matches(",", "\"a\""));
    EXPECT_FALSE(if_none_match_matches("a", "\"a\""));
}

}  // namespace
}  // namespace analytics::api
