#pragma once
// What the chaos tests share: the service's environment for a private redis-server, metric
// bodies that identify their sender, timed requests, the contract's error format, percentiles,
// a process's resident memory, and a bare POSIX client for bytes no HTTP client would send.
//
// Thread safety: free functions are safe from any thread; a raw_client belongs to one thread.

#include "e2e/http_client.hpp"
#include "e2e/metric_bodies.hpp"
#include "support/redis_admin.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <sys/types.h>
#include <vector>

namespace analytics::test {

using env_vars = std::map<std::string, std::string>;
using steady = std::chrono::steady_clock;

/// The service pointed at `redis_port`, with the rate limit out of the way (chaos tests send
/// thousands of requests from one address) and the upstream simulator healthy; `extra` wins.
env_vars chaos_env(std::uint16_t redis_port, env_vars extra = {});

/// A POST /api/metrics body with a whole-number value (e2e/metric_bodies.hpp has the rest).
std::string metric_body(std::string_view type, long long value, std::string_view timestamp);

/// Milliseconds from `from` to `to`.
double ms_between(steady::time_point from, steady::time_point to);

/// True when `r` is an error in the contract's format (docs/contract.md, Conventions) with `code`:
/// JSON content type, a body with that code, a message and a timestamp, and an X-Request-Id.
::testing::AssertionResult is_error(const http_reply& r, unsigned status, std::string_view code);

/// The `code` of an error body, or empty when the body has none.
std::string error_code_of(const http_reply& r);

/// The `p`-th percentile (0..100) of `values`, nearest rank; 0 for none.
double percentile(std::vector<double> values, double p);

/// VmRSS of process `pid` in KiB, from /proc/<pid>/status.
long resident_kib(pid_t pid);

/// A plain TCP connection to 127.0.0.1:`port` for half-sent requests and garbage.
class raw_client {
public:
    explicit raw_client(std::uint16_t port);
    ~raw_client();

    raw_client(const raw_client&) = delete;
    raw_client& operator=(const raw_client&) = delete;

    /// False when the connect failed.
    bool connected() const { return fd_ >= 0; }

    /// Writes all of `bytes`; false when the server closed or reset the connection.
    bool send(std::string_view bytes);

    /// Signals the end of what we send (the server then reads EOF).
    void finish_sending();

    /// Everything the server sends until it closes the connection or `limit` passes; nullopt
    /// when it was still open at the end of `limit`.
    std::optional<std::string> read_until_closed(std::chrono::milliseconds limit);

    /// True when the server has closed (or reset) the connection within `limit`; whatever it
    /// sent before closing is ignored.
    bool closed_within(std::chrono::milliseconds limit);

private:
    int fd_ = -1;
};

/// The status code of the first HTTP response in `bytes`, or 0 when there is none.
unsigned first_status(std::string_view bytes);

}  // namespace analytics::test
