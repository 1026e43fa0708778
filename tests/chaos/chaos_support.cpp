#include "chaos/chaos_support.hpp"

#include <boost/json.hpp>

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <arpa/inet.h>
#include <cerrno>
#include <cmath>
#include <ctime>
#include <fstream>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sstream>
#include <sys/socket.h>

namespace analytics::test {

env_vars chaos_env(std::uint16_t redis_port, env_vars extra)
{
    extra.emplace("REDIS_PORT", std::to_string(redis_port));
    extra.emplace("RATE_LIMIT_REQUESTS", "100000000");
    extra.emplace("EXTERNAL_SERVICE_FAILURE_RATE", "0");
    return extra;
}

std::string metric_body(std::string_view type, long long value, std::string_view timestamp)
{
    return metric_body(timestamp, std::to_string(value), type);
}

double ms_between(steady::time_point from, steady::time_point to)
{
    return std::chrono::duration<double, std::milli>(to - from).count();
}

::testing::AssertionResult is_error(const http_reply& r, unsigned status, std::string_view code)
{
    if (r.status != status) {
        return ::testing::AssertionFailure() << "status " << r.status << ", body " << r.body;
    }
    if (r.header("content-type") != "application/json; charset=utf-8") {
        return ::testing::AssertionFailure() << "content type " << r.header("content-type");
    }
    if (r.header("x-request-id").empty()) {
        return ::testing::AssertionFailure() << "no X-Request-Id";
    }
    boost::system::error_code ec;
    const auto body = boost::json::parse(r.body, ec);
    if (ec || !body.is_object()) {
        return ::testing::AssertionFailure() << "body is not a JSON object: " << r.body;
    }
    const auto& obj = body.as_object();
    const auto* c = obj.if_contains("code");
    const auto* m = obj.if_contains("message");
    const auto* t = obj.if_contains("timestamp");
    if (c == nullptr || !c->is_string() || c->as_string() != code) {
        return ::testing::AssertionFailure() << "code is not " << code << ": " << r.body;
    }
    if (m == nullptr || !m->is_string() || m->as_string().empty() || t == nullptr ||
        !t->is_string()) {
        return ::testing::AssertionFailure() << "message or timestamp missing: " << r.body;
    }
    return ::testing::AssertionSuccess();
}

std::string error_code_of(const http_reply& r)
{
    boost::system::error_code ec;
    const auto body = boost::json::parse(r.body, ec);
    if (ec || !body.is_object()) {
        return {};
    }
    const auto* c = body.as_object().if_contains("code");
    return c != nullptr && c->is_string() ? std::string(c->as_string()) : std::string();
}

double percentile(std::vector<double> values, double p)
{
    if (values.empty()) {
        return 0;
    }
    std::sort(values.begin(), values.end());
    const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * values.size()));
    return values[std::min(values.size() - 1, rank == 0 ? 0 : rank - 1)];
}

long resident_kib(pid_t pid)
{
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) {
            std::istringstream in(line.substr(6));
            long kib = -1;
            in >> kib;
            return kib;
        }
    }
    return -1;
}

raw_client::raw_client(std::uint16_t port)
{
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) {
        return;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd_);
        fd_ = -1;
        return;
    }
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

raw_client::~raw_client()
{
    if (fd_ >= 0) {
        ::close(fd_);
    }
}

bool raw_client::send(std::string_view bytes)
{
    while (!bytes.empty()) {
        const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

void raw_client::finish_sending()
{
    ::shutdown(fd_, SHUT_WR);
}

std::optional<std::string> raw_client::read_until_closed(std::chrono::milliseconds limit)
{
    std::string out;
    const auto deadline = steady::now() + limit;
    char buf[4096];
    for (;;) {
        const auto left = std::max(
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()),
            std::chrono::milliseconds(0));
        pollfd p{fd_, POLLIN, 0};
        const int ready = ::poll(&p, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR) {
            continue;
        }
        if (ready <= 0) {
            return std::nullopt;
        }
        const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return out;  // EOF or reset: closed
        }
        out.append(buf, static_cast<std::size_t>(n));
    }
}

bool raw_client::closed_within(std::chrono::milliseconds limit)
{
    return read_until_closed(limit).has_value();
}

unsigned first_status(std::string_view bytes)
{
    // "HTTP/1.1 400 Bad Request\r\n..."
    if (bytes.size() < 12 || bytes.substr(0, 5) != "HTTP/") {
        return 0;
    }
    const auto space = bytes.find(' ');
    if (space == std::string_view::npos || bytes.size() < space + 4) {
        return 0;
    }
    unsigned status = 0;
    for (std::size_t i = space + 1; i < space + 4; ++i) {
        if (bytes[i] < '0' || bytes[i] > '9') {
            return 0;
        }
        status = status * 10 + static_cast<unsigned>(bytes[i] - '0');
    }
    return status;
}

}  // namespace analytics::test
