#include "common/string_writer.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>

namespace analytics::common {
namespace {

TEST(string_writer, appends_after_what_was_there_and_keeps_only_what_it_wrote)
{
    std::string out = "head:";
    {
        string_writer w(out, 64);
        w.put("a");
        w.put(' ');
        w.put_decimal(0);
        w.put(std::string_view("\r\n"));
        EXPECT_EQ(out.size(), 5U + 64U);  // the room, while writing
    }
    EXPECT_EQ(out, "head:a 0\r\n");
}

TEST(string_writer, writes_the_largest_integer_in_its_decimal_room)
{
    std::string out;
    {
        string_writer w(out, string_writer::max_decimal);
        w.put_decimal(std::numeric_limits<std::uint64_t>::max());
    }
    EXPECT_EQ(out, "18446744073709551615");
}

TEST(string_writer, lets_a_function_write_in_place_and_keeps_what_it_says_it_wrote)
{
    std::string out = "[";
    {
        string_writer w(out, 16);
        // Scribbles over its whole room, but says it wrote three characters.
        w.put_with(8, [](char* at) {
            std::fill_n(at, 8, '#');
            std::copy_n("abc", 3, at);
            return at + 3;
        });
        w.put(']');
    }
    EXPECT_EQ(out, "[abc]");
}

TEST(string_writer, leaves_the_string_as_it_was_when_nothing_is_written)
{
    std::string out = "kept";
    {
        string_writer w(out, 1000);
    }
    EXPECT_EQ(out, "kept");
}

}  // namespace
}  // namespace analytics::common
