#pragma once
// Where the test redis-server listens. ./test.sh starts one on a free loopback port and exports
// REDIS_TEST_PORT; tests never talk to anything else.

#include "redis/client.hpp"

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace analytics::test {

inline std::uint16_t redis_test_port()
{
    const char* p = std::getenv("REDIS_TEST_PORT");
    return static_cast<std::uint16_t>(p ? std::atoi(p) : 6379);
}

inline std::string redis_test_host()
{
    return "127.0.0.1";
}

/// Client options for a test server on `port`: quick to reconnect, so outages end fast.
inline redis::client_options client_options_for(std::uint16_t port)
{
    redis::client_options o;
    o.host = redis_test_host();
    o.port = port;
    o.reconnect_min = std::chrono::milliseconds(10);
    o.reconnect_max = std::chrono::milliseconds(100);
    return o;
}

}  // namespace analytics::test
