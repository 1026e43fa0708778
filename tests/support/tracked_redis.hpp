#pragma once
// One worker's Redis side as the application wires it: the main client, which reports its
// reconnects to the tracking; the subscriber for invalidations; and the tracking of `summary:`
// keys. start() spawns their run loops on the executor (without the subscriber's and the
// tracking's, tracking stays off); stop() ends them.

#include "cache/client_tracking.hpp"
#include "common/asio.hpp"
#include "redis/client.hpp"
#include "redis/subscriber.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <chrono>
#include <string>

namespace analytics::test {

struct tracked_redis {
    tracked_redis(const net::any_io_executor& executor, const redis::client_options& options,
                  std::string prefix = "summary:")
        : redis(executor, hooked(options)),
          subscriber(executor, options),
          tracking(redis, subscriber, std::move(prefix), std::chrono::seconds(1))
    {
    }

    void start(bool with_tracking = true)
    {
        const auto executor = redis.get_executor();
        net::co_spawn(executor, redis.run(), net::detached);
        if (with_tracking) {
            net::co_spawn(executor, subscriber.run(), net::detached);
            net::co_spawn(executor, tracking.run(), net::detached);
        }
    }

    void stop()
    {
        tracking.stop();
        subscriber.stop();
        redis.stop();
    }

    redis::client_options hooked(redis::client_options o)
    {
        o.on_connection_change = [this](bool up) { tracking.connection_changed(up); };
        return o;
    }

    redis::client redis;
    redis::subscriber subscriber;
    cache::client_tracking tracking;
};

}  // namespace analytics::test
