#include "common/rfc3339.hpp"

#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

namespace analytics::common {
namespace {

constexpr std::int64_t k_second = 1'000'000;

// 2026-02-19T12:00:00Z, the instant the examples below start from.
constexpr std::int64_t k_example = 1'771'502'400 * k_second;

timestamp parse(std::string_view text)
{
    const auto t = parse_rfc3339(text);
    EXPECT_TRUE(t) << text;
    return t.value_or(timestamp{});
}

TEST(parse_rfc3339, reads_a_utc_time_with_z)
{
    EXPECT_EQ(parse("2026-02-19T12:00:00Z"), (timestamp{k_example, 0}));
    EXPECT_EQ(parse("2026-02-19T12:00:00z"), (timestamp{k_example, 0}));
}

TEST(parse_rfc3339, reads_the_unix_epoch_as_zero)
{
    EXPECT_EQ(parse("1970-01-01T00:00:00Z").micros, 0);
    EXPECT_EQ(parse("1969-12-31T23:59:59Z").micros, -k_second);
}

TEST(parse_rfc3339, accepts_lowercase_t_and_a_space_as_the_separator)
{
    EXPECT_EQ(parse("2026-02-19t12:00:00Z").micros, k_example);
    EXPECT_EQ(parse("2026-02-19 12:00:00Z").micros, k_example);
}

TEST(parse_rfc3339, normalises_numeric_offsets_to_utc)
{
    EXPECT_EQ(parse("2026-02-19T14:00:00+02:00").micros, k_example);
    EXPECT_EQ(parse("2026-02-19T06:30:00-05:30").micros, k_example);
    EXPECT_EQ(parse("2026-02-19T12:00:00+00:00").micros, k_example);
    EXPECT_EQ(parse("2026-02-19T12:00:00-00:00").micros, k_example);
    EXPECT_EQ(parse("2026-02-20T11:59:00+23:59").micros, k_example);
    EXPECT_EQ(parse("2026-02-18T12:01:00-23:59").micros, k_example);
}

TEST(parse_rfc3339, crosses_day_month_and_year_boundaries_when_normalising)
{
    EXPECT_EQ(format_rfc3339(parse("2026-01-01T00:30:00+01:00")), "2025-12-31T23:30:00Z");
    EXPECT_EQ(format_rfc3339(parse("2024-02-28T23:00:00-02:00")), "2024-02-29T01:00:00Z");
}

TEST(parse_rfc3339, reads_fractions_of_one_to_nine_digits)
{
    EXPECT_EQ(parse("2026-02-19T12:00:00.5Z"), (timestamp{k_example + 500'000, 1}));
    EXPECT_EQ(parse("2026-02-19T12:00:00.25Z"), (timestamp{k_example + 250'000, 2}));
    EXPECT_EQ(parse("2026-02-19T12:00:00.125Z"), (timestamp{k_example + 125'000, 3}));
    EXPECT_EQ(parse("2026-02-19T12:00:00.0001Z"), (timestamp{k_example + 100, 4}));
    EXPECT_EQ(parse("2026-02-19T12:00:00.00001Z"), (timestamp{k_example + 10, 5}));
    EXPECT_EQ(parse("2026-02-19T12:00:00.123456Z"), (timestamp{k_example + 123'456, 6}));
    EXPECT_EQ(parse("2026-02-19T12:00:00.1234567Z"), (timestamp{k_example + 123'456, 6}));
    EXPECT_EQ(parse("2026-02-19T12:00:00.12345678Z"), (timestamp{k_example + 123'456, 6}));
    EXPECT_EQ(parse("2026-02-19T12:00:00.999999999Z"), (timestamp{k_example + 999'999, 6}));
}

TEST(parse_rfc3339, keeps_a_fraction_with_an_offset)
{
    EXPECT_EQ(parse("2026-02-19T13:00:00.5+01:00"), (timestamp{k_example + 500'000, 1}));
}

TEST(parse_rfc3339, keeps_trailing_zero_digits_of_the_fraction)
{
    EXPECT_EQ(parse("2026-02-19T12:00:00.000Z"), (timestamp{k_example, 3}));
}

TEST(parse_rfc3339, accepts_february_29_in_leap_years_only)
{
    EXPECT_TRUE(parse_rfc3339("2024-02-29T00:00:00Z"));
    EXPECT_TRUE(parse_rfc3339("2000-02-29T00:00:00Z"));
    EXPECT_FALSE(parse_rfc3339("2026-02-29T00:00:00Z"));
    EXPECT_FALSE(parse_rfc3339("1900-02-29T00:00:00Z"));
    EXPECT_FALSE(parse_rfc3339("2024-02-30T00:00:00Z"));
}

TEST(parse_rfc3339, rejects_days_past_the_end_of_the_month)
{
    EXPECT_TRUE(parse_rfc3339("2026-04-30T00:00:00Z"));
    EXPECT_FALSE(parse_rfc3339("2026-04-31T00:00:00Z"));
    EXPECT_TRUE(parse_rfc3339("2026-12-31T00:00:00Z"));
    EXPECT_FALSE(parse_rfc3339("2026-12-32T00:00:00Z"));
}

TEST(parse_rfc3339, rejects_out_of_range_fields)
{
    for (const std::string_view bad : {
             "2026-00-19T12:00:00Z",
             "2026-13-19T12:00:00Z",
             "2026-02-00T12:00:00Z",
             "2026-02-19T24:00:00Z",
             "2026-02-19T12:60:00Z",
             "2026-02-19T12:00:60Z",
             "2016-12-31T23:59:60Z",
             "2026-02-19T12:00:00+24:00",
             "2026-02-19T12:00:00+01:60",
         }) {
        EXPECT_FALSE(parse_rfc3339(bad)) << bad;
    }
}

TEST(parse_rfc3339, rejects_malformed_text)
{
    for (const std::string_view bad : {
             "",
             "2026",
             "2026-02-19",
             "2026-02-19T12:00:00",
             "2026-02-19T12:00Z",
             "2026-02-19T12:00:00ZZ",
             "2026-02-19T12:00:00Z ",
             " 2026-02-19T12:00:00Z",
             "2026-02-19T12:00:00Zjunk",
             "2026-02-19T12:00:00+0200",
             "2026-02-19T12:00:00+02",
             "2026-02-19T12:00:00+2:00",
             "2026-02-19T12:00:00.Z",
             "2026-02-19T12:00:00,5Z",
             "2026-02-19T12:00:00.1234567890Z",
             "2026-2-19T12:00:00Z",
             "26-02-19T12:00:00Z",
             "+2026-02-19T12:00:00Z",
             "2026/02/19T12:00:00Z",
             "2026-02-19X12:00:00Z",
             "2026-02-19T12:00:00 Z",
             "2026-02-19T1a:00:00Z",
             "２026-02-19T12:00:00Z",
             "2026-02-19T12:00:00.5+01:00:00",
             "2026-02-19T12:00:00Z2026-02-19T12:00:00Z",
         }) {
        EXPECT_FALSE(parse_rfc3339(bad)) << '"' << bad << '"';
    }
}

TEST(parse_rfc3339, rejects_overlong_input)
{
    const std::string long_fraction = "2026-02-19T12:00:00." + std::string(1000, '1') + "Z";
    EXPECT_FALSE(parse_rfc3339(long_fraction));
    EXPECT_FALSE(parse_rfc3339(std::string(10'000, '9')));
}

TEST(parse_rfc3339, rejects_embedded_nul_bytes)
{
    EXPECT_FALSE(parse_rfc3339(std::string_view("2026-02-19T12:00:00Z\0", 21)));
}

TEST(parse_rfc3339, accepts_the_first_and_last_representable_instants)
{
    EXPECT_EQ(format_rfc3339(parse("0001-01-01T00:00:00Z")), "0001-01-01T00:00:00Z");
    EXPECT_EQ(format_rfc3339(parse("9999-12-31T23:59:59.999999Z")), "9999-12-31T23:59:59.999999Z");
    EXPECT_EQ(format_rfc3339(parse("0000-12-31T23:00:00-01:00")), "0001-01-01T00:00:00Z");
}

TEST(parse_rfc3339, rejects_years_outside_0001_to_9999_after_normalisation)
{
    EXPECT_FALSE(parse_rfc3339("0000-01-01T00:00:00Z"));
    EXPECT_FALSE(parse_rfc3339("0001-01-01T00:30:00+01:00"));
    EXPECT_FALSE(parse_rfc3339("9999-12-31T23:30:00-01:00"));
}

TEST(format_rfc3339, writes_utc_with_z)
{
    EXPECT_EQ(format_rfc3339(timestamp{k_example, 0}), "2026-02-19T12:00:00Z");
    EXPECT_EQ(format_rfc3339(timestamp{0, 0}), "1970-01-01T00:00:00Z");
}

TEST(format_rfc3339, writes_exactly_the_fraction_digits_asked_for)
{
    const std::int64_t t = k_example + 123'456;
    EXPECT_EQ(format_rfc3339(timestamp{t, 0}), "2026-02-19T12:00:00Z");
    EXPECT_EQ(format_rfc3339(timestamp{t, 1}), "2026-02-19T12:00:00.1Z");
    EXPECT_EQ(format_rfc3339(timestamp{t, 3}), "2026-02-19T12:00:00.123Z");
    EXPECT_EQ(format_rfc3339(timestamp{t, 6}), "2026-02-19T12:00:00.123456Z");
    EXPECT_EQ(format_rfc3339(timestamp{k_example + 5, 6}), "2026-02-19T12:00:00.000005Z");
}

TEST(format_rfc3339, writes_instants_before_1970_with_a_positive_time_of_day)
{
    EXPECT_EQ(format_rfc3339(timestamp{-1, 6}), "1969-12-31T23:59:59.999999Z");
    EXPECT_EQ(format_rfc3339(timestamp{-k_second, 0}), "1969-12-31T23:59:59Z");
}

TEST(format_rfc3339, clamps_out_of_range_instants_to_a_parseable_year)
{
    EXPECT_EQ(format_rfc3339(timestamp{std::numeric_limits<std::int64_t>::max(), 0}),
              "9999-12-31T23:59:59Z");
    EXPECT_EQ(format_rfc3339(timestamp{std::numeric_limits<std::int64_t>::min(), 0}),
              "0001-01-01T00:00:00Z");
}

TEST(format_rfc3339, round_trips_what_parse_accepted)
{
    for (const std::string_view text : {
             "2026-02-19T12:00:00Z",
             "2026-02-19T12:00:00.5Z",
             "2026-02-19T12:00:00.050Z",
             "2026-02-19T12:00:00.123456Z",
             "2024-02-29T23:59:59.999Z",
             "1969-07-20T20:17:40Z",
             "1900-03-01T00:00:00Z",
             "0001-01-01T00:00:00Z",
             "9999-12-31T23:59:59Z",
         }) {
        EXPECT_EQ(format_rfc3339(parse(text)), text);
    }
}

TEST(format_rfc3339, round_trips_every_day_of_four_centuries)
{
    // One 400-year Gregorian cycle exercises every leap-year rule of the calendar arithmetic.
    const std::int64_t start = parse("1900-01-01T00:00:00Z").micros;
    for (std::int64_t day = 0; day < 146'097; ++day) {
        const timestamp t{start + day * 86'400 * k_second + 3'723 * k_second, 0};
        const auto text = format_rfc3339(t);
        const auto back = parse_rfc3339(text);
        ASSERT_TRUE(back) << text;
        ASSERT_EQ(*back, t) << text;
    }
}

// The text of `t` by the calendar of <chrono> and printf, one field at a time: slow and plain.
std::string reference_text(const timestamp& t)
{
    namespace chr = std::chrono;
    const chr::sys_time<chr::microseconds> instant{chr::microseconds{t.micros}};
    const auto day = chr::floor<chr::days>(instant);
    const chr::year_month_day date{day};
    const chr::hh_mm_ss time{instant - day};
    std::array<char, 64> buf{};
    int n = std::snprintf(buf.data(), buf.size(), "%04d-%02u-%02uT%02d:%02d:%02d",
                          static_cast<int>(date.year()), static_cast<unsigned>(date.month()),
                          static_cast<unsigned>(date.day()), static_cast<int>(time.hours().count()),
                          static_cast<int>(time.minutes().count()),
                          static_cast<int>(time.seconds().count()));
    std::string out(buf.data(), static_cast<std::size_t>(n));
    if (t.fraction_digits > 0) {
        n = std::snprintf(buf.data(), buf.size(), "%06lld",
                          static_cast<long long>(time.subseconds().count()));
        out += "." + std::string(buf.data(), static_cast<std::size_t>(t.fraction_digits));
    }
    return out + "Z";
}

TEST(format_rfc3339, agrees_with_a_plain_calendar_at_boundaries_and_at_random)
{
    std::vector<timestamp> cases;
    // Around midnight of days where the calendar turns: year ends, leap days of 4-, 100- and
    // 400-year rules, the epoch, the first and last days of the range.
    for (const std::string_view day :
         {"1970-01-01", "1969-12-31", "2000-01-01", "1999-12-31", "2000-02-29", "2000-03-01",
          "2024-02-29", "2024-03-01", "2023-03-01", "2100-02-28", "2100-03-01", "1900-03-01",
          "2400-02-29", "2026-12-31", "0001-01-01", "0001-03-01", "9999-12-31", "1600-02-29"}) {
        const std::int64_t midnight = parse(std::string(day) + "T00:00:00Z").micros;
        for (const std::int64_t delta :
             {std::int64_t{-1}, std::int64_t{0}, std::int64_t{1}, std::int64_t{86'399'999'999}}) {
            for (int digits = 0; digits <= 6; ++digits) {
                cases.push_back({midnight + delta, digits});
            }
        }
    }
    std::mt19937_64 random(20260219);
    const std::int64_t first = parse("0001-01-01T00:00:00Z").micros;
    const std::int64_t last = parse("9999-12-31T23:59:59.999999Z").micros;
    std::uniform_int_distribution<std::int64_t> anywhere(first, last);
    for (int i = 0; i < 100'000; ++i) {
        cases.push_back({anywhere(random), i % 7});
    }
    // One writer for all of them, as a list page uses it: runs of one second (the boundary
    // cases) and jumps between days, forwards and back.
    rfc3339_writer writer;
    std::array<char, rfc3339_max_size> buf{};
    for (const timestamp& t : cases) {
        if (t.micros < first || t.micros > last) {
            continue;
        }
        const std::string expected = reference_text(t);
        ASSERT_EQ(format_rfc3339(t), expected) << t.micros << " " << t.fraction_digits;
        ASSERT_EQ(std::string(buf.data(), writer.write(buf.data(), t)), expected) << t.micros;
    }
}

TEST(rfc3339_writer, writes_each_timestamp_of_one_second_with_its_own_fraction)
{
    rfc3339_writer writer;
    std::array<char, rfc3339_max_size> buf{};
    const auto text = [&](const timestamp& t) {
        return std::string(buf.data(), writer.write(buf.data(), t));
    };
    EXPECT_EQ(text({k_example + 999'999, 6}), "2026-02-19T12:00:00.999999Z");
    EXPECT_EQ(text({k_example, 0}), "2026-02-19T12:00:00Z");
    EXPECT_EQ(text({k_example + 500'000, 1}), "2026-02-19T12:00:00.5Z");
    EXPECT_EQ(text({k_example + k_second, 0}), "2026-02-19T12:00:01Z");
    EXPECT_EQ(text({k_example - 1, 3}), "2026-02-19T11:59:59.999Z");
    EXPECT_EQ(text({-1, 6}), "1969-12-31T23:59:59.999999Z");
    EXPECT_EQ(text({0, 0}), "1970-01-01T00:00:00Z");
    EXPECT_EQ(text({std::numeric_limits<std::int64_t>::min(), 0}), "0001-01-01T00:00:00Z");
}

TEST(rfc3339_writer, writes_the_date_anew_only_when_the_day_changes)
{
    rfc3339_writer writer;
    std::array<char, rfc3339_max_size> buf{};
    const auto text = [&](std::int64_t micros) {
        return std::string(buf.data(), writer.write(buf.data(), timestamp{micros, 0}));
    };
    constexpr std::int64_t hour = 3600 * k_second;
    EXPECT_EQ(text(k_example), "2026-02-19T12:00:00Z");
    EXPECT_EQ(text(k_example + hour + 61 * k_second), "2026-02-19T13:01:01Z");
    EXPECT_EQ(text(k_example + 12 * hour), "2026-02-20T00:00:00Z");
    EXPECT_EQ(text(k_example + 12 * hour - k_second), "2026-02-19T23:59:59Z");
    EXPECT_EQ(text(k_example - 12 * hour - k_second), "2026-02-18T23:59:59Z");
    EXPECT_EQ(text(k_example - 12 * hour), "2026-02-19T00:00:00Z");
}

TEST(write_rfc3339, writes_the_text_in_place_and_returns_its_end)
{
    std::array<char, rfc3339_max_size> buf{};
    const timestamp longest{parse("9999-12-31T23:59:59.999999Z")};
    char* end = write_rfc3339(buf.data(), longest);
    EXPECT_EQ(std::string(buf.data(), end), "9999-12-31T23:59:59.999999Z");
    EXPECT_EQ(end, buf.data() + buf.size());
    end = write_rfc3339(buf.data(), timestamp{k_example + 250'000, 2});
    EXPECT_EQ(std::string(buf.data(), end), "2026-02-19T12:00:00.25Z");
}

TEST(format_rfc3339, normalises_an_offset_input_to_z)
{
    EXPECT_EQ(format_rfc3339(parse("2026-02-19T14:00:00.25+02:00")), "2026-02-19T12:00:00.25Z");
}

TEST(append_rfc3339, appends_without_allocating_when_there_is_room)
{
    std::string out;
    out.reserve(64);
    out = "ts=";
    const auto* before = out.data();
    const auto capacity = out.capacity();
    append_rfc3339(out, timestamp{k_example + 123'456, 6});
    EXPECT_EQ(out, "ts=2026-02-19T12:00:00.123456Z");
    EXPECT_EQ(out.data(), before);
    EXPECT_EQ(out.capacity(), capacity);
}

TEST(format_rfc3339_seconds, writes_whole_seconds)
{
    EXPECT_EQ(format_rfc3339_seconds(1'771'502'400), "2026-02-19T12:00:00Z");
    EXPECT_EQ(format_rfc3339_seconds(0), "1970-01-01T00:00:00Z");
    EXPECT_EQ(format_rfc3339_seconds(951'782'400), "2000-02-29T00:00:00Z");
}

TEST(format_rfc3339_seconds, does_not_overflow_on_extreme_input)
{
    EXPECT_EQ(format_rfc3339_seconds(std::numeric_limits<std::int64_t>::max()),
              "9999-12-31T23:59:59Z");
    EXPECT_EQ(format_rfc3339_seconds(std::numeric_limits<std::int64_t>::min()),
              "0001-01-01T00:00:00Z");
}

}  // namespace
}  // namespace analytics::common
