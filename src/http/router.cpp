#include "http/router.hpp"

#include "http/response.hpp"

#include <algorithm>
#include <utility>

namespace analytics::http {

void router::add(method m, std::string_view path, handler h)
{
    entries_.push_back({m, std::string(path), std::move(h)});
}

std::vector<router::route_info> router::routes() const
{
    std::vector<route_info> out;
    out.reserve(entries_.size());
    for (const auto& e : entries_) {
        out.push_back({e.verb, e.path});
    }
    return out;
}

void router::set_body_limit(std::string_view path, std::size_t limit)
{
    body_limits_.emplace_back(std::string(path), limit);
}

std::size_t router::body_limit(std::string_view target, std::size_t fallback) const noexcept
{
    const std::string_view path = target.substr(0, target.find('?'));
    for (const auto& [p, limit] : body_limits_) {
        if (p == path) {
            return limit;
        }
    }
    return fallback;
}

std::size_t router::max_body_limit(std::size_t fallback) const noexcept
{
    for (const auto& [path, limit] : body_limits_) {
        fallback = std::max(fallback, limit);
    }
    return fallback;
}

std::string router::allow_for(std::string_view path) const
{
    std::string allow;
    auto append = [&allow](std::string_view m) {
        if (!allow.empty()) {
            allow.append(", ");
        }
        allow.append(m);
    };
    bool has_get = false;
    for (const auto& e : entries_) {
        if (e.path == path) {
            append(to_string(e.verb));
            has_get = has_get || e.verb == method::get;
        }
    }
    if (has_get) {
        append("HEAD");
    }
    return allow;
}

namespace {

net::awaitable<response> ready(response r)
{
    co_return r;
}

}  // namespace

// Not a coroutine itself: a matched request's handler is returned as it is, so serving it costs
// no frame and no resumption of the router's own.
net::awaitable<response> router::dispatch(request& req) const
{
    const method wanted = req.verb() == method::head ? method::get : req.verb();
    const entry* path_match = nullptr;
    for (std::size_t i = 0; i < entries_.size(); ++i) {
        const auto& e = entries_[i];
        if (e.path != req.path()) {
            continue;
        }
        path_match = &e;
        if (e.verb == wanted) {
            req.context().route = e.path;
            req.context().route_id = i;
            return e.fn(req);
        }
    }
    if (path_match == nullptr) {
        return ready(error_response(404, "NOT_FOUND", "No route for this path"));
    }
    req.context().route = path_match->path;
    req.context().route_id = static_cast<std::size_t>(path_match - entries_.data());
    auto r = error_response(405, "METHOD_NOT_ALLOWED", "Method not allowed for this path");
    r.set("Allow", allow_for(req.path()));
    return ready(std::move(r));
}

}  // namespace analytics::http
