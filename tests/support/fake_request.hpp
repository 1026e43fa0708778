#pragma once
// Building http::request values in handler tests without a socket: headers come from a map.

#include "http/message.hpp"

#include <map>
#include <string>
#include <string_view>

namespace analytics::test {

/// Header names in lower case.
using header_map = std::map<std::string, std::string>;

inline std::string lower(std::string_view s)
{
    std::string out(s);
    for (auto& c : out) {
        if (c >= 'A' && c <= 'Z') {
            c = static_cast<char>(c - 'A' + 'a');
        }
    }
    return out;
}

/// An http::request::header_lookup over a header_map (pass the map as `fields`).
inline std::string_view lookup_in_map(const void* fields, std::string_view name)
{
    const auto& headers = *static_cast<const header_map*>(fields);
    const auto it = headers.find(lower(name));
    return it == headers.end() ? std::string_view{} : std::string_view(it->second);
}

}  // namespace analytics::test
