#pragma once
// Where the test redis-server listens. ./test.sh starts one on a free loopback port and exports
// REDIS_TEST_PORT; tests never talk to anything else.

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

}  // namespace analytics::test
