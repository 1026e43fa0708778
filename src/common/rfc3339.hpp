#pragma once
// RFC 3339 timestamps: strict parsing of client input, and formatting in UTC with `Z`.
//
// docs/contract.md, Conventions: input accepts `Z` or a numeric offset and is normalised to UTC;
// fractional seconds are kept only when the input had them.

#include <array>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

namespace analytics::common {

struct timestamp {
    std::int64_t micros = 0;   // microseconds since the Unix epoch, UTC
    int fraction_digits = 0;   // 0 when the input had no fractional seconds, else 1..6 kept

    bool operator==(const timestamp&) const = default;
};

/// The longest text format_rfc3339() writes: `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
inline constexpr std::size_t rfc3339_max_size = 27;

/// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|z|+HH:MM|-HH:MM)` (`t` and a space are accepted for `T`).
/// Rejects anything else: missing offset, out-of-range fields (Feb 30, hour 24, minute 60),
/// a leap second, years outside 0001..9999 after normalisation, trailing bytes.
/// Fractions of 1..9 digits are accepted; digits past the sixth are truncated to microseconds.
std::optional<timestamp> parse_rfc3339(std::string_view text);

/// Formats as `YYYY-MM-DDTHH:MM:SS[.ffffff]Z` in UTC, with exactly `fraction_digits` digits
/// (clamped to 0..6). An instant outside years 0001..9999 is clamped to that range.
std::string format_rfc3339(const timestamp& t);

/// Appends the same text to `out` (no allocation when `out` has room).
void append_rfc3339(std::string& out, const timestamp& t);

/// Writes the same text at `out`, which must have room for rfc3339_max_size characters (the
/// room past the text may be overwritten); returns the end of the text.
char* write_rfc3339(char* out, const timestamp& t) noexcept;

/// Writes many timestamps as write_rfc3339() does, faster where one falls in the same second
/// as the one before (the items of a list page mostly do): that second's text is kept, and
/// so is the date while the day stays the same.
///
/// Thread safety: a value, used by one thread at a time.
class rfc3339_writer {
public:
    /// Writes `t` at `out` (room for rfc3339_max_size characters); returns the end of the text.
    char* write(char* out, const timestamp& t) noexcept;

private:
    std::int64_t second_ = std::numeric_limits<std::int64_t>::min();  // whose text `text_` is
    std::int64_t day_ = std::numeric_limits<std::int64_t>::min();     // whose date `text_` has
    std::array<char, 19> text_{};                                     // `YYYY-MM-DDTHH:MM:SS`
};

/// Formats a whole-second time as `YYYY-MM-DDTHH:MM:SSZ` (response `timestamp` fields).
std::string format_rfc3339_seconds(std::int64_t unix_seconds);

}  // namespace analytics::common
