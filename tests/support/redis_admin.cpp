#include "support/redis_admin.hpp"

#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>

#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include <filesystem>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>

extern char** environ;

namespace analytics::test {

namespace net = boost::asio;
using namespace std::chrono_literals;

admin_connection::admin_connection(std::uint16_t port, std::string_view password) : socket_(ioc_)
{
    socket_.connect({net::ip::make_address("127.0.0.1"), port});
    if (!password.empty()) {
        const std::string r = command({"AUTH", password});
        if (r != "+OK") {
            throw std::runtime_error("AUTH failed: " + r);
        }
    }
}

std::string admin_connection::command(std::initializer_list<std::string_view> args)
{
    return command(std::vector<std::string>(args.begin(), args.end()));
}

std::string admin_connection::command(const std::vector<std::string>& args)
{
    std::string out = "*" + std::to_string(args.size()) + "\r\n";
    for (const auto& a : args) {
        out += "$" + std::to_string(a.size()) + "\r\n";
        out += a;
        out += "\r\n";
    }
    net::write(socket_, net::buffer(out));
    return read_reply();
}

long long admin_connection::integer(std::initializer_list<std::string_view> args)
{
    const std::string r = command(args);
    if (r.empty() || r[0] != ':') {
        throw std::runtime_error("expected an integer reply, got " + r);
    }
    return std::stoll(r.substr(1));
}

std::vector<std::string> admin_connection::strings(const std::vector<std::string>& args)
{
    std::string out = "*" + std::to_string(args.size()) + "\r\n";
    for (const auto& a : args) {
        out += "$" + std::to_string(a.size()) + "\r\n";
        out += a;
        out += "\r\n";
    }
    net::write(socket_, net::buffer(out));
    const std::string line = read_line();
    if (line.starts_with('$')) {
        return {read_bulk(line)};
    }
    if (!line.starts_with('*')) {
        throw std::runtime_error("expected an array reply, got " + line);
    }
    std::vector<std::string> elements;
    const long count = std::stol(line.substr(1));
    for (long i = 0; i < count; ++i) {
        const std::string element = read_line();
        if (!element.starts_with('$')) {
            throw std::runtime_error("expected a string element, got " + element);
        }
        elements.push_back(read_bulk(element));
    }
    return elements;
}

std::string admin_connection::read_bulk(const std::string& line)
{
    const long len = std::stol(line.substr(1));
    if (len < 0) {
        return {};
    }
    const auto need = static_cast<std::size_t>(len) + 2;
    if (buffer_.size() < need) {
        net::read(socket_, net::dynamic_buffer(buffer_),
                  net::transfer_exactly(need - buffer_.size()));
    }
    std::string value = buffer_.substr(0, static_cast<std::size_t>(len));
    buffer_.erase(0, need);
    return value;
}

std::string admin_connection::read_line()
{
    const std::size_t n = net::read_until(socket_, net::dynamic_buffer(buffer_), "\r\n");
    std::string line = buffer_.substr(0, n - 2);
    buffer_.erase(0, n);
    return line;
}

std::string admin_connection::read_reply()
{
    const std::string line = read_line();
    if (line.empty()) {
        throw std::runtime_error("empty reply line");
    }
    if (line[0] == '$') {
        if (std::stol(line.substr(1)) < 0) {
            return "$nil";
        }
        return "$" + read_bulk(line);
    }
    if (line[0] == '*') {
        std::string value = line;
        const long count = std::stol(line.substr(1));
        for (long i = 0; i < count; ++i) {
            value += " " + read_reply();
        }
        return value;
    }
    return line;
}

std::uint16_t free_port()
{
    net::io_context ioc;
    net::ip::tcp::acceptor acceptor(ioc, {net::ip::make_address("127.0.0.1"), 0});
    return acceptor.local_endpoint().port();
}

void wait_until_answering(std::uint16_t port, std::string_view password,
                          std::chrono::milliseconds limit)
{
    const auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        try {
            admin_connection admin(port, password);
            if (admin.command({"PING"}) == "+PONG") {
                return;
            }
        } catch (const std::exception&) {
            // Not listening yet.
        }
        if (std::chrono::steady_clock::now() >= deadline) {
            throw std::runtime_error("redis-server on port " + std::to_string(port) +
                                     " did not answer");
        }
        std::this_thread::sleep_for(10ms);
    }
}

redis_process::redis_process(std::vector<std::string> extra_args, std::string password)
    : port_(free_port()), extra_args_(std::move(extra_args)), password_(std::move(password))
{
    std::string dir_template =
        (std::filesystem::temp_directory_path() / "analytics-redis-test-XXXXXX").string();
    if (::mkdtemp(dir_template.data()) == nullptr) {
        throw std::runtime_error("mkdtemp failed");
    }
    dir_ = dir_template;
    start();
}

redis_process::~redis_process()
{
    kill();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
}

void redis_process::start()
{
    std::vector<std::string> args{"redis-server",
                                  "--port",
                                  std::to_string(port_),
                                  "--bind",
                                  "127.0.0.1",
                                  "--save",
                                  "",
                                  "--appendonly",
                                  "no",
                                  "--daemonize",
                                  "no",
                                  "--dir",
                                  dir_,
                                  "--logfile",
                                  dir_ + "/redis.log"};
    if (!password_.empty()) {
        args.insert(args.end(), {"--requirepass", password_});
    }
    // Later arguments win, so extra ones may override the defaults above (e.g. --appendonly yes).
    args.insert(args.end(), extra_args_.begin(), extra_args_.end());
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);
    if (::posix_spawnp(&pid_, "redis-server", nullptr, nullptr, argv.data(), environ) != 0) {
        pid_ = -1;
        throw std::runtime_error("cannot start redis-server");
    }
    wait_until_answering(port_, password_);
}

void redis_process::kill()
{
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }
}

void redis_process::freeze()
{
    ::kill(pid_, SIGSTOP);
}

void redis_process::thaw()
{
    ::kill(pid_, SIGCONT);
}

}  // namespace analytics::test
