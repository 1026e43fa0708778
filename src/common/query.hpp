#pragma once
// Query-string parameters, percent-decoded. The last occurrence of a repeated name wins.
//
// Thread safety: a value type.

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace analytics::common {

class query_params {
public:
    /// Parses `a=1&b=x%20y` (the part after '?'); nullopt when it is not a valid query
    /// (e.g. a malformed percent escape).
    static std::optional<query_params> parse(std::string_view query);

    /// The decoded value of `name`, or nullopt when absent (`name` alone gives "").
    std::optional<std::string_view> get(std::string_view name) const;

private:
    std::vector<std::pair<std::string, std::string>> params_;
};

/// Parses a whole decimal number in [min, max]; nullopt otherwise (no sign, spaces or suffix).
std::optional<long long> parse_integer(std::string_view text, long long min, long long max);

}  // namespace analytics::common
