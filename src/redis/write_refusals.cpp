#include "redis/write_refusals.hpp"

namespace analytics::redis {

namespace {

// The error prefixes Redis answers a refused write with (the first word of the error reply).
constexpr std::array<std::string_view, write_refusals::kind_count> prefixes{"OOM ", "READONLY ",
                                                                            "MISCONF "};

std::optional<write_refusals::kind> kind_of(std::string_view error) noexcept
{
    for (std::size_t i = 0; i < prefixes.size(); ++i) {
        if (error.starts_with(prefixes[i])) {
            return static_cast<write_refusals::kind>(i);
        }
    }
    return std::nullopt;
}

}  // namespace

write_refusals::write_refusals(const common::clock& clock, std::chrono::milliseconds quiet)
    : incident_("redis.writes_refused", quiet, clock)
{
}

bool write_refusals::is_refusal(std::string_view error) noexcept
{
    return kind_of(error).has_value();
}

std::string_view write_refusals::name(kind k) noexcept
{
    switch (k) {
    case kind::oom:
        return "oom";
    case kind::readonly:
        return "readonly";
    case kind::misconf:
        return "misconf";
    }
    return "unknown";
}

void write_refusals::observe(const boost::system::result<reply>& outcome)
{
    if (outcome) {
        observe(std::span<const reply>(&*outcome, 1));
    }
}

void write_refusals::observe(std::span<const reply> replies)
{
    // The replies of a transaction's commands are the elements of EXEC's array.
    const reply* refused = nullptr;
    bool any_error = false;
    auto look_at = [&](const reply& r) {
        if (r.is_error()) {
            any_error = true;
            if (refused == nullptr && kind_of(r.str)) {
                refused = &r;
            }
        }
    };
    for (const auto& r : replies) {
        look_at(r);
        if (r.type == reply::kind::array) {
            for (const auto& element : r.elements) {
                look_at(element);
            }
        }
    }
    if (refused == nullptr) {
        if (!any_error) {
            incident_.recovered();
        }
        return;
    }
    const auto k = *kind_of(refused->str);
    totals_[static_cast<std::size_t>(k)].fetch_add(1, std::memory_order_relaxed);
    last_kind_.store(static_cast<unsigned>(k), std::memory_order_relaxed);
    // The first refusal of an incident is logged with its reply; the rest are counted.
    incident_.occurred(
        {{"kind", name(k)}, {"error", std::string_view(refused->str).substr(0, 200)}});
}

}  // namespace analytics::redis
