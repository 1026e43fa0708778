// Pure tests of RESP (redis/resp.hpp): the command writer, byte for byte as hiredis formats,
// and the reply reader the client reads its socket with: every reply kind, replies split
// across reads, broken streams, and the inputs the fuzz target fuzz/resp_replies.cpp found or
// guards against. No server, no sockets.

#include "redis/resp.hpp"

#include <gtest/gtest.h>
#include <hiredis/hiredis.h>

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace analytics::redis {
namespace {

using namespace std::string_literals;

TEST(resp_command, writes_an_array_of_bulk_strings)
{
    std::string out = "before";
    const std::array<std::string_view, 3> args{"SET", "key", ""};
    append_command(out, args);
    EXPECT_EQ(out, "before*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$0\r\n\r\n");
}

TEST(resp_command, writes_the_bytes_hiredis_formats)
{
    const std::string binary("a\0b\r\n", 5);
    const std::string long_arg(70'000, 'x');
    std::vector<std::string_view> args{"EVALSHA", binary, long_arg};
    for (int i = 0; i < 300; ++i) {
        args.emplace_back(long_arg.data(), static_cast<std::size_t>(i));
    }
    std::vector<const char*> argv;
    std::vector<std::size_t> lengths;
    for (const std::string_view a : args) {
        argv.push_back(a.data());
        lengths.push_back(a.size());
    }
    char* formatted = nullptr;
    const int n = redisFormatCommandArgv(&formatted, static_cast<int>(args.size()), argv.data(),
                                         lengths.data());
    ASSERT_GT(n, 0);
    const std::string expected(formatted, static_cast<std::size_t>(n));
    redisFreeCommand(formatted);

    std::string out;
    append_command(out, args);
    EXPECT_EQ(out, expected);
}

TEST(resp_reader, reads_every_reply_kind)
{
    const auto r = parse_replies("+OK\r\n-ERR wrong\r\n:-42\r\n$5\r\nhello\r\n$-1\r\n*-1\r\n");
    ASSERT_FALSE(r.failed) << r.error;
    ASSERT_EQ(r.replies.size(), 6U);
    EXPECT_EQ(r.replies[0].type, reply::kind::status);
    EXPECT_EQ(r.replies[0].str, "OK");
    EXPECT_TRUE(r.replies[1].is_error());
    EXPECT_EQ(r.replies[1].str, "ERR wrong");
    EXPECT_EQ(r.replies[2].type, reply::kind::integer);
    EXPECT_EQ(r.replies[2].integer, -42);
    EXPECT_EQ(r.replies[3].type, reply::kind::string);
    EXPECT_EQ(r.replies[3].str, "hello");
    EXPECT_TRUE(r.replies[4].is_nil());
    EXPECT_TRUE(r.replies[5].is_nil());
}

TEST(resp_reader, keeps_binary_bulk_strings_whole)
{
    const auto r = parse_replies("$4\r\na\0\r\n\r\n"s);
    ASSERT_EQ(r.replies.size(), 1U);
    EXPECT_EQ(r.replies[0].str, "a\0\r\n"s);
}

TEST(resp_reader, reads_nested_arrays)
{
    const auto r = parse_replies("*3\r\n:1\r\n*2\r\n$1\r\na\r\n$-1\r\n*0\r\n");
    ASSERT_FALSE(r.failed) << r.error;
    ASSERT_EQ(r.replies.size(), 1U);
    const auto& top = r.replies[0];
    ASSERT_EQ(top.type, reply::kind::array);
    ASSERT_EQ(top.elements.size(), 3U);
    EXPECT_EQ(top.elements[0].integer, 1);
    ASSERT_EQ(top.elements[1].elements.size(), 2U);
    EXPECT_EQ(top.elements[1].elements[0].str, "a");
    EXPECT_TRUE(top.elements[1].elements[1].is_nil());
    EXPECT_EQ(top.elements[2].type, reply::kind::array);
    EXPECT_TRUE(top.elements[2].elements.empty());
}

// The reader builds elements in place in their array (resp.cpp), so every kind is checked
// there too, not only at the top.
TEST(resp_reader, reads_every_reply_kind_inside_an_array)
{
    const auto r =
        parse_replies("*7\r\n+QUEUED\r\n-ERR no\r\n:9\r\n$3\r\nabc\r\n$-1\r\n*0\r\n*-1\r\n");
    ASSERT_FALSE(r.failed) << r.error;
    ASSERT_EQ(r.replies.size(), 1U);
    const auto& e = r.replies[0].elements;
    ASSERT_EQ(e.size(), 7U);
    EXPECT_EQ(e[0].type, reply::kind::status);
    EXPECT_EQ(e[0].str, "QUEUED");
    EXPECT_TRUE(e[1].is_error());
    EXPECT_EQ(e[1].str, "ERR no");
    EXPECT_EQ(e[2].type, reply::kind::integer);
    EXPECT_EQ(e[2].integer, 9);
    EXPECT_EQ(e[3].type, reply::kind::string);
    EXPECT_EQ(e[3].str, "abc");
    EXPECT_TRUE(e[4].is_nil());
    EXPECT_EQ(e[5].type, reply::kind::array);
    EXPECT_TRUE(e[5].elements.empty());
    EXPECT_TRUE(e[6].is_nil());
}

// A reply broken off inside nested arrays is freed whole (the sanitizer build's leak check
// fails the test otherwise), and the replies before it are kept.
TEST(resp_reader, drops_a_reply_broken_off_inside_nested_arrays)
{
    const auto r =
        parse_replies(":1\r\n*3\r\n$5\r\nhello\r\n*2\r\n$20\r\n01234567890123456789\r\n!x");
    EXPECT_TRUE(r.failed);
    ASSERT_EQ(r.replies.size(), 1U);
    EXPECT_EQ(r.replies[0].integer, 1);

    // The same reply, whole, reads as sent.
    const auto whole =
        parse_replies("*3\r\n$5\r\nhello\r\n*2\r\n$20\r\n01234567890123456789\r\n:2\r\n:3\r\n");
    ASSERT_FALSE(whole.failed) << whole.error;
    ASSERT_EQ(whole.replies.size(), 1U);
    const auto& top = whole.replies[0].elements;
    ASSERT_EQ(top.size(), 3U);
    EXPECT_EQ(top[0].str, "hello");
    ASSERT_EQ(top[1].elements.size(), 2U);
    EXPECT_EQ(top[1].elements[0].str, "01234567890123456789");
    EXPECT_EQ(top[1].elements[1].integer, 2);
    EXPECT_EQ(top[2].integer, 3);
}

// The strings of an array (a list page's members) share storage the reply owns: they stay
// intact across many blocks of it, and when the reply is moved into the result.
TEST(resp_reader, reads_every_member_of_a_large_array)
{
    std::vector<std::string> members;
    std::string stream = "*1000\r\n";
    for (std::size_t i = 0; i < 1000; ++i) {
        members.push_back(std::string(i % 120, static_cast<char>('a' + i % 26)) + "\r\n" +
                          std::to_string(i));
        stream += "$" + std::to_string(members.back().size()) + "\r\n" + members.back() + "\r\n";
    }
    stream += "+after\r\n";
    for (const std::size_t chunk : {std::size_t{7}, std::size_t{16 * 1024}}) {
        const auto r = parse_replies(stream, chunk);
        ASSERT_FALSE(r.failed) << r.error;
        ASSERT_EQ(r.replies.size(), 2U);
        const auto& e = r.replies[0].elements;
        ASSERT_EQ(e.size(), members.size());
        for (std::size_t i = 0; i < e.size(); ++i) {
            ASSERT_EQ(e[i].type, reply::kind::string);
            ASSERT_EQ(e[i].str, members[i]) << "chunk " << chunk << ", member " << i;
        }
        EXPECT_EQ(r.replies[1].str, "after");
    }
}

// A socket read may end anywhere, even inside "\r\n".
TEST(resp_reader, gives_the_same_replies_whatever_the_read_sizes)
{
    const std::string stream = "*2\r\n$3\r\nfoo\r\n:7\r\n+PONG\r\n$0\r\n\r\n";
    const auto whole = parse_replies(stream);
    ASSERT_EQ(whole.replies.size(), 3U);
    for (std::size_t chunk = 0; chunk <= stream.size(); ++chunk) {
        const auto pieces = parse_replies(stream, chunk);
        ASSERT_FALSE(pieces.failed) << "chunk " << chunk;
        ASSERT_EQ(pieces.replies.size(), 3U) << "chunk " << chunk;
        EXPECT_EQ(pieces.replies[0].elements[0].str, "foo");
        EXPECT_EQ(pieces.replies[1].str, "PONG");
        EXPECT_EQ(pieces.replies[2].str, "");
    }
}

TEST(resp_reader, waits_for_the_rest_of_an_incomplete_reply)
{
    auto reader = resp_reader::create();
    ASSERT_TRUE(reader);
    ASSERT_TRUE(reader->feed("$5\r\nhel"));
    auto first = reader->next();
    ASSERT_TRUE(first);
    EXPECT_FALSE(first->has_value());
    ASSERT_TRUE(reader->feed("lo\r\n"));
    auto second = reader->next();
    ASSERT_TRUE(second && second->has_value());
    EXPECT_EQ((*second)->str, "hello");
}

TEST(resp_reader, fails_on_bytes_that_are_not_resp)
{
    const auto r = parse_replies("+OK\r\n!nonsense\r\n:1\r\n");
    EXPECT_TRUE(r.failed);
    EXPECT_FALSE(r.error.empty());
    ASSERT_EQ(r.replies.size(), 1U);  // the reply before the break still counts
    EXPECT_EQ(r.replies[0].str, "OK");

    EXPECT_TRUE(parse_replies(":12x\r\n").failed);
    EXPECT_TRUE(parse_replies("$-2\r\n").failed);
    EXPECT_TRUE(parse_replies("*-2\r\n").failed);
}

TEST(resp_reader, refuses_arrays_nested_deeper_than_hiredis_supports)
{
    EXPECT_TRUE(
        parse_replies("*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n").failed);
}

// Found by fuzz/resp_replies.cpp in about 20 s (libFuzzer: out-of-memory, malloc(2666666648)):
// hiredis allocates an array's element pointers as soon as it reads the count, before any
// element has arrived, so a dozen bytes cost gigabytes. The reader now refuses counts over
// max_array_elements before anything is allocated. The first input is the fuzzer's, minimised
// by hand; the corpus keeps the original (fuzz/corpus/resp_replies/regression_oom_array_count).
TEST(resp_reader, refuses_an_array_announcing_more_elements_than_the_limit)
{
    const auto found = parse_replies(
        "*2\r\n*4\r\n*1\r\n*1\r\n:1\r\n*1\r\n+x\r\n*0\r\n:1\r\n+x\r\n"
        "*0\r\n:1\r\n*333333331\r\n+x\r\n",
        2);
    EXPECT_TRUE(found.failed);
    EXPECT_NE(found.error.find("element limit"), std::string::npos) << found.error;

    EXPECT_TRUE(parse_replies("*2147483647\r\n").failed);

    const auto over =
        parse_replies("*" + std::to_string(resp_reader::max_array_elements + 1) + "\r\n");
    EXPECT_TRUE(over.failed);

    // At the limit the array is accepted (and waits for its elements).
    const auto at = parse_replies("*" + std::to_string(resp_reader::max_array_elements) + "\r\n");
    EXPECT_FALSE(at.failed);
    EXPECT_TRUE(at.replies.empty());
}

TEST(resp_reader, refuses_a_count_outside_the_protocol_range)
{
    EXPECT_TRUE(parse_replies("*9223372036854775808\r\n").failed);
    EXPECT_TRUE(parse_replies("$9223372036854775808\r\n").failed);
}

}  // namespace
}  // namespace analytics::redis
