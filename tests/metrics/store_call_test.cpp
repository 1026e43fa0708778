// The store script's call (store_call.hpp): every key of a call in the call's tag, the ARGV
// layout store.lua reads, and its replies.
#include "metrics/store_call.hpp"

#include "metrics/rollup.hpp"
#include "redis/key_tags.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

namespace analytics::metrics {
namespace {

constexpr std::int64_t now_ms = 1'771'502'400'000;

redis::reply integer(std::int64_t v)
{
    redis::reply r;
    r.type = redis::reply::kind::integer;
    r.integer = v;
    return r;
}

redis::reply array(std::vector<redis::reply> elements)
{
    redis::reply r;
    r.type = redis::reply::kind::array;
    r.elements = std::move(elements);
    return r;
}

TEST(store_call, names_every_key_in_its_tag)
{
    const std::string type = "cpu_usage";
    const std::size_t tag = redis::tag_index(type);
    std::vector<queued_metric> batch(1);
    batch[0].m.type = type;
    batch[0].m.timestamp.micros = now_ms * 1000;
    batch[0].added_ms = now_ms;
    const auto plans = plan_ingest(batch);
    ASSERT_EQ(plans.size(), 1U);
    store_settings settings;
    store_call call(tag, settings, now_ms * 1000, 7, false);
    call.add_type(plans[0].types[0], now_ms + 1000);
    call.add_record("retry-1", R"({"message":"Metric received"})");

    const std::string tag_text = "{" + std::string(redis::key_tags()[tag]) + "}";
    const auto keys = call.keys();
    ASSERT_EQ(keys.size(), 5U);
    for (const auto k : keys) {
        EXPECT_NE(k.find(tag_text), std::string_view::npos) << k;
    }
    EXPECT_EQ(keys[0], index_key(tag));
    EXPECT_EQ(keys[2], type_set_key(type));
    EXPECT_EQ(keys[3], type_rollups_key(type));
    EXPECT_EQ(keys[4], record_key(tag, "retry-1"));
}

// Doubles as struct.unpack('<d...') reads them.
std::vector<double> doubles(std::string_view bytes)
{
    std::vector<double> out(bytes.size() / 8);
    std::memcpy(out.data(), bytes.data(), out.size() * 8);
    return out;
}

TEST(store_call, lays_out_argv_as_the_script_reads_it)
{
    std::vector<queued_metric> batch(2);
    for (auto& q : batch) {
        q.m.type = "t";
        q.m.timestamp.micros = now_ms * 1000;
        q.added_ms = now_ms;
    }
    const auto plans = plan_ingest(batch);
    store_settings settings{3'600'000, 500, 86'400'000, 300'000};
    store_call call(plans[0].tag, settings, now_ms * 1000 + 123, 0x0102030405060708, true);
    call.add_type(plans[0].types[0], now_ms + 5);
    const auto args = call.args();
    // The call's head: its numbers, the retention pass's limit, the key prefix.
    ASSERT_GE(args.size(), 1U);
    const auto below = order_prefix((now_ms - 3'600'000 + 300'000) * 1000);
    const std::string prefix = tag_key_prefix(plans[0].tag);
    ASSERT_EQ(args[0].size(), 8 * 8 + below.size() + prefix.size());
    EXPECT_EQ(doubles(args[0].substr(0, 8 * 8)),
              (std::vector<double>{static_cast<double>(now_ms), 3'600'000, 500, 86'400'000, 1, 0,
                                   86'400'000, 1}));
    EXPECT_EQ(args[0].substr(8 * 8, below.size()), std::string_view(below.data(), below.size()));
    EXPECT_EQ(args[0].substr(8 * 8 + below.size()), prefix);
    // The type's numbers followed by its fields' shares, its one block, whole, then the fields'
    // names.
    const auto& fields = plans[0].types[0].fields;
    ASSERT_EQ(args.size(), 1U + 1 + 1 + fields.size());
    ASSERT_EQ(args[1].size(), 4 * 8 + fields.size() * rollup_size);
    EXPECT_EQ(doubles(args[1].substr(0, 4 * 8)),
              (std::vector<double>{static_cast<double>(now_ms + 5), 2, 1,
                                   static_cast<double>(fields.size())}));
    for (std::size_t f = 0; f < fields.size(); ++f) {
        EXPECT_EQ(parse_rollup(args[1].substr(4 * 8 + f * rollup_size, rollup_size)),
                  fields[f].share);
        EXPECT_EQ(args[3 + f], fields[f].name);
    }
    EXPECT_EQ(args[3], "t");
    const auto block = block_view::parse(args[2]);
    ASSERT_TRUE(block);
    EXPECT_EQ(block->arrival_micros(), now_ms * 1000 + 123);
    EXPECT_EQ(block->nonce(), 0x0102030405060708U);
    EXPECT_EQ(block->size(), 2U);
    EXPECT_EQ(block->type(), "t");
}

TEST(store_call, reads_a_stored_reply_with_renewals)
{
    auto out = store_call::read_reply(array({integer(0), integer(2), integer(900)}));
    ASSERT_TRUE(out);
    const auto* stored = std::get_if<store_call::stored>(&*out);
    ASSERT_NE(stored, nullptr);
    ASSERT_EQ(stored->renewals.size(), 1U);
    EXPECT_EQ(stored->renewals[0].first, 1U);
    EXPECT_EQ(stored->renewals[0].second, 900);
}

TEST(store_call, reads_the_records_of_a_repeated_request)
{
    const auto answer = redis::reply::text(redis::reply::kind::string, "first answer");
    redis::reply none;
    auto out = store_call::read_reply(array({integer(-1), none, answer}));
    ASSERT_TRUE(out);
    const auto* repeated = std::get_if<store_call::repeated>(&*out);
    ASSERT_NE(repeated, nullptr);
    ASSERT_EQ(repeated->answers.size(), 2U);
    EXPECT_FALSE(repeated->answers[0]);
    EXPECT_EQ(repeated->answers[1], "first answer");
}

TEST(store_call, refuses_other_replies)
{
    auto error = redis::reply::text(redis::reply::kind::error, "ERR UNREGISTERED");
    EXPECT_FALSE(store_call::read_reply(std::move(error)));
    EXPECT_FALSE(store_call::read_reply(array({})));
    EXPECT_FALSE(store_call::read_reply(array({integer(0), integer(1)})));
    EXPECT_FALSE(store_call::read_reply(array({integer(0), integer(0), integer(5)})));
    EXPECT_FALSE(store_call::read_reply(array({integer(3), integer(1)})));
}

}  // namespace
}  // namespace analytics::metrics
