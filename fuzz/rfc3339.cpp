// Fuzzes common::parse_rfc3339 (every timestamp a client sends) and the formatting of any
// instant. Properties: whatever parses formats to a canonical UTC text that parses back to the
// same instant and precision and formats to the same text again; formatting never fails, for
// any instant and any digit count, and its output always parses.

#include "common/rfc3339.hpp"

#include <cstring>
#include <string>

#include "fuzz/support.hpp"

namespace analytics::fuzz {
namespace {

void check_canonical(const std::string& text)
{
    // YYYY-MM-DDTHH:MM:SS[.f{1,6}]Z
    FUZZ_CHECK(text.size() == 20 || (text.size() >= 22 && text.size() <= 27));
    FUZZ_CHECK(text[10] == 'T' && text.back() == 'Z');
}

}  // namespace
}  // namespace analytics::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    using namespace analytics;
    const auto text = fuzz::as_text(data, size);

    if (const auto parsed = common::parse_rfc3339(text)) {
        FUZZ_CHECK(parsed->fraction_digits >= 0 && parsed->fraction_digits <= 6);
        const std::string formatted = common::format_rfc3339(*parsed);
        fuzz::check_canonical(formatted);
        const auto again = common::parse_rfc3339(formatted);
        FUZZ_CHECK(again.has_value());
        FUZZ_CHECK(*again == *parsed);
        FUZZ_CHECK(common::format_rfc3339(*again) == formatted);

        std::string appended = "x";
        common::append_rfc3339(appended, *parsed);
        FUZZ_CHECK(appended == "x" + formatted);
    }

    // Any instant with any precision: clamped into years 0001..9999, never a failure.
    if (size >= 9) {
        common::timestamp t;
        std::memcpy(&t.micros, data, sizeof t.micros);
        t.fraction_digits = static_cast<signed char>(data[8]);
        const std::string formatted = common::format_rfc3339(t);
        fuzz::check_canonical(formatted);
        const auto back = common::parse_rfc3339(formatted);
        FUZZ_CHECK(back.has_value());
        FUZZ_CHECK(common::format_rfc3339(*back) == formatted);

        std::int64_t seconds = 0;
        std::memcpy(&seconds, data, sizeof seconds);
        const std::string whole = common::format_rfc3339_seconds(seconds);
        FUZZ_CHECK(whole.size() == 20);
        FUZZ_CHECK(common::parse_rfc3339(whole).has_value());
    }
    return 0;
}
