#include "metrics/rollup.hpp"

#include <boost/endian/conversion.hpp>

#include <array>
#include <bit>
#include <cmath>

namespace analytics::metrics {

namespace {

namespace endian = boost::endian;

constexpr char format = 2;
// A count above 2^53 is no longer exact as a double.
constexpr double max_count = 9007199254740992.0;

void write_double(char* out, double v) noexcept
{
    endian::store_little_u64(reinterpret_cast<unsigned char*>(out),
                             std::bit_cast<std::uint64_t>(v));
}

double read_double(std::string_view bytes, std::size_t at) noexcept
{
    return std::bit_cast<double>(
        endian::load_little_u64(reinterpret_cast<const unsigned char*>(bytes.data() + at)));
}

// Neumaier's step: high + x, with what rounding dropped added to low.
void add(double& high, double& low, double x) noexcept
{
    const double t = high + x;
    if (std::fabs(high) >= std::fabs(x)) {
        low += (high - t) + x;
    } else {
        low += (x - t) + high;
    }
    high = t;
}

// The sum of two compensated sums at scale `scale`; false when it overflowed.
bool add_sums(double& high, double& low, double other_high, double other_low) noexcept
{
    add(high, low, other_high);
    add(high, low, other_low);
    return std::isfinite(high);
}

}  // namespace

long double rollup::sum() const noexcept
{
    return std::ldexp(static_cast<long double>(high) + static_cast<long double>(low), scale);
}

double rollup::average() const noexcept
{
    if (count == 0) {
        return 0;
    }
    // Divided first, then scaled back: the average of finite values is finite.
    return static_cast<double>(std::ldexp(
        (static_cast<long double>(high) + static_cast<long double>(low)) /
            static_cast<long double>(count),
        scale));
}

void merge(rollup& into, const rollup& later) noexcept
{
    if (later.count == 0) {
        return;
    }
    if (into.count == 0) {
        into = later;
        return;
    }
    double other_high = later.high;
    double other_low = later.low;
    if (into.scale < later.scale) {
        into.high = std::ldexp(into.high, into.scale - later.scale);
        into.low = std::ldexp(into.low, into.scale - later.scale);
        into.scale = later.scale;
    } else if (later.scale < into.scale) {
        other_high = std::ldexp(other_high, later.scale - into.scale);
        other_low = std::ldexp(other_low, later.scale - into.scale);
    }
    const double high = into.high;
    const double low = into.low;
    if (!add_sums(into.high, into.low, other_high, other_low) && into.scale == 0) {
        // The first overflow: both sides move to scale 64, where no sum of finite values
        // overflows (a count below 2^53 times the largest double, divided by 2^64).
        into.high = std::ldexp(high, -64);
        into.low = std::ldexp(low, -64);
        add_sums(into.high, into.low, std::ldexp(other_high, -64), std::ldexp(other_low, -64));
        into.scale = 64;
    }
    into.count += later.count;
    if (!(into.min <= later.min)) {
        into.min = later.min;
    }
    if (!(into.max >= later.max)) {
        into.max = later.max;
    }
    if (later.latest_micros >= into.latest_micros) {
        into.latest_micros = later.latest_micros;
        into.latest = later.latest;
    }
}

void fold(rollup& r, double value, std::int64_t micros) noexcept
{
    rollup one;
    one.count = 1;
    one.high = value;
    one.min = value;
    one.max = value;
    one.latest = value;
    one.latest_micros = micros;
    merge(r, one);
}

void append_rollup(std::string& out, const rollup& r)
{
    // Whole milliseconds (floored) and the µs within: each exact as a double in every year.
    const std::int64_t ms =
        r.latest_micros >= 0 ? r.latest_micros / 1000 : -((-r.latest_micros + 999) / 1000);
    const std::int64_t within = r.latest_micros - ms * 1000;
    std::array<char, rollup_size> bytes;
    bytes[0] = format;
    const std::array<double, 9> fields{static_cast<double>(r.count),
                                       r.high,
                                       r.low,
                                       static_cast<double>(r.scale),
                                       r.min,
                                       r.max,
                                       r.latest,
                                       static_cast<double>(ms),
                                       static_cast<double>(within)};
    for (std::size_t i = 0; i < fields.size(); ++i) {
        write_double(bytes.data() + 1 + 8 * i, fields[i]);
    }
    out.append(bytes.data(), bytes.size());
}

std::optional<rollup> parse_rollup(std::string_view bytes) noexcept
{
    if (bytes.size() != rollup_size || bytes[0] != format) {
        return std::nullopt;
    }
    auto field = [&](std::size_t i) { return read_double(bytes, 1 + 8 * i); };
    const double count = field(0);
    const double scale = field(3);
    const double ms = field(7);
    const double within = field(8);
    // `!(count >= 1)` also refuses NaN.
    if (!(count >= 1) || count > max_count || count != std::floor(count) ||
        (scale != 0 && scale != 64) || !(std::fabs(ms) < max_count) || ms != std::floor(ms) ||
        !(within >= 0 && within < 1000) || within != std::floor(within)) {
        return std::nullopt;
    }
    rollup r;
    r.count = static_cast<std::uint64_t>(count);
    r.high = field(1);
    r.low = field(2);
    r.scale = static_cast<int>(scale);
    r.min = field(4);
    r.max = field(5);
    r.latest = field(6);
    r.latest_micros = static_cast<std::int64_t>(ms) * 1000 + static_cast<std::int64_t>(within);
    return r;
}

}  // namespace analytics::metrics
