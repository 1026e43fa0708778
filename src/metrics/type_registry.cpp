#include "metrics/type_registry.hpp"

#include "common/logging.hpp"
#include "metrics/scripts.hpp"
#include "redis/arg_buffer.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

namespace analytics::metrics {

type_registry::type_registry(redis::client& redis, std::uint32_t max_types,
                             std::chrono::milliseconds lifetime, std::chrono::milliseconds timeout,
                             const common::clock& clock)
    : redis_(redis), max_types_(max_types), lifetime_(lifetime), timeout_(timeout), clock_(clock)
{
}

std::string_view type_registry::key() noexcept
{
    return "metrics:types";
}

std::int64_t type_registry::now_ms() const
{
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now().time_since_epoch())
        .count();
}

std::int64_t type_registry::known_until(std::string_view type) const
{
    // Heterogeneous lookup needs C++20's transparent unordered_map, which GCC 12's library has
    // only for std::string keys with a transparent hash; a short string is cheap to build.
    const auto it = known_.find(std::string(type));
    return it == known_.end() || it->second <= now_ms() ? 0 : it->second;
}

net::awaitable<boost::system::result<void>> type_registry::admit(
    std::span<const std::string_view> types, mode m, std::span<std::int64_t> until)
{
    const std::int64_t now = now_ms();
    // The store gives a type's data this expiry when it creates it (store.lua: a lifetime and
    // a sixteenth from its last point), so the registration and the data lapse together.
    const std::int64_t expiry = now + lifetime_.count() + lifetime_.count() / 16;
    redis::arg_buffer args;
    args.add_integer(now);
    args.add_integer(max_types_);
    args.add_integer(expiry);
    args.add(m == mode::all ? std::string_view("all") : std::string_view("each"));
    for (const std::string_view t : types) {
        args.add(t);
    }
    const std::string_view registry = key();
    const auto arg_views = args.views();
    auto r = co_await redis_.eval(scripts::registry(), std::span(&registry, 1), arg_views,
                                  timeout_);
    if (!r) {
        co_return r.error();
    }
    if (r->is_error()) {
        log::error("metrics.registry_error", {{"error", r->str}});
        co_return redis::make_error_code(redis::errc::server_error);
    }
    const auto& e = r->elements;
    if (r->type != redis::reply::kind::array || e.size() != types.size() + 1) {
        co_return redis::make_error_code(redis::errc::unexpected_reply);
    }
    // Lapsed entries are dropped now and then, so the map stays near the cap's size.
    if (known_.size() > 2 * std::size_t{max_types_}) {
        std::erase_if(known_, [now](const auto& entry) { return entry.second <= now; });
    }
    for (std::size_t i = 0; i < types.size(); ++i) {
        const bool admitted = e[i + 1].type == redis::reply::kind::integer && e[i + 1].integer == 1;
        until[i] = admitted ? expiry : 0;
        if (admitted) {
            known_[std::string(types[i])] = expiry;
        }
    }
    co_return boost::system::result<void>{};
}

void type_registry::renew(std::string_view type, std::int64_t expiry_ms)
{
    known_[std::string(type)] = expiry_ms;
    net::co_spawn(redis_.get_executor(), renew_in_background(std::string(type), expiry_ms),
                  net::detached);
}

net::awaitable<void> type_registry::renew_in_background(std::string type, std::int64_t expiry_ms)
{
    redis::arg_buffer args;
    args.add_integer(now_ms());
    args.add_integer(max_types_);
    args.add_integer(expiry_ms);
    args.add(std::string_view("each"));
    args.add(type);
    const std::string_view registry = key();
    const auto arg_views = args.views();
    auto r = co_await redis_.eval(scripts::registry(), std::span(&registry, 1), arg_views,
                                  timeout_);
    if (!r || r->is_error()) {
        log::warn("metrics.registry_renewal_failed",
                  {{"type", type}, {"error", r ? r->str : r.error().message()}});
        known_.erase(type);
    }
}

}  // namespace analytics::metrics
