#include "e2e/service_process.hpp"

#include "e2e/http_client.hpp"
#include "support/redis_deployment.hpp"
#include "support/redis_server.hpp"
#include "support/redis_tls.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <spawn.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <sys/wait.h>

extern char** environ;

namespace analytics::test {

std::map<std::string, std::string> service_process::default_env()
{
    std::map<std::string, std::string> env{
        {"APP_HOST", "127.0.0.1"},
        {"APP_PORT", "0"},
        {"APP_THREADS", "2"},
        {"LOG_LEVEL", "INFO"},
        {"EXTERNAL_SERVICE_FAILURE_RATE", "0"},
    };
    env.merge(deployment_env());
    return env;
}

service_process::service_process(std::map<std::string, std::string> overrides, bool wait_for_redis)
{
    auto full = default_env();
    // A test that names a Redis of its own (a server it stops, a cluster it breaks, a closed
    // port) means that one whatever the deployment: none of the deployment's variables apply.
    if (overrides.contains("REDIS_PORT") || overrides.contains("REDIS_HOST") ||
        overrides.contains("REDIS_CLUSTER_NODES")) {
        for (const auto& [k, v] : deployment_env()) {
            full.erase(k);
        }
        full.emplace("REDIS_HOST", redis_test_host());
    }
    for (auto& [k, v] : overrides) {
        full[k] = v;
    }
    // A TLS test server is reached over TLS unless the test sets REDIS_TLS itself.
    if (const auto& port = full["REDIS_PORT"];
        overrides.count("REDIS_TLS") == 0 && !port.empty() &&
        port.find_first_not_of("0123456789") == std::string::npos && port.size() <= 5 &&
        is_tls_port(static_cast<std::uint16_t>(std::stoi(port)))) {
        full["REDIS_TLS"] = "true";
        full["REDIS_TLS_CA_FILE"] = shared_pki().ca_file();
    }
    // Start from the parent's environment (sanitizer options, PATH) minus our variables.
    std::vector<std::string> storage;
    for (char** e = environ; *e != nullptr; ++e) {
        std::string kv = *e;
        const auto eq = kv.find('=');
        if (eq != std::string::npos && full.count(kv.substr(0, eq)) == 0) {
            storage.push_back(std::move(kv));
        }
    }
    for (auto& [k, v] : full) {
        storage.push_back(k + "=" + v);
    }
    std::vector<char*> envp;
    for (auto& s : storage) {
        envp.push_back(s.data());
    }
    envp.push_back(nullptr);

    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
        throw std::runtime_error("pipe2 failed");
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    // The child runs in a directory without a .env file so only our variables apply.
    posix_spawn_file_actions_addchdir_np(&actions, "/");
    // ANALYTICS_TEST_BINARY points the tests at another build of the service: scripts/test-tsan.sh
    // runs them against its ThreadSanitizer build without compiling them again.
    const char* other_binary = std::getenv("ANALYTICS_TEST_BINARY");
    std::string binary =
        other_binary != nullptr && *other_binary != '\0' ? other_binary : ANALYTICS_BINARY_PATH;
    char* argv[] = {binary.data(), nullptr};
    const int rc = ::posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv, envp.data());
    posix_spawn_file_actions_destroy(&actions);
    ::close(fds[1]);
    if (rc != 0) {
        ::close(fds[0]);
        throw std::runtime_error(std::string("posix_spawn failed: ") + std::strerror(rc));
    }
    reader_ = std::thread([this, fd = fds[0]] { read_output(fd); });

    auto line = wait_for_line("\"server.listening\"", std::chrono::seconds(30));
    if (!line) {
        throw std::runtime_error("analytics-api did not report listening");
    }
    const auto pos = line->find("\"port\":");
    port_ = static_cast<std::uint16_t>(std::stoi(line->substr(pos + 7)));
    if (wait_for_redis && full.contains("REDIS_CLUSTER_NODES")) {
        // A cluster client connects to each master once it has read the slot map, through
        // connections of its own, so log lines do not say when every shard is connected;
        // /health does. Connection: close, and the answer read to the end: the test's own
        // connections find the service as if nobody had asked.
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        for (;;) {
            http_connection probe(port_, std::chrono::seconds(2));
            const auto health = probe.request("GET", "/health", {}, {{"Connection", "close"}});
            probe.wait_closed();
            if (health.status == 200 && health.json().as_object().at("redis_connected").as_bool()) {
                break;
            }
            if (std::chrono::steady_clock::now() > until) {
                throw std::runtime_error("analytics-api did not connect to every Redis shard");
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
    } else if (wait_for_redis) {
        const auto threads = static_cast<std::size_t>(std::stoul(full.at("APP_THREADS")));
        if (!wait_for_lines("\"redis.connected\"", threads, std::chrono::seconds(10))) {
            throw std::runtime_error("analytics-api did not connect to Redis");
        }
    }
}

bool service_process::wait_for_lines(const std::string& needle, std::size_t count,
                                     std::chrono::milliseconds timeout) const
{
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] {
        std::size_t seen = 0;
        for (const auto& l : lines_) {
            seen += l.find(needle) != std::string::npos ? 1 : 0;
        }
        return seen >= count || eof_;
    }) && std::count_if(lines_.begin(), lines_.end(), [&](const std::string& l) {
              return l.find(needle) != std::string::npos;
          }) >= static_cast<std::ptrdiff_t>(count);
}

service_process::~service_process()
{
    if (!exit_status_) {
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
    }
    if (reader_.joinable()) {
        reader_.join();
    }
}

void service_process::signal(int sig)
{
    ::kill(pid_, sig);
}

std::optional<int> service_process::wait_exit(std::chrono::milliseconds timeout)
{
    if (exit_status_) {
        return exit_status_;
    }
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
        int status = 0;
        const pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
            exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
            return exit_status_;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return std::nullopt;
}

void service_process::read_output(int fd)
{
    std::string pending;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        pending.append(buf, static_cast<std::size_t>(n));
        std::size_t nl;
        while ((nl = pending.find('\n')) != std::string::npos) {
            std::lock_guard lock(mutex_);
            lines_.push_back(pending.substr(0, nl));
            pending.erase(0, nl + 1);
            changed_.notify_all();
        }
    }
    ::close(fd);
    std::lock_guard lock(mutex_);
    eof_ = true;
    changed_.notify_all();
}

std::vector<std::string> service_process::lines() const
{
    std::lock_guard lock(mutex_);
    return lines_;
}

std::optional<std::string> service_process::wait_for_line(const std::string& needle,
                                                          std::chrono::milliseconds timeout) const
{
    std::unique_lock lock(mutex_);
    std::optional<std::string> found;
    changed_.wait_for(lock, timeout, [&] {
        for (const auto& l : lines_) {
            if (l.find(needle) != std::string::npos) {
                found = l;
                return true;
            }
        }
        return eof_;
    });
    return found;
}

}  // namespace analytics::test
