// Pure tests of the reply value (redis/reply.hpp): where its text lives. The text a reply keeps
// stays where it is when the reply moves, however many blocks of storage it took, and a copy
// owns its text (it outlives the reply it was copied from). No server.

#include "redis/reply.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace analytics::redis {
namespace {

std::string member(std::size_t i)
{
    return "member-" + std::to_string(i) + std::string(i % 90, 'x');
}

// An array whose strings all live in its own storage, as the reader builds them.
reply array_of_members(std::size_t n)
{
    reply r;
    r.type = reply::kind::array;
    for (std::size_t i = 0; i < n; ++i) {
        const std::string text = member(i);
        reply& e = r.elements.emplace_back();
        e.type = reply::kind::string;
        e.str = r.keep(text);
    }
    return r;
}

TEST(redis_reply, keeps_its_text_where_it_is_when_it_moves)
{
    reply r = array_of_members(2000);  // far more text than one block of storage
    const char* first = r.elements.front().str.data();
    std::vector<reply> moved;
    moved.push_back(std::move(r));
    for (int i = 0; i < 10; ++i) {
        moved.emplace_back();  // grows the vector: its replies move again
    }
    const reply& kept = moved.front();
    ASSERT_EQ(kept.elements.size(), 2000U);
    EXPECT_EQ(kept.elements.front().str.data(), first);
    for (std::size_t i = 0; i < kept.elements.size(); ++i) {
        ASSERT_EQ(kept.elements[i].str, member(i)) << i;
    }
}

TEST(redis_reply, keeps_a_string_longer_than_a_block_whole)
{
    reply r;
    const std::string small(100, 's');
    const std::string big(200'000, 'b');
    const std::string_view a = r.keep(small);
    const std::string_view b = r.keep(big);
    const std::string_view c = r.keep(small);
    EXPECT_EQ(a, small);
    EXPECT_EQ(b, big);
    EXPECT_EQ(c, small);
    EXPECT_TRUE(r.keep("").empty());
}

TEST(redis_reply, a_copy_owns_its_text_and_outlives_the_original)
{
    std::optional<reply> original(array_of_members(300));
    original->elements.push_back(reply::number(7));
    original->elements.push_back(
        reply::array({reply::text(reply::kind::status, "nested"), reply()}));
    const reply copy = *original;
    original.reset();

    ASSERT_EQ(copy.type, reply::kind::array);
    ASSERT_EQ(copy.elements.size(), 302U);
    for (std::size_t i = 0; i < 300; ++i) {
        ASSERT_EQ(copy.elements[i].str, member(i)) << i;
    }
    EXPECT_EQ(copy.elements[300].type, reply::kind::integer);
    EXPECT_EQ(copy.elements[300].integer, 7);
    const reply& nested = copy.elements[301];
    ASSERT_EQ(nested.elements.size(), 2U);
    EXPECT_EQ(nested.elements[0].type, reply::kind::status);
    EXPECT_EQ(nested.elements[0].str, "nested");
    EXPECT_TRUE(nested.elements[1].is_nil());
}

TEST(redis_reply, copy_assignment_replaces_the_text)
{
    reply target = reply::text(reply::kind::error, "ERR before");
    {
        const reply source = reply::text(reply::kind::string, "after");
        target = source;
    }
    EXPECT_EQ(target.type, reply::kind::string);
    EXPECT_EQ(target.str, "after");
    const reply& self = target;
    target = self;
    EXPECT_EQ(target.str, "after");
}

}  // namespace
}  // namespace analytics::redis
