#pragma once
// A parsed RESP2 reply, owned by value (no hiredis type leaves redis/).
//
// Thread safety: a value type.

#include <cstdint>
#include <string>
#include <vector>

namespace analytics::redis {

struct reply {
    enum class kind { string, array, integer, nil, status, error };

    kind type = kind::nil;
    std::string str;               // string, status and error replies
    std::int64_t integer = 0;      // integer replies
    std::vector<reply> elements;   // array replies

    bool is_error() const { return type == kind::error; }
    bool is_nil() const { return type == kind::nil; }
};

}  // namespace analytics::redis
