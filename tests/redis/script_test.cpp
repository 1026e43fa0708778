// Pure tests of the Redis client's value types: a script's SHA-1 (what EVALSHA sends) and the
// error category. No server, no sockets.

#include "redis/errc.hpp"
#include "redis/script.hpp"

#include <gtest/gtest.h>

#include <string>

namespace analytics::redis {
namespace {

std::string sha1_of(std::string source) { return script(std::move(source)).sha1(); }

TEST(redis_script, hashes_the_empty_source_to_the_standard_digest)
{
    EXPECT_EQ(sha1_of(""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
}

TEST(redis_script, hashes_the_fips_180_test_vectors)
{
    EXPECT_EQ(sha1_of("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    EXPECT_EQ(sha1_of("The quick brown fox jumps over the lazy dog"),
              "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12");
    EXPECT_EQ(sha1_of(std::string(1'000'000, 'a')), "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

// The padding needs a second block when fewer than 9 bytes are left in the last one; these
// lengths sit on both sides of each boundary.
TEST(redis_script, hashes_sources_around_the_block_boundaries)
{
    EXPECT_EQ(sha1_of(std::string(55, 'a')), "c1c8bbdc22796e28c0e15163d20899b65621d65a");
    EXPECT_EQ(sha1_of(std::string(56, 'a')), "c2db330f6083854c99d4b5bfb6e8f29f201be699");
    EXPECT_EQ(sha1_of(std::string(63, 'a')), "03f09f5b158a7a8cdad920bddc29b81c18a551f5");
    EXPECT_EQ(sha1_of(std::string(64, 'a')), "0098ba824b5c16427bd7a1122a5a442a25ec644d");
    EXPECT_EQ(sha1_of(std::string(65, 'a')), "11655326c708d70319be2610e8a57d9a5b959d3b");
    EXPECT_EQ(sha1_of(std::string(119, 'a')), "ee971065aaa017e0632a8ca6c77bb3bf8b1dfc56");
    EXPECT_EQ(sha1_of(std::string(120, 'a')), "f34c1488385346a55709ba056ddd08280dd4c6d6");
}

TEST(redis_script, hashes_every_byte_value_including_those_above_127)
{
    std::string all_bytes;
    for (int i = 0; i < 256; ++i) {
        all_bytes.push_back(static_cast<char>(i));
    }
    EXPECT_EQ(sha1_of(all_bytes), "4916d6bdb7f78e6803698cab32d1586ea457dfc8");
}

TEST(redis_script, keeps_its_source_and_gives_forty_lowercase_hex_digits)
{
    const script s(R"(return redis.call("GET", KEYS[1]))");
    EXPECT_EQ(s.source(), R"(return redis.call("GET", KEYS[1]))");
    EXPECT_EQ(s.sha1(), "d1ad8397c172dc0a63e271f0c4c4250ca8d5d1fb");
    ASSERT_EQ(s.sha1().size(), 40U);
    for (char c : s.sha1()) {
        EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << c;
    }
}

TEST(redis_errc, belongs_to_the_redis_category)
{
    const boost::system::error_code ec = errc::timeout;
    EXPECT_STREQ(ec.category().name(), "redis");
    EXPECT_EQ(ec, errc::timeout);
    EXPECT_NE(ec, errc::not_connected);
    EXPECT_TRUE(ec.failed());
}

TEST(redis_errc, describes_every_code_in_words)
{
    EXPECT_EQ(make_error_code(errc::not_connected).message(), "not connected to redis");
    EXPECT_EQ(make_error_code(errc::timeout).message(), "no reply from redis within the deadline");
    EXPECT_EQ(make_error_code(errc::connection_lost).message(),
              "the connection to redis was lost while the command was in flight");
    EXPECT_EQ(make_error_code(errc::server_error).message(), "redis answered with an error reply");
    EXPECT_EQ(make_error_code(errc::protocol_error).message(),
              "redis sent bytes that are not valid RESP");
    EXPECT_EQ(make_error_code(errc::stopped).message(), "the redis client was stopped");
    EXPECT_EQ(make_error_code(errc::unexpected_reply).message(),
              "redis sent a reply of an unexpected shape");
}

TEST(redis_errc, names_an_unknown_value_instead_of_failing)
{
    const boost::system::error_code ec(99, error_category());
    EXPECT_EQ(ec.message(), "unknown redis error 99");
}

}  // namespace
}  // namespace analytics::redis
