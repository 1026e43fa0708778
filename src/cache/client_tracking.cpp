#include "cache/client_tracking.hpp"

#include "common/logging.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>

#include <algorithm>

namespace analytics::cache {

namespace {

using namespace std::chrono_literals;

// The channel Redis publishes tracking invalidations on (RESP2 redirection).
constexpr std::string_view invalidation_channel = "__redis__:invalidate";

// After a failed CLIENT TRACKING (a timeout; an error reply from a server that refuses it), the
// next attempt waits this long, doubling up to the cap, unless a connection change comes first.
constexpr std::chrono::milliseconds first_retry_delay = 100ms;
constexpr std::chrono::milliseconds max_retry_delay = 5s;

}  // namespace

client_tracking::client_tracking(redis::client& redis, redis::subscriber& subscriber,
                                 std::string prefix, std::chrono::milliseconds timeout)
    : redis_(redis),
      subscriber_(subscriber),
      prefix_(std::move(prefix)),
      timeout_(timeout),
      wake_(redis.get_executor())
{
    subscriber_.subscribe(
        std::string(invalidation_channel),
        [this](std::string_view, const redis::reply& payload) { on_message(payload); });
    subscriber_.on_state_change(
        [this](bool up) { changed(up ? "subscriber_up" : "subscriber_down"); });
}

net::awaitable<void> client_tracking::run()
{
    while (!stopped_) {
        if (!active_ && redis_.connected() && subscriber_.connected()) {
            const auto generation = generation_;
            const bool on = co_await enable(subscriber_.client_id());
            if (stopped_) {
                break;
            }
            if (on && generation == generation_) {
                // Copies kept before this moment were kept without reports: drop them.
                active_ = true;
                ++activations_;
                failures_ = 0;
                if (listener_.all_invalidated) {
                    listener_.all_invalidated();
                }
                log::info("cache.tracking_enabled", {{"prefix", prefix_},
                                                     {"redirect", subscriber_.client_id()},
                                                     {"activations", activations_}});
                continue;
            }
            if (on) {
                continue;  // a connection changed meanwhile: enable again with what is current
            }
            wake_.expires_after(
                std::min(first_retry_delay * (1 << std::min(failures_, 6U)), max_retry_delay));
            ++failures_;
        } else {
            wake_.expires_at(net::steady_timer::time_point::max());
        }
        co_await wake_.async_wait(common::use_nothrow);
    }
}

void client_tracking::stop()
{
    stopped_ = true;
    active_ = false;
    wake_.cancel();
}

void client_tracking::connection_changed(bool up)
{
    changed(up ? "connection_up" : "connection_down");
}

// Tracking is per connection and redirects to one subscriber connection id: after any change
// of either, reports may have stopped, so copies go and tracking is set up again.
void client_tracking::changed(const char* cause)
{
    ++generation_;
    if (active_) {
        active_ = false;
        log::warn("cache.tracking_lost", {{"prefix", prefix_}, {"cause", cause}});
    }
    if (listener_.all_invalidated) {
        listener_.all_invalidated();
    }
    wake_.cancel();
}

net::awaitable<bool> client_tracking::enable(std::int64_t redirect_to)
{
    using namespace boost::asio::experimental::awaitable_operators;
    // Tracking already on (with the previous subscriber id) must be turned off first: Redis
    // refuses a second `on` for an overlapping prefix. Both go out in one write.
    const std::string redirect = std::to_string(redirect_to);
    auto [off, on] =
        co_await (redis_.exec(redis::command("CLIENT", "TRACKING", "off"), timeout_) &&
                  redis_.exec(redis::command("CLIENT", "TRACKING", "on", "REDIRECT", redirect,
                                             "BCAST", "PREFIX", prefix_, "NOLOOP"),
                              timeout_));
    if (on && !on->is_error()) {
        co_return true;
    }
    // One warning per streak of failures (a server that refuses tracking refuses it every time).
    const std::string error = on ? std::string(on->str) : on.error().message();
    log::write(failures_ == 0 ? log::level::warning : log::level::debug, "cache.tracking_failed",
               {{"prefix", prefix_}, {"error", error}});
    co_return false;
}

void client_tracking::on_message(const redis::reply& payload)
{
    if (payload.is_nil()) {
        // FLUSHDB or FLUSHALL somewhere on the server.
        if (listener_.all_invalidated) {
            listener_.all_invalidated();
        }
        return;
    }
    if (payload.type != redis::reply::kind::array || !listener_.invalidated) {
        return;
    }
    for (const auto& key : payload.elements) {
        if (key.type == redis::reply::kind::string) {
            listener_.invalidated(key.str);
        }
    }
}

}  // namespace analytics::cache
