#pragma once
// Process figures in the Prometheus conventions (process_cpu_seconds_total,
// process_resident_memory_bytes, process_open_fds, process_start_time_seconds), read from /proc
// at scrape time, plus the build's version.
//
// Thread safety: stateless; safe from any thread.

#include <string>
#include <string_view>

namespace analytics::telemetry {

/// Appends the process families to `out`. `start_unix_seconds` is when the process started.
void write_process_metrics(std::string& out, double start_unix_seconds, std::string_view version);

}  // namespace analytics::telemetry
