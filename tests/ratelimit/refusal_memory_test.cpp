#include "ratelimit/refusal_memory.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace analytics::ratelimit {
namespace {

using namespace std::chrono_literals;

const common::clock::mono_time t0{std::chrono::seconds(1000)};

TEST(refusal_memory, refuses_a_client_until_its_moment_has_passed)
{
    refusal_memory memory;
    memory.remember("198.51.100.1", t0, 6'500ms);

    EXPECT_EQ(memory.refused_for("198.51.100.1", t0), 6'500ms);
    EXPECT_EQ(memory.refused_for("198.51.100.1", t0 + 6'499ms), 1ms);
    EXPECT_EQ(memory.refused_for("198.51.100.2", t0), std::nullopt);

    // The moment itself is when the request passes, so the entry is gone then.
    EXPECT_EQ(memory.refused_for("198.51.100.1", t0 + 6'500ms), std::nullopt);
    EXPECT_EQ(memory.size(), 0U);
}

TEST(refusal_memory, rounds_a_partial_millisecond_up)
{
    refusal_memory memory;
    memory.remember("c", t0, 10ms);
    EXPECT_EQ(memory.refused_for("c", t0 + 9'999us), 1ms);
}

TEST(refusal_memory, replaces_the_moment_of_a_client_refused_again)
{
    refusal_memory memory;
    memory.remember("c", t0, 1s);
    memory.remember("c", t0 + 2s, 3s);
    EXPECT_EQ(memory.refused_for("c", t0 + 2s), 3s);
    EXPECT_EQ(memory.size(), 1U);
}

TEST(refusal_memory, stays_within_its_capacity_and_makes_room_once_entries_expire)
{
    refusal_memory memory(2);
    memory.remember("a", t0, 1s);
    memory.remember("b", t0, 5s);
    memory.remember("c", t0, 5s);  // full and nothing expired: not remembered
    EXPECT_EQ(memory.size(), 2U);
    EXPECT_EQ(memory.refused_for("c", t0), std::nullopt);

    memory.remember("d", t0 + 500ms, 5s);  // still nothing expired
    EXPECT_EQ(memory.refused_for("d", t0 + 500ms), std::nullopt);

    memory.remember("e", t0 + 1s, 5s);  // "a" has expired and makes room
    EXPECT_EQ(memory.size(), 2U);
    EXPECT_EQ(memory.refused_for("e", t0 + 1s), 5s);
    EXPECT_EQ(memory.refused_for("b", t0 + 1s), 4s);
}

}  // namespace
}  // namespace analytics::ratelimit
