#include "ratelimit/decision.hpp"

#include <algorithm>

namespace analytics::ratelimit {

namespace {

std::int64_t whole_seconds_rounded_up(std::chrono::milliseconds d) noexcept
{
    const std::int64_t ms = std::max<std::int64_t>(0, d.count());
    return (ms + 999) / 1000;
}

}  // namespace

std::string_view to_string(decision_source s) noexcept
{
    switch (s) {
    case decision_source::redis:
        return "redis";
    case decision_source::remembered_refusal:
        return "remembered_refusal";
    case decision_source::fail_open:
        return "fail_open";
    case decision_source::local_backstop:
        return "local_backstop";
    }
    return "unknown";
}

decision decision::fail_open(std::uint32_t limit, std::chrono::seconds window) noexcept
{
    decision d;
    d.allowed = true;
    d.limit = limit;
    d.window = window;
    d.source = decision_source::fail_open;
    return d;
}

std::int64_t decision::reset_seconds() const noexcept
{
    return whole_seconds_rounded_up(reset);
}

std::int64_t decision::retry_after_seconds() const noexcept
{
    return std::max<std::int64_t>(1, whole_seconds_rounded_up(retry_after));
}

}  // namespace analytics::ratelimit
