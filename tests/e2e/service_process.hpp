#pragma once
// Runs the real analytics-api binary as a child process for end-to-end tests: APP_PORT=0, the
// test redis-server, and any overrides; reads its JSON log lines from stdout and learns the
// port from the `server.listening` line.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <sys/types.h>
#include <thread>
#include <vector>

namespace analytics::test {

class service_process {
public:
    /// Starts the binary with the default test environment plus `env` (which wins), and waits
    /// until it listens and, when `wait_for_redis`, until every worker is connected to Redis.
    explicit service_process(std::map<std::string, std::string> overrides = {},
                             bool wait_for_redis = true);
    ~service_process();

    service_process(const service_process&) = delete;
    service_process& operator=(const service_process&) = delete;

    std::uint16_t port() const { return port_; }
    pid_t pid() const { return pid_; }

    /// Sends a signal to the child.
    void signal(int sig);

    /// Waits for the child to exit; returns its exit status (or -signal), nullopt on timeout.
    std::optional<int> wait_exit(std::chrono::milliseconds timeout);

    /// Every stdout line so far.
    std::vector<std::string> lines() const;

    /// Waits until a line containing `needle` appears; returns it.
    std::optional<std::string> wait_for_line(const std::string& needle,
                                             std::chrono::milliseconds timeout) const;

    /// Waits until at least `count` lines contain `needle`; false on timeout.
    bool wait_for_lines(const std::string& needle, std::size_t count,
                        std::chrono::milliseconds timeout) const;

    /// The environment every test starts from.
    static std::map<std::string, std::string> default_env();

private:
    void read_output(int fd);

    pid_t pid_ = -1;
    std::uint16_t port_ = 0;
    std::optional<int> exit_status_;
    std::thread reader_;
    mutable std::mutex mutex_;
    mutable std::condition_variable changed_;
    std::vector<std::string> lines_;
    bool eof_ = false;
};

}  // namespace analytics::test
