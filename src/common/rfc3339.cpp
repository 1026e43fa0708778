#include "common/rfc3339.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>

namespace analytics::common {

namespace {

namespace chr = std::chrono;

constexpr std::int64_t k_micros_per_second = 1'000'000;

// `YYYY-MM-DDTHH:MM:SS` is 19 bytes, a fraction at most 10 (`.` and nine digits, nanoseconds,
// the finest any producer we know writes) and an offset at most 6, so nothing longer can be
// valid and the parser can refuse it before looking at it.
constexpr std::size_t k_max_fraction_digits = 9;
constexpr std::size_t k_max_input = 19 + 1 + k_max_fraction_digits + 6;

// `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
constexpr std::size_t k_max_output = 27;

// Microseconds since 1970-01-01T00:00:00Z at the start of `day`. The calendar is the proleptic
// Gregorian one of <chrono>: pure arithmetic, independent of the time zone and the locale.
constexpr std::int64_t micros_at(chr::sys_days day)
{
    return chr::duration_cast<chr::microseconds>(day.time_since_epoch()).count();
}

// Timestamps are years 0001..9999 once normalised to UTC, the range four digits hold.
constexpr std::int64_t k_min_micros = micros_at(chr::year{1} / 1 / 1);
constexpr std::int64_t k_max_micros = micros_at(chr::year{10000} / 1 / 1) - 1;

constexpr bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

// Reads exactly `n` ASCII digits at `pos`; std::isdigit would depend on the locale.
std::optional<unsigned> digits(std::string_view s, std::size_t pos, std::size_t n)
{
    if (pos + n > s.size()) {
        return std::nullopt;
    }
    unsigned value = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
        if (!is_digit(s[i])) {
            return std::nullopt;
        }
        value = value * 10 + static_cast<unsigned>(s[i] - '0');
    }
    return value;
}

bool char_at(std::string_view s, std::size_t pos, char expected)
{
    return pos < s.size() && s[pos] == expected;
}

// Writes `value` as exactly `width` digits ending just before `end`.
void put_digits(char* end, unsigned value, int width)
{
    for (int i = 0; i < width; ++i) {
        *--end = static_cast<char>('0' + value % 10);
        value /= 10;
    }
}

// Formats into `buffer`, returning the length. A hand-built timestamp outside 0001..9999 is
// clamped to that range rather than printed as something no parser would read back.
std::size_t format_into(std::array<char, k_max_output>& buffer, const timestamp& t)
{
    const chr::sys_time<chr::microseconds> instant{
        chr::microseconds{std::clamp(t.micros, k_min_micros, k_max_micros)}};
    // floor, not a cast: instants before 1970 still have a non-negative time of day.
    const chr::sys_days day = chr::floor<chr::days>(instant);
    const chr::year_month_day date{day};
    const chr::hh_mm_ss time{instant - day};
    const auto fraction = static_cast<unsigned>(time.subseconds().count());

    char* p = buffer.data();
    put_digits(p + 4, static_cast<unsigned>(static_cast<int>(date.year())), 4);
    p[4] = '-';
    put_digits(p + 7, static_cast<unsigned>(date.month()), 2);
    p[7] = '-';
    put_digits(p + 10, static_cast<unsigned>(date.day()), 2);
    p[10] = 'T';
    put_digits(p + 13, static_cast<unsigned>(time.hours().count()), 2);
    p[13] = ':';
    put_digits(p + 16, static_cast<unsigned>(time.minutes().count()), 2);
    p[16] = ':';
    put_digits(p + 19, static_cast<unsigned>(time.seconds().count()), 2);
    std::size_t n = 19;

    const int fraction_digits = std::clamp(t.fraction_digits, 0, 6);
    if (fraction_digits > 0) {
        p[n++] = '.';
        unsigned kept = fraction;
        for (int i = fraction_digits; i < 6; ++i) {
            kept /= 10;
        }
        put_digits(p + n + static_cast<std::size_t>(fraction_digits), kept, fraction_digits);
        n += static_cast<std::size_t>(fraction_digits);
    }
    p[n++] = 'Z';
    return n;
}

}  // namespace

