#include "common/logging.hpp"

#include "common/json_escape.hpp"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <ctime>
#include <memory>
#include <mutex>

namespace analytics::log {

namespace {

std::atomic<int> g_min_level{static_cast<int>(level::info)};
std::atomic<format> g_format{format::json};

spdlog::logger& logger()
{
    // stdout, unbuffered per line, with our own line as the whole message.
    static std::shared_ptr<spdlog::logger> instance = [] {
        auto sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
        auto l = std::make_shared<spdlog::logger>("analytics", std::move(sink));
        l->set_pattern("%v");
        l->set_level(spdlog::level::trace);
        // Flushing is explicit (see write_line); the periodic flush bounds how long a buffered
        // access line may wait.
        l->flush_on(spdlog::level::off);
        spdlog::register_logger(l);
        spdlog::flush_every(std::chrono::seconds(1));
        return l;
    }();
    return *instance;
}

constexpr std::string_view level_name(level l)
{
    switch (l) {
    case level::debug:
        return "debug";
    case level::info:
        return "info";
    case level::warning:
        return "warning";
    case level::error:
        return "error";
    }
    return "info";
}

void append_now(std::string& out)
{
    const auto now = std::chrono::system_clock::now();
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch());
    const std::time_t secs = static_cast<std::time_t>(ms.count() / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    std::array<char, 32> buf{};
    const int n = std::snprintf(buf.data(), buf.size(), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                                tm.tm_sec, static_cast<int>(ms.count() % 1000));
    out.append(buf.data(), static_cast<std::size_t>(n));
}

template <class T>
void append_number(std::string& out, T v)
{
    std::array<char, 32> buf{};
    auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
    out.append(buf.data(), end);
}

void append_value_json(std::string& out, const field::value_type& v)
{
    if (const auto* s = std::get_if<std::string_view>(&v)) {
        out.push_back('"');
        common::append_json_escaped(out, *s);
        out.push_back('"');
    } else if (const auto* i = std::get_if<std::int64_t>(&v)) {
        append_number(out, *i);
    } else if (const auto* u = std::get_if<std::uint64_t>(&v)) {
        append_number(out, *u);
    } else if (const auto* d = std::get_if<double>(&v)) {
        if (std::isfinite(*d)) {
            append_number(out, *d);
        } else {
            out.append("null");
        }
    } else if (const auto* raw = std::get_if<raw_json>(&v)) {
        out.append(raw->text);
    } else {
        out.append(std::get<bool>(v) ? "true" : "false");
    }
}

void append_value_text(std::string& out, const field::value_type& v)
{
    if (const auto* s = std::get_if<std::string_view>(&v)) {
        const bool quote = s->empty() || s->find_first_of(" \"=\t\n") != std::string_view::npos;
        if (quote) {
            out.push_back('"');
            common::append_json_escaped(out, *s);
            out.push_back('"');
        } else {
            out.append(*s);
        }
    } else {
        append_value_json(out, v);
    }
}

spdlog::level::level_enum to_spdlog(level l)
{
    switch (l) {
    case level::debug:
        return spdlog::level::debug;
    case level::info:
        return spdlog::level::info;
    case level::warning:
        return spdlog::level::warn;
    case level::error:
        return spdlog::level::err;
    }
    return spdlog::level::info;
}

void write_line(level l, std::string_view event, std::initializer_list<field> fields,
                bool flush_now);

}  // namespace

void init(level min_level, format fmt)
{
    g_min_level.store(static_cast<int>(min_level), std::memory_order_relaxed);
    g_format.store(fmt, std::memory_order_relaxed);
    (void)logger();
}

bool enabled(level l) noexcept
{
    return static_cast<int>(l) >= g_min_level.load(std::memory_order_relaxed);
}

void write(level l, std::string_view event, std::initializer_list<field> fields)
{
    if (enabled(l)) {
        write_line(l, event, fields, true);
    }
}

void write_always(level l, std::string_view event, std::initializer_list<field> fields)
{
    write_line(l, event, fields, true);
}

void write_buffered(level l, std::string_view event, std::initializer_list<field> fields)
{
    if (enabled(l)) {
        write_line(l, event, fields, false);
    }
}

void flush()
{
    logger().flush();
}

namespace {

void write_line(level l, std::string_view event, std::initializer_list<field> fields,
                bool flush_now)
{
    // One reusable buffer per thread keeps logging free of per-line allocations.
    thread_local std::string line;
    line.clear();
    if (g_format.load(std::memory_order_relaxed) == format::json) {
        line.append(R"({"ts":")");
        append_now(line);
        line.append(R"(","level":")");
        line.append(level_name(l));
        line.append(R"(","event":")");
        common::append_json_escaped(line, event);
        line.push_back('"');
        for (const auto& f : fields) {
            line.append(",\"");
            common::append_json_escaped(line, f.name);
            line.append("\":");
            append_value_json(line, f.value);
        }
        line.push_back('}');
    } else {
        append_now(line);
        line.push_back(' ');
        std::string_view name = level_name(l);
        for (char c : name) {
            line.push_back(static_cast<char>(c - 'a' + 'A'));
        }
        line.push_back(' ');
        line.append(event);
        for (const auto& f : fields) {
            line.push_back(' ');
            line.append(f.name);
            line.push_back('=');
            append_value_text(line, f.value);
        }
    }
    auto& out = logger();
    out.log(to_spdlog(l), std::string_view(line));
    if (flush_now) {
        out.flush();
    }
}

}  // namespace

}  // namespace analytics::log
