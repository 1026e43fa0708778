#pragma once
// nginx as a load balancer in front of instances on loopback, for fleet tests: the project's
// own deploy/nginx/proxy.conf and server.conf, included in a configuration written to a
// temporary directory (its pid file, logs and temp paths there too), with an upstream block
// listing the given ports. One process (no master, no daemon), stopped by PID.

#include <chrono>
#include <cstdint>
#include <string>
#include <sys/types.h>
#include <vector>

namespace analytics::test {

class nginx_process {
public:
    /// Starts nginx on a free loopback port in front of 127.0.0.1:`ports`; waits until it
    /// accepts connections. `fail_timeout` is how long an instance that refused a connection
    /// is left alone.
    explicit nginx_process(const std::vector<std::uint16_t>& ports,
                           std::chrono::seconds fail_timeout = std::chrono::seconds(1));
    ~nginx_process();

    nginx_process(const nginx_process&) = delete;
    nginx_process& operator=(const nginx_process&) = delete;

    std::uint16_t port() const { return port_; }

    /// Its access log (one JSON object per line, deploy/nginx/proxy.conf's format).
    std::vector<std::string> access_log() const;

    /// Its error log.
    std::string error_log() const;

private:
    void stop();

    std::string dir_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
};

}  // namespace analytics::test
