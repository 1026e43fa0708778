// Pure tests of cluster slot hashing and command routing keys (redis/slot.hpp): the CRC16 test
// vector of the Redis Cluster specification, its hash tag rules, and the slots Redis 7.0's
// CLUSTER KEYSLOT gives for the same keys.

#include "redis/slot.hpp"

#include <gtest/gtest.h>

#include <array>
#include <string>
#include <string_view>
#include <vector>

namespace analytics::redis {
namespace {

std::optional<std::string_view> key_of(std::vector<std::string_view> args)
{
    return first_key(args);
}

TEST(crc16, matches_the_test_vector_of_the_cluster_specification)
{
    EXPECT_EQ(crc16("123456789"), 0x31C3);
    EXPECT_EQ(crc16(""), 0);
}

TEST(key_slot, gives_the_slots_redis_computes_for_plain_keys)
{
    EXPECT_EQ(key_slot("123456789"), 12739);  // 0x31C3 mod 16384
    EXPECT_EQ(key_slot("foo"), 12182);
    EXPECT_EQ(key_slot("bar"), 5061);
    EXPECT_EQ(key_slot(""), 0);
    EXPECT_EQ(key_slot(std::string_view("a\0b", 3)), crc16(std::string_view("a\0b", 3)) & 16383);
}

TEST(key_slot, hashes_only_the_hash_tag_when_there_is_one)
{
    EXPECT_EQ(key_slot("{user1000}.following"), 3443);
    EXPECT_EQ(key_slot("{user1000}.followers"), key_slot("{user1000}.following"));
    EXPECT_EQ(key_slot("{user1000}.following"), key_slot("user1000"));
    EXPECT_EQ(key_slot("metrics:{cpu}:raw"), key_slot("cpu"));
    EXPECT_EQ(key_slot("metrics:{cpu}:raw"), 9296);
}

TEST(key_slot, follows_the_specification_for_odd_braces)
{
    // The first `{` and the first `}` after it; an empty tag means the whole key.
    EXPECT_EQ(key_slot("foo{}{bar}"), 8363);
    EXPECT_EQ(key_slot("foo{}{bar}"), crc16("foo{}{bar}") & 16383);
    EXPECT_EQ(key_slot("foo{{bar}}zap"), 4015);
    EXPECT_EQ(key_slot("foo{{bar}}zap"), key_slot("{bar"));
    EXPECT_EQ(key_slot("foo{bar}{zap}"), key_slot("bar"));
    EXPECT_EQ(key_slot("a{b"), 13340);  // no closing brace: the whole key
    EXPECT_EQ(key_slot("}{a}"), key_slot("a"));
}

TEST(same_slot, holds_for_keys_sharing_a_hash_tag_and_not_otherwise)
{
    const std::array<std::string_view, 3> tagged{"m:{cpu}:a", "m:{cpu}:b", "{cpu}"};
    const std::array<std::string_view, 2> split{"foo", "bar"};
    const std::array<std::string_view, 1> one{"foo"};
    EXPECT_TRUE(same_slot(tagged));
    EXPECT_FALSE(same_slot(split));
    EXPECT_TRUE(same_slot(one));
    EXPECT_TRUE(same_slot({}));
}

TEST(is_command, matches_a_command_name_in_any_case)
{
    EXPECT_TRUE(is_command("exec", "EXEC"));
    EXPECT_TRUE(is_command("Multi", "MULTI"));
    EXPECT_FALSE(is_command("EXE", "EXEC"));
    EXPECT_FALSE(is_command("EXECX", "EXEC"));
    EXPECT_FALSE(is_command("", "EXEC"));
}

TEST(first_key, takes_argument_one_of_an_ordinary_command)
{
    EXPECT_EQ(key_of({"GET", "k"}), "k");
    EXPECT_EQ(key_of({"set", "k", "v"}), "k");
    EXPECT_EQ(key_of({"ZADD", "z", "1", "m"}), "z");
    EXPECT_EQ(key_of({"MGET", "a", "b"}), "a");
}

TEST(first_key, finds_no_key_in_keyless_commands)
{
    EXPECT_EQ(key_of({"PING"}), std::nullopt);
    EXPECT_EQ(key_of({"ECHO", "hello"}), std::nullopt);
    EXPECT_EQ(key_of({"WAIT", "1", "100"}), std::nullopt);
    EXPECT_EQ(key_of({"client", "setname", "x"}), std::nullopt);
    EXPECT_EQ(key_of({"INFO", "replication"}), std::nullopt);
    EXPECT_EQ(key_of({"SCRIPT", "LOAD", "return 1"}), std::nullopt);
    EXPECT_EQ(key_of({"MULTI"}), std::nullopt);
    EXPECT_EQ(key_of({"EXEC"}), std::nullopt);
    EXPECT_EQ(key_of({}), std::nullopt);
}

TEST(first_key, takes_the_first_key_of_a_script_call_after_numkeys)
{
    EXPECT_EQ(key_of({"EVALSHA", "abc", "2", "k1", "k2", "arg"}), "k1");
    EXPECT_EQ(key_of({"eval", "return 1", "1", "k"}), "k");
    EXPECT_EQ(key_of({"FCALL", "f", "1", "k"}), "k");
    EXPECT_EQ(key_of({"EVALSHA", "abc", "0", "arg"}), std::nullopt);
    EXPECT_EQ(key_of({"EVALSHA", "abc", "x", "k"}), std::nullopt);
    EXPECT_EQ(key_of({"EVALSHA", "abc", "1"}), std::nullopt);
}

TEST(first_key, finds_the_key_of_commands_that_name_it_later)
{
    EXPECT_EQ(key_of({"XREAD", "COUNT", "10", "STREAMS", "s1", "s2", "0", "0"}), "s1");
    EXPECT_EQ(key_of({"XREADGROUP", "GROUP", "g", "c", "streams", "s", ">"}), "s");
    EXPECT_EQ(key_of({"MEMORY", "USAGE", "k"}), "k");
    EXPECT_EQ(key_of({"MEMORY", "STATS"}), std::nullopt);
    EXPECT_EQ(key_of({"OBJECT", "ENCODING", "k"}), "k");
}

}  // namespace
}  // namespace analytics::redis
