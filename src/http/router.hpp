#pragma once
// Routes a request by method and exact path to its handler (docs/contract.md, Conventions): unknown
// path 404 NOT_FOUND; a known path with the wrong method 405 METHOD_NOT_ALLOWED with `Allow`. HEAD
// is served by a path's GET handler (the session drops the body).
//
// Thread safety: built once per worker before serving, then only read.

#include "common/asio.hpp"
#include "http/message.hpp"

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace analytics::http {

using handler = std::function<net::awaitable<response>(request&)>;

class router {
public:
    /// Registers `h` for `m` on `path` (e.g. "/api/metrics"). The path doubles as the route
    /// name in logs and metrics, so it must be a template, never a raw client path.
    void add(method m, std::string_view path, handler h);

    /// What answers `req` when awaited: its route's handler, or the router's own 404/405. Sets
    /// request.context().route and route_id (the route's index in routes(); a 405 counts under
    /// the path's first route) before it returns.
    net::awaitable<response> dispatch(request& req) const;

    struct route_info {
        method verb;
        std::string path;
    };
    /// Every registered (method, path), in registration order.
    std::vector<route_info> routes() const;

    /// Lets requests to `path` carry bodies up to `limit` bytes instead of the server's default.
    void set_body_limit(std::string_view path, std::size_t limit);

    /// The body limit of a request target's path: the one set for it, else `fallback`.
    std::size_t body_limit(std::string_view target, std::size_t fallback) const noexcept;

    /// The largest body any route takes, at least `fallback`.
    std::size_t max_body_limit(std::size_t fallback) const noexcept;

private:
    struct entry {
        method verb;
        std::string path;
        handler fn;
    };

    /// The Allow header value for a path ("GET, HEAD, POST"), or empty when no route has it.
    std::string allow_for(std::string_view path) const;

    std::vector<entry> entries_;
    std::vector<std::pair<std::string, std::size_t>> body_limits_;
};

}  // namespace analytics::http
