#pragma once
// Escaping text for a JSON string, for everything that writes JSON by hand: log lines, error
// bodies, configuration messages. Owns no state; safe from any thread.

#include <string>
#include <string_view>

namespace analytics::common {

/// Appends `s` to `out` as the inside of a JSON string (quotes not included): `"` and `\`
/// escaped, control characters as \n, \r, \t or \u00XX, and each byte that is not part of
/// valid UTF-8 as \ufffd, so the output is valid JSON whatever the input.
void append_json_escaped(std::string& out, std::string_view s);

}  // namespace analytics::common
