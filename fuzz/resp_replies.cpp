// Fuzzes the reply side of the Redis client: redis::resp_reader (hiredis's reader plus our
// conversion and the array-size cap), through redis::parse_replies. The first input byte picks
// the size of the reads the bytes arrive in; the rest is what the server sent.
// Properties: no crash, leak or huge allocation on any bytes; the replies do not depend on how
// the stream was cut into reads; no array holds more than max_array_elements elements.

#include "redis/resp.hpp"

#include "fuzz/support.hpp"

namespace analytics::fuzz {
namespace {

bool same(const redis::reply& a, const redis::reply& b)
{
    if (a.type != b.type || a.str != b.str || a.integer != b.integer ||
        a.elements.size() != b.elements.size()) {
        return false;
    }
    for (std::size_t i = 0; i < a.elements.size(); ++i) {
        if (!same(a.elements[i], b.elements[i])) {
            return false;
        }
    }
    return true;
}

void check_bounded(const redis::reply& r, int depth)
{
    FUZZ_CHECK(depth <= 8);
    FUZZ_CHECK(r.elements.size() <=
               static_cast<std::size_t>(redis::resp_reader::max_array_elements));
    if (r.type != redis::reply::kind::array) {
        FUZZ_CHECK(r.elements.empty());
    }
    for (const auto& e : r.elements) {
        check_bounded(e, depth + 1);
    }
}

}  // namespace
}  // namespace analytics::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    using namespace analytics;
    if (size == 0) {
        return 0;
    }
    const std::size_t chunk = 1 + data[0] % 32;
    const auto stream = fuzz::as_text(data + 1, size - 1);

    const auto whole = redis::parse_replies(stream);
    const auto pieces = redis::parse_replies(stream, chunk);

    FUZZ_CHECK(whole.failed == pieces.failed);
    FUZZ_CHECK(whole.replies.size() == pieces.replies.size());
    for (std::size_t i = 0; i < whole.replies.size(); ++i) {
        FUZZ_CHECK(fuzz::same(whole.replies[i], pieces.replies[i]));
        fuzz::check_bounded(whole.replies[i], 0);
    }
    if (whole.failed) {
        FUZZ_CHECK(!whole.error.empty());
    }
    return 0;
}
