#include "support/redis_admin.hpp"

#include "support/redis_tls.hpp"

#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>

#include <signal.h>
#include <spawn.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <set>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>

extern char** environ;

namespace analytics::test {

namespace net = boost::asio;
using namespace std::chrono_literals;

namespace {

std::mutex tls_ports_mutex;
std::set<std::uint16_t> tls_ports;  // of this process's TLS redis_process objects

void set_tls_port(std::uint16_t port, bool tls)
{
    const std::lock_guard lock(tls_ports_mutex);
    if (tls) {
        tls_ports.insert(port);
    } else {
        tls_ports.erase(port);
    }
}

}  // namespace

bool redis_tls_run()
{
    const char* v = std::getenv("REDIS_TEST_TLS");
    return v != nullptr && std::string_view(v) == "1";
}

bool is_tls_port(std::uint16_t port)
{
    const std::lock_guard lock(tls_ports_mutex);
    return tls_ports.contains(port);
}

admin_connection::admin_connection(std::uint16_t port, std::string_view password) : socket_(ioc_)
{
    socket_.connect({net::ip::make_address("127.0.0.1"), port});
    if (is_tls_port(port)) {
        tls_context_ = std::make_unique<net::ssl::context>(net::ssl::context::tls_client);
        // Whatever certificate the server presents (some tests give it a bad one on purpose);
        // the client certificate serves servers that require one.
        tls_context_->set_verify_mode(net::ssl::verify_none);
        tls_context_->use_certificate_chain_file(shared_pki().client().cert_file);
        tls_context_->use_private_key_file(shared_pki().client().key_file, net::ssl::context::pem);
        tls_ = std::make_unique<net::ssl::stream<net::ip::tcp::socket&>>(socket_, *tls_context_);
        tls_->handshake(net::ssl::stream_base::client);
    }
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
    send(out);
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
    send(out);
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

void admin_connection::send(const std::string& bytes)
{
    if (tls_) {
        net::write(*tls_, net::buffer(bytes));
    } else {
        net::write(socket_, net::buffer(bytes));
    }
}

std::string admin_connection::read_bulk(const std::string& line)
{
    const long len = std::stol(line.substr(1));
    if (len < 0) {
        return {};
    }
    const auto need = static_cast<std::size_t>(len) + 2;
    if (buffer_.size() < need) {
        const auto more = net::transfer_exactly(need - buffer_.size());
        if (tls_) {
            net::read(*tls_, net::dynamic_buffer(buffer_), more);
        } else {
            net::read(socket_, net::dynamic_buffer(buffer_), more);
        }
    }
    std::string value = buffer_.substr(0, static_cast<std::size_t>(len));
    buffer_.erase(0, need);
    return value;
}

std::string admin_connection::read_line()
{
    const std::size_t n = tls_ ? net::read_until(*tls_, net::dynamic_buffer(buffer_), "\r\n")
                               : net::read_until(socket_, net::dynamic_buffer(buffer_), "\r\n");
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

redis_process::redis_process(std::vector<std::string> extra_args, std::string password,
                             bool tls)
    : port_(free_port()), extra_args_(std::move(extra_args)), password_(std::move(password))
{
    if (tls) {
        tls_port_ = port_;
        set_tls_port(port_, true);
        const test_pki& pki = shared_pki();
        // TLS only, so that nothing reaches it over plain TCP unnoticed. Client certificates are
        // verified when a client presents one, required only when a test adds
        // "--tls-auth-clients", "yes".
        extra_args_.insert(extra_args_.begin(),
                           {"--port", "0", "--tls-port", std::to_string(port_), "--tls-cert-file",
                            pki.good().cert_file, "--tls-key-file", pki.good().key_file,
                            "--tls-ca-cert-file", pki.ca_file(), "--tls-auth-clients",
                            "optional"});
    }
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
    if (tls_port_ != 0) {
        set_tls_port(port_, false);
    }
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
