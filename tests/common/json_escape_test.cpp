// JSON string escaping: whatever the bytes, the result parses back (Boost.JSON) to the same text,
// with invalid UTF-8 replaced by U+FFFD.

#include "common/json_escape.hpp"

#include <boost/json/parse.hpp>

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace analytics::common {
namespace {

std::string escaped(std::string_view s)
{
    std::string out;
    append_json_escaped(out, s);
    return out;
}

// The string a JSON parser reads back from `"<escaped>"`.
std::string round_trip(std::string_view s)
{
    return std::string(boost::json::parse("\"" + escaped(s) + "\"").as_string());
}

TEST(json_escape, escapes_quotes_backslashes_and_control_characters)
{
    EXPECT_EQ(escaped(R"(say "hi" \ bye)"), R"(say \"hi\" \\ bye)");
    EXPECT_EQ(escaped("a\nb\rc\td"), R"(a\nb\rc\td)");
    EXPECT_EQ(escaped(std::string_view("\x00\x01\x1f\x7f", 4)), R"(\u0000\u0001\u001f\u007f)");
}

TEST(json_escape, appends_to_what_is_already_there)
{
    std::string out = R"({"k":")";
    append_json_escaped(out, "v\"");
    EXPECT_EQ(out, R"({"k":"v\")");
}

TEST(json_escape, keeps_valid_utf8_as_it_is)
{
    const std::string text = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";  // café € 😀
    EXPECT_EQ(escaped(text), text);
    EXPECT_EQ(round_trip(text), text);
}

TEST(json_escape, replaces_each_invalid_utf8_byte_with_u_fffd)
{
    // A lone continuation byte, a truncated sequence, an overlong form, a surrogate and a code
    // point above U+10FFFF.
    EXPECT_EQ(escaped("a\x80z"), R"(a\ufffdz)");
    EXPECT_EQ(escaped("\xc3"), R"(\ufffd)");
    EXPECT_EQ(escaped("\xc0\xaf"), R"(\ufffd\ufffd)");
    EXPECT_EQ(escaped("\xed\xa0\x80"), R"(\ufffd\ufffd\ufffd)");
    EXPECT_EQ(escaped("\xf4\x90\x80\x80"), R"(\ufffd\ufffd\ufffd\ufffd)");
    EXPECT_EQ(round_trip("x\xffy"), "x\xef\xbf\xbdy");
}

TEST(json_escape, output_always_parses_back_to_valid_json)
{
    std::string every_byte;
    for (int b = 0; b < 256; ++b) {
        every_byte.push_back(static_cast<char>(b));
    }
    EXPECT_NO_THROW(round_trip(every_byte));
    EXPECT_EQ(round_trip("plain text"), "plain text");
}

}  // namespace
}  // namespace analytics::common
