// Fuzzes the query-string parsing of GET /api/metrics/list and /summary: common::query_params
// and common::parse_integer. Properties: no crash or over-read on any bytes (the query is a view
// into the request buffer, with no NUL after it); a value found is the decoded last occurrence;
// parse_integer accepts only plain decimal digits inside its range.

#include "common/query.hpp"

#include <climits>
#include <cstring>
#include <memory>
#include <string>

#include "fuzz/support.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    using namespace analytics;
    // A copy of exactly `size` bytes on the heap, so ASan sees a read one past the end.
    auto exact = std::make_unique<char[]>(size);
    if (size > 0) {
        std::memcpy(exact.get(), data, size);
    }
    const std::string_view text(exact.get(), size);

    if (const auto q = common::query_params::parse(text)) {
        for (const std::string_view name : {"type", "limit", "period", "", "a", "type "}) {
            if (const auto v = q->get(name)) {
                // The view refers to the parsed copy, not to the input.
                const std::string copy(*v);
                FUZZ_CHECK(copy.size() <= text.size());
            }
        }
    } else {
        // Only a malformed percent escape makes a query invalid.
        FUZZ_CHECK(text.find('%') != std::string_view::npos);
    }

    for (const auto [low, high] : {std::pair<long long, long long>{1, 1000},
                                   std::pair<long long, long long>{LLONG_MIN, LLONG_MAX}}) {
        if (const auto n = common::parse_integer(text, low, high)) {
            FUZZ_CHECK(*n >= low && *n <= high);
            FUZZ_CHECK(!text.empty() && text.front() != '+' && text.front() != ' ');
            for (std::size_t i = 0; i < text.size(); ++i) {
                const char c = text[i];
                FUZZ_CHECK((c >= '0' && c <= '9') || (i == 0 && c == '-'));
            }
        }
    }
    return 0;
}
