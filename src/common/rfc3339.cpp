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

// "00" to "99": one lookup writes two digits, where a division per digit costs more than the
// rest of the formatting.
constexpr std::array<char, 200> k_two_digits = [] {
    std::array<char, 200> out{};
    for (std::size_t i = 0; i < 100; ++i) {
        out[2 * i] = static_cast<char>('0' + i / 10);
        out[2 * i + 1] = static_cast<char>('0' + i % 10);
    }
    return out;
}();

void put_two(char* at, unsigned value)
{
    std::copy_n(k_two_digits.data() + 2 * value, 2, at);
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
    out.reserve(rfc3339_max_size);
    append_rfc3339(out, t);
    return out;
}

void append_rfc3339(std::string& out, const timestamp& t)
{
    // Built on the stack and appended once, so a caller that reserved room pays no allocation.
    std::array<char, rfc3339_max_size> buffer;
    out.append(buffer.data(), write_rfc3339(buffer.data(), t));
}

char* write_rfc3339(char* out, const timestamp& t) noexcept
{
    return rfc3339_writer{}.write(out, t);
}

// A hand-built timestamp outside 0001..9999 is clamped to that range rather than printed as
// something no parser would read back. Lists format one of these per item, hence the digit
// pairs from a table and the second kept from the last call.
char* rfc3339_writer::write(char* out, const timestamp& t) noexcept
{
    const chr::sys_time<chr::microseconds> instant{
        chr::microseconds{std::clamp(t.micros, k_min_micros, k_max_micros)}};
    // floor, not a cast: instants before 1970 still have a non-negative time of day.
    const auto second = chr::floor<chr::seconds>(instant);
    if (second.time_since_epoch().count() != second_) {
        second_ = second.time_since_epoch().count();
        const chr::sys_days day = chr::floor<chr::days>(second);
        char* p = text_.data();
        if (day.time_since_epoch().count() != day_) {
            day_ = day.time_since_epoch().count();
            const chr::year_month_day date{day};
            const auto year = static_cast<unsigned>(static_cast<int>(date.year()));
            put_two(p, year / 100);
            put_two(p + 2, year % 100);
            p[4] = '-';
            put_two(p + 5, static_cast<unsigned>(date.month()));
            p[7] = '-';
            put_two(p + 8, static_cast<unsigned>(date.day()));
            p[10] = 'T';
        }
        const auto of_day = static_cast<unsigned>((second - day).count());
        put_two(p + 11, of_day / 3600);
        p[13] = ':';
        put_two(p + 14, of_day / 60 % 60);
        p[16] = ':';
        put_two(p + 17, of_day % 60);
    }
    char* p = std::copy(text_.begin(), text_.end(), out);

    const int fraction_digits = std::clamp(t.fraction_digits, 0, 6);
    if (fraction_digits > 0) {
        const auto fraction = static_cast<unsigned>((instant - second).count());
        *p++ = '.';
        // All six digits, of which the first `fraction_digits` are kept.
        put_two(p, fraction / 10'000);
        put_two(p + 2, fraction / 100 % 100);
        put_two(p + 4, fraction % 100);
        p += fraction_digits;
    }
    *p++ = 'Z';
    return p;
}

std::string format_rfc3339_seconds(std::int64_t unix_seconds)
{
    // Clamp before multiplying so that an absurd input cannot overflow; the formatting clamps
    // to the printable range anyway.
    constexpr std::int64_t limit = k_max_micros / k_micros_per_second + 1;
    const std::int64_t seconds = std::clamp(unix_seconds, -limit, limit);
    return format_rfc3339(timestamp{seconds * k_micros_per_second, 0});
}

}  // namespace analytics::common
