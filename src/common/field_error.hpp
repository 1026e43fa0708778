#pragma once
// One validation failure: which input field, and what is wrong with it. Domain validation
// returns a list of these; the HTTP layer renders them as a 422's `errors`.

#include <string>

namespace analytics::common {

struct field_error {
    std::string field;
    std::string message;

    bool operator==(const field_error&) const = default;
};

}  // namespace analytics::common
