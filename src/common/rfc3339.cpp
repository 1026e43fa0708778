#include "common/rfc3339.hpp"

#include <algorithm>
#include <array>
#include <cstddef>

namespace analytics::common {

namespace {

constexpr std::int64_t k_micros_per_second = 1'000'000;
constexpr std::int64_t k_seconds_per_day = 86'400;

// `YYYY-MM-DDTHH:MM:SS` is 19 bytes, a fraction at most 10 (`.` and nine digits, nanoseconds,
// the finest any producer we know writes) and an offset at most 6, so nothing longer can be
// valid and the parser can refuse it before looking at it.
constexpr std::size_t k_max_fraction_digits = 9;
constexpr std::size_t k_max_input = 19 + 1 + k_max_fraction_digits + 6;

// `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
constexpr std::size_t k_max_output = 27;

// Howard Hinnant's days_from_civil: days since 1970-01-01 in the proleptic Gregorian calendar.
// Pure arithmetic, so the result does not depend on the process's time zone or locale.
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct civil_date {
    std::int64_t year;
    unsigned month;
    unsigned day;
};

// The inverse of days_from_civil.
constexpr civil_date civil_from_days(std::int64_t z)
{
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned d = doy - (153 * mp + 2) / 5 + 1;
    const unsigned m = mp < 10 ? mp + 3 : mp - 9;
    return {static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0), m, d};
}

constexpr bool is_leap(std::int64_t y)
{
    return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
}

constexpr unsigned days_in_month(std::int64_t y, unsigned m)
{
    constexpr std::array<unsigned, 12> days{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

// Timestamps are years 0001..9999 once normalised to UTC, the range four digits hold.
constexpr std::int64_t k_min_micros =
    days_from_civil(1, 1, 1) * k_seconds_per_day * k_micros_per_second;
constexpr std::int64_t k_max_micros =
    days_from_civil(10000, 1, 1) * k_seconds_per_day * k_micros_per_second - 1;

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
    const std::int64_t micros = std::clamp(t.micros, k_min_micros, k_max_micros);
    // Floor division: instants before 1970 still have a non-negative time of day.
    const std::int64_t micros_per_day = k_seconds_per_day * k_micros_per_second;
    std::int64_t days = micros / micros_per_day;
    std::int64_t in_day = micros % micros_per_day;
    if (in_day < 0) {
        in_day += micros_per_day;
        --days;
    }
    const civil_date date = civil_from_days(days);
    const auto second_of_day = static_cast<unsigned>(in_day / k_micros_per_second);
    const auto fraction = static_cast<unsigned>(in_day % k_micros_per_second);

    char* p = buffer.data();
    put_digits(p + 4, static_cast<unsigned>(date.year), 4);
    p[4] = '-';
    put_digits(p + 7, date.month, 2);
    p[7] = '-';
    put_digits(p + 10, date.day, 2);
    p[10] = 'T';
    put_digits(p + 13, second_of_day / 3600, 2);
    p[13] = ':';
    put_digits(p + 16, second_of_day / 60 % 60, 2);
    p[16] = ':';
    put_digits(p + 19, second_of_day % 60, 2);
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
    // Seconds stop at 59: a leap second (`:60`) has no Unix time of its own, and accepting it
    // would silently alias the next second.
    if (*month < 1 || *month > 12 || *day < 1 || *day > days_in_month(*year, *month) ||
        *hour > 23 || *minute > 59 || *second > 59) {
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
    const std::int64_t local_seconds = days_from_civil(*year, *month, *day) * k_seconds_per_day +
                                       *hour * 3600 + *minute * 60 + *second;
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
