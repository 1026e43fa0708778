#include "telemetry/process_metrics.hpp"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "telemetry/registry.hpp"

namespace analytics::telemetry {

namespace {

// utime + stime of this process, in seconds (fields 14 and 15 of /proc/self/stat).
double cpu_seconds()
{
    std::ifstream in("/proc/self/stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // The command name (field 2) may hold spaces; fields are counted after its closing ')'.
    const auto close = text.rfind(')');
    if (close == std::string::npos) {
        return 0;
    }
    std::istringstream fields(text.substr(close + 2));
    std::string field;
    unsigned long long utime = 0;
    unsigned long long stime = 0;
    for (int i = 3; i <= 15 && fields >> field; ++i) {
        if (i == 14) {
            utime = std::stoull(field);
        } else if (i == 15) {
            stime = std::stoull(field);
        }
    }
    return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double resident_bytes()
{
    std::ifstream in("/proc/self/statm");
    unsigned long long size = 0;
    unsigned long long resident = 0;
    in >> size >> resident;
    return static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE));
}

double open_fds()
{
    std::error_code ec;
    std::size_t n = 0;
    for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
        ++n;
    }
    return static_cast<double>(n);
}

}  // namespace

void write_process_metrics(std::string& out, double start_unix_seconds, std::string_view version)
{
    write_header(out, "process_cpu_seconds_total", "counter",
                 "User and system CPU time spent, in seconds.");
    write_sample(out, "process_cpu_seconds_total", "", cpu_seconds());
    write_header(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    write_sample(out, "process_resident_memory_bytes", "", resident_bytes());
    write_header(out, "process_open_fds", "gauge", "Open file descriptors.");
    write_sample(out, "process_open_fds", "", open_fds());
    write_header(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
    write_sample(out, "process_max_fds", "", static_cast<double>(::sysconf(_SC_OPEN_MAX)));
    write_header(out, "process_start_time_seconds", "gauge",
                 "Start time of the process since the Unix epoch, in seconds.");
    write_sample(out, "process_start_time_seconds", "", start_unix_seconds);
    write_header(out, "analytics_build_info", "gauge", "The running build; the value is 1.");
    write_sample(out, "analytics_build_info", "version=\"" + std::string(version) + "\"", 1);
}

}  // namespace analytics::telemetry