std::optional<timestamp> parse_rfc3339(std::string_view text)
{
    if (text.size() < 20 || text.size() > k_max_input) {
        return std::nullopt;
    }

    const auto year = digits(text, 0, 4);
    const auto month = digits(text, 5, 2);
    const auto day = digits(text, 8, 2);
    const auto hour = digits(text, 11, 2);
    const auto minute = digits(text, 14, 2);
    const auto second = digits(text, 17, 2);
    const char separator = text[10];
    if (!year || !month || !day || !hour || !minute || !second || text[4] != '-' ||
        text[7] != '-' || text[13] != ':' || text[16] != ':' ||
        (separator != 'T' && separator != 't' && separator != ' ')) {
        return std::nullopt;
    }
    // ok(): a month of 1..12 and a day that month has in that year (29 February in leap years).
    // Seconds stop at 59: a leap second (`:60`) has no Unix time of its own, and accepting it
    // would silently alias the next second.
    const chr::year_month_day date{chr::year{static_cast<int>(*year)}, chr::month{*month},
                                   chr::day{*day}};
    if (!date.ok() || *hour > 23 || *minute > 59 || *second > 59) {
        return std::nullopt;
    }

    std::size_t pos = 19;
    timestamp out;
    std::int64_t fraction_micros = 0;
    if (char_at(text, pos, '.')) {
        ++pos;
        const std::size_t first = pos;
        while (pos < text.size() && is_digit(text[pos])) {
            ++pos;
        }
        const std::size_t count = pos - first;
        if (count == 0 || count > k_max_fraction_digits) {
            return std::nullopt;
        }
        // Digits beyond the sixth are truncated (the header's contract), never rounded, so a
        // value cannot roll over into the next second.
        for (std::size_t i = 0; i < 6; ++i) {
            fraction_micros *= 10;
            if (i < count) {
                fraction_micros += text[first + i] - '0';
            }
        }
        out.fraction_digits = static_cast<int>(std::min<std::size_t>(count, 6));
    }

    std::int64_t offset_seconds = 0;
    if (char_at(text, pos, 'Z') || char_at(text, pos, 'z')) {
        ++pos;
    } else if (char_at(text, pos, '+') || char_at(text, pos, '-')) {
        const bool negative = text[pos] == '-';
        const auto offset_hour = digits(text, pos + 1, 2);
        const auto offset_minute = digits(text, pos + 4, 2);
        if (!offset_hour || !offset_minute || !char_at(text, pos + 3, ':') || *offset_hour > 23 ||
            *offset_minute > 59) {
            return std::nullopt;
        }
        offset_seconds = static_cast<std::int64_t>(*offset_hour) * 3600 + *offset_minute * 60;
        if (negative) {
            offset_seconds = -offset_seconds;
        }
        pos += 6;
    } else {
        return std::nullopt;
    }
    if (pos != text.size()) {
        return std::nullopt;
    }

    // Local time minus its offset is UTC: 12:00+02:00 is 10:00Z.
    const std::int64_t local_seconds = micros_at(date) / k_micros_per_second + *hour * 3600 +
                                       *minute * 60 + *second;
    out.micros = (local_seconds - offset_seconds) * k_micros_per_second + fraction_micros;
    if (out.micros < k_min_micros || out.micros > k_max_micros) {
        return std::nullopt;
    }
    return out;
}

std::string format_rfc3339(const timestamp& t)
{
    std::string out;
    out.reserve(k_max_output);
    append_rfc3339(out, t);
    return out;
}

void append_rfc3339(std::string& out, const timestamp& t)
{
    // Built on the stack and appended once, so a caller that reserved room pays no allocation.
    std::array<char, k_max_output> buffer{};
    const std::size_t n = format_into(buffer, t);
    out.append(buffer.data(), n);
}

std::string format_rfc3339_seconds(std::int64_t unix_seconds)
{
    // Clamp before multiplying so that an absurd input cannot overflow; format_into clamps
    // to the printable range anyway.
    constexpr std::int64_t limit = k_max_micros / k_micros_per_second + 1;
    const std::int64_t seconds = std::clamp(unix_seconds, -limit, limit);
    return format_rfc3339(timestamp{seconds * k_micros_per_second, 0});
}

}  // namespace analytics::common
