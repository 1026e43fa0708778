// How cluster_store reads its script's answers: every field, the changes as transitions, and a
// malformed answer refused rather than guessed at.

#include "breaker/cluster_store.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <initializer_list>
#include <string>

namespace analytics::breaker {
namespace {

using namespace std::chrono_literals;

redis::reply integer(std::int64_t n)
{
    redis::reply r;
    r.type = redis::reply::kind::integer;
    r.integer = n;
    return r;
}

redis::reply text(std::string_view s)
{
    return redis::reply::text(redis::reply::kind::string, s);
}

redis::reply answer(std::initializer_list<std::int64_t> numbers,
                    std::initializer_list<std::string> reasons = {})
{
    redis::reply r;
    r.type = redis::reply::kind::array;
    for (const auto n : numbers) {
        r.elements.push_back(integer(n));
    }
    for (const auto& s : reasons) {
        r.elements.push_back(text(s));
    }
    return r;
}

TEST(cluster_store, reads_every_field_of_an_answer)
{
    const auto s = cluster_store::parse(
        answer({1, 5, 0, 8, 29'500, 1'771'502'400'123, 0, 0}, {"failure_threshold_reached"}));
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(s->current, state::open);
    EXPECT_EQ(s->failure_count, 5U);
    EXPECT_EQ(s->success_count, 0U);
    EXPECT_EQ(s->generation, 8U);
    EXPECT_EQ(s->wait, 29'500ms);
    ASSERT_TRUE(s->opened_at.has_value());
    EXPECT_EQ(s->opened_at->time_since_epoch(), 1'771'502'400'123ms);
    EXPECT_FALSE(s->trial_granted);
    EXPECT_FALSE(s->trial_in_flight);
    ASSERT_EQ(s->changes.size(), 1U);
    EXPECT_EQ(s->changes[0].from, state::closed);
    EXPECT_EQ(s->changes[0].to, state::open);
    EXPECT_EQ(s->changes[0].reason, "failure_threshold_reached");
}

TEST(cluster_store, reads_a_granted_trial_and_the_changes_before_it)
{
    const auto s = cluster_store::parse(
        answer({2, 5, 0, 9, 5'250, 1'771'502'400'123, 1, 1}, {"reset_timeout_elapsed"}));
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(s->current, state::half_open);
    EXPECT_TRUE(s->trial_granted);
    EXPECT_TRUE(s->trial_in_flight);
    ASSERT_EQ(s->changes.size(), 1U);
    EXPECT_EQ(s->changes[0].from, state::open);
    EXPECT_EQ(s->changes[0].to, state::half_open);
}

TEST(cluster_store, a_breaker_that_never_opened_has_no_opened_at)
{
    const auto s = cluster_store::parse(answer({0, 0, 3, 0, 0, 0, 0, 0}));
    ASSERT_TRUE(s.has_value());
    EXPECT_EQ(s->current, state::closed);
    EXPECT_EQ(s->success_count, 3U);
    EXPECT_FALSE(s->opened_at.has_value());
    EXPECT_TRUE(s->changes.empty());
}

TEST(cluster_store, refuses_answers_it_does_not_understand)
{
    const auto refused = [](const redis::reply& r) { return !cluster_store::parse(r); };
    EXPECT_TRUE(refused(text("OK")));
    EXPECT_TRUE(refused(answer({0, 0, 0, 0, 0, 0, 0})));      // one field short
    EXPECT_TRUE(refused(answer({3, 0, 0, 0, 0, 0, 0, 0})));   // no such state
    EXPECT_TRUE(refused(answer({0, -1, 0, 0, 0, 0, 0, 0})));  // negative count
    EXPECT_TRUE(refused(answer({0, 0, 0, 0, 0, 0, 0, 0}, {"no_such_reason"})));
    auto wrong_type = answer({0, 0, 0, 0, 0, 0, 0, 0});
    wrong_type.elements[4] = text("12");
    EXPECT_TRUE(refused(wrong_type));
}

}  // namespace
}  // namespace analytics::breaker
