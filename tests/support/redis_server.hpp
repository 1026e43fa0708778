#pragma once
// Where the test redis-server listens. ./test.sh starts one on a free loopback port and exports
// REDIS_TEST_PORT; tests never talk to anything else. In a TLS run (REDIS_TEST_TLS=1,
// support/redis_admin.hpp) the shared server is instead a TLS-only redis-server of this test
// process, started on first use, and client options for any TLS server speak TLS to it.

#include "redis/client.hpp"
#include "support/redis_admin.hpp"

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string>

namespace analytics::test {

/// The port of this process's shared TLS test server (support/redis_tls.cpp).
std::uint16_t shared_tls_redis_port();

/// Makes `o` speak TLS, trusting the test CA, when its port is a TLS server's.
void use_tls_where_served(redis::client_options& o);

inline std::uint16_t redis_test_port()
{
    if (redis_tls_run()) {
        return shared_tls_redis_port();
    }
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
    use_tls_where_served(o);
    return o;
}

}  // namespace analytics::test
