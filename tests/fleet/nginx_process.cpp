#include "fleet/nginx_process.hpp"

#include "support/redis_admin.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <spawn.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>

extern char** environ;

namespace analytics::test {

namespace {

bool accepts(std::uint16_t port)
{
    boost::asio::io_context ioc;
    boost::asio::ip::tcp::socket s(ioc);
    boost::system::error_code ec;
    s.connect({boost::asio::ip::make_address("127.0.0.1"), port}, ec);
    return !ec;
}

std::string read_file(const std::string& path)
{
    std::ifstream in(path);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

}  // namespace

nginx_process::nginx_process(const std::vector<std::uint16_t>& ports,
                             std::chrono::seconds fail_timeout)
{
    std::string dir_template =
        (std::filesystem::temp_directory_path() / "analytics-nginx-test-XXXXXX").string();
    if (::mkdtemp(dir_template.data()) == nullptr) {
        throw std::runtime_error("mkdtemp failed");
    }
    dir_ = dir_template;
    std::filesystem::create_directories(dir_ + "/tmp");
    const std::string deploy = std::string(ANALYTICS_SOURCE_DIR) + "/deploy/nginx";

    // A port taken between free_port() and nginx's bind makes nginx exit: try another.
    for (int attempt = 0; attempt < 10 && pid_ < 0; ++attempt) {
        port_ = free_port();
        std::ostringstream conf;
        conf << "daemon off;\nmaster_process off;\nworker_processes 1;\n"
             << "pid " << dir_ << "/nginx.pid;\nerror_log " << dir_ << "/error.log warn;\n"
             << "events { worker_connections 1024; }\nhttp {\n"
             << "  client_body_temp_path " << dir_ << "/tmp/body;\n"
             << "  proxy_temp_path " << dir_ << "/tmp/proxy;\n"
             << "  fastcgi_temp_path " << dir_ << "/tmp/fastcgi;\n"
             << "  uwsgi_temp_path " << dir_ << "/tmp/uwsgi;\n"
             << "  scgi_temp_path " << dir_ << "/tmp/scgi;\n"
             << "  include " << deploy << "/proxy.conf;\n"
             << "  access_log " << dir_ << "/access.log analytics_json;\n"
             << "  upstream analytics_api {\n";
        for (const auto p : ports) {
            conf << "    server 127.0.0.1:" << p
                 << " max_fails=1 fail_timeout=" << fail_timeout.count() << "s;\n";
        }
        conf << "    keepalive 16;\n    keepalive_timeout 30s;\n  }\n"
             << "  server {\n    listen 127.0.0.1:" << port_ << ";\n"
             << "    include " << deploy << "/server.conf;\n  }\n}\n";
        std::ofstream(dir_ + "/nginx.conf") << conf.str();

        const std::string conf_path = dir_ + "/nginx.conf";
        const std::string error_path = dir_ + "/error.log";
        std::string binary = "/usr/sbin/nginx";
        std::vector<std::string> args{binary, "-p", dir_, "-c", conf_path, "-e", error_path};
        std::vector<char*> argv;
        for (auto& a : args) {
            argv.push_back(a.data());
        }
        argv.push_back(nullptr);
        pid_t pid = -1;
        if (::posix_spawn(&pid, binary.c_str(), nullptr, nullptr, argv.data(), environ) != 0) {
            throw std::runtime_error("cannot start " + binary);
        }
        pid_ = pid;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (!accepts(port_)) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;  // exited (most likely the port was taken): try another
                break;
            }
            if (std::chrono::steady_clock::now() > deadline) {
                stop();
                break;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
    if (pid_ < 0) {
        throw std::runtime_error("nginx did not start: " + error_log());
    }
}

nginx_process::~nginx_process()
{
    stop();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
}

void nginx_process::stop()
{
    if (pid_ < 0) {
        return;
    }
    ::kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 500 && ::waitpid(pid_, &status, WNOHANG) == 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (::waitpid(pid_, &status, WNOHANG) == 0) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
    }
    pid_ = -1;
}

std::vector<std::string> nginx_process::access_log() const
{
    std::vector<std::string> lines;
    std::istringstream in(read_file(dir_ + "/access.log"));
    std::string line;
    while (std::getline(in, line)) {
        lines.push_back(line);
    }
    return lines;
}

std::string nginx_process::error_log() const
{
    return read_file(dir_ + "/error.log");
}

}  // namespace analytics::test
