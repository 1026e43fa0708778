#pragma once
// Structured logs: one JSON object per line on stdout (or `key=value` text with LOG_FORMAT=text).
//
//     log::warn("ratelimit.fail_open", {{"client", ip}, {"error", ec.message()}});
//
// prints {"ts":"2026-02-19T12:00:00.123Z","level":"warning","event":"ratelimit.fail_open",...}.
// Field values are strings, integers, doubles or booleans; strings are JSON-escaped.
//
// Thread safety: every function may be called from any thread; a line is written atomically.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

namespace analytics::log {

enum class level { debug = 0, info = 1, warning = 2, error = 3 };
enum class format { json, text };

/// A value that is already serialised JSON (an object or array), embedded as is.
struct raw_json {
    std::string_view text;
};

struct field {
    using value_type =
        std::variant<std::string_view, std::int64_t, std::uint64_t, double, bool, raw_json>;

    field(std::string_view n, std::string_view v) : name(n), value(v) {}
    field(std::string_view n, const char* v) : name(n), value(std::string_view(v)) {}
    field(std::string_view n, const std::string& v) : name(n), value(std::string_view(v)) {}
    field(std::string_view n, bool v) : name(n), value(v) {}
    field(std::string_view n, raw_json v) : name(n), value(v) {}
    field(std::string_view n, double v) : name(n), value(v) {}
    field(std::string_view n, int v) : name(n), value(std::int64_t{v}) {}
    field(std::string_view n, long v) : name(n), value(std::int64_t{v}) {}
    field(std::string_view n, long long v) : name(n), value(std::int64_t{v}) {}
    field(std::string_view n, unsigned v) : name(n), value(std::uint64_t{v}) {}
    field(std::string_view n, unsigned long v) : name(n), value(std::uint64_t{v}) {}
    field(std::string_view n, unsigned long long v) : name(n), value(std::uint64_t{v}) {}

    std::string_view name;
    value_type value;
};

/// Configures the process-wide logger. Safe to call more than once (tests).
void init(level min_level, format fmt);

/// True when lines of `l` are written; check before building expensive fields.
bool enabled(level l) noexcept;

/// Writes one line when `l` is enabled.
void write(level l, std::string_view event, std::initializer_list<field> fields = {});

/// Writes one line whatever LOG_LEVEL says: for the few lifecycle events an operator (or a
/// script) must always see, such as the port the server listens on.
void write_always(level l, std::string_view event, std::initializer_list<field> fields = {});

/// Writes a high-volume line (the access log) when `l` is enabled, without flushing stdout:
/// such lines reach the output within a second, or with the next ordinary line, whichever is
/// first. Every other line is flushed at once.
void write_buffered(level l, std::string_view event, std::initializer_list<field> fields = {});

/// Flushes buffered lines (at shutdown).
void flush();

inline void debug(std::string_view event, std::initializer_list<field> fields = {})
{
    write(level::debug, event, fields);
}
inline void info(std::string_view event, std::initializer_list<field> fields = {})
{
    write(level::info, event, fields);
}
inline void warn(std::string_view event, std::initializer_list<field> fields = {})
{
    write(level::warning, event, fields);
}
inline void error(std::string_view event, std::initializer_list<field> fields = {})
{
    write(level::error, event, fields);
}

}  // namespace analytics::log
