// Pure tests of what the cluster client reads from error replies (redis/redirect.hpp): MOVED
// and ASK targets, the error classes it acts on, and when a batch's replies prove that no
// keyed command ran, so that sending it again cannot run anything twice.

#include "redis/redirect.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace analytics::redis {
namespace {

reply error(std::string_view text)
{
    return reply::text(reply::kind::error, text);
}

reply status(std::string_view text)
{
    return reply::text(reply::kind::status, text);
}

reply integer(std::int64_t n)
{
    return reply::number(n);
}

reply array(std::vector<reply> elements)
{
    return reply::array(std::move(elements));
}

command_batch batch_of(std::vector<std::vector<std::string_view>> commands)
{
    command_batch b;
    for (const auto& c : commands) {
        b.add(c);
    }
    return b;
}

TEST(parse_redirect, reads_moved_and_ask_with_their_slot_and_node)
{
    const auto moved = parse_redirect("MOVED 3999 127.0.0.1:6381");
    ASSERT_TRUE(moved);
    EXPECT_FALSE(moved->ask);
    EXPECT_EQ(moved->slot, 3999);
    EXPECT_EQ(moved->host, "127.0.0.1");
    EXPECT_EQ(moved->port, 6381);

    const auto ask = parse_redirect("ASK 16383 redis-3.internal:7002");
    ASSERT_TRUE(ask);
    EXPECT_TRUE(ask->ask);
    EXPECT_EQ(ask->slot, 16383);
    EXPECT_EQ(ask->host, "redis-3.internal");
    EXPECT_EQ(ask->port, 7002);
}

TEST(parse_redirect, takes_the_port_after_the_last_colon_of_an_ipv6_address)
{
    const auto r = parse_redirect("MOVED 0 ::1:7000");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->host, "::1");
    EXPECT_EQ(r->port, 7000);
}

TEST(parse_redirect, leaves_the_host_empty_when_the_server_does_not_know_the_endpoint)
{
    const auto r = parse_redirect("MOVED 12 :7000");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->host, "");
    EXPECT_EQ(r->port, 7000);
}

TEST(parse_redirect, refuses_anything_malformed)
{
    for (const char* text : {"MOVED", "MOVED 3999", "MOVED 3999 127.0.0.1", "MOVED x 1.2.3.4:5",
                             "MOVED 16384 1.2.3.4:5", "MOVED -1 1.2.3.4:5", "MOVED 1 1.2.3.4:0",
                             "MOVED 1 1.2.3.4:70000", "MOVED 1 1.2.3.4:5x", "MOVEDX 1 h:5",
                             "ASKING 1 h:5", "ERR MOVED 1 h:5", "TRYAGAIN", ""}) {
        EXPECT_FALSE(parse_redirect(text)) << text;
    }
}

TEST(classify_error, tells_the_refusals_a_cluster_client_acts_on_from_other_errors)
{
    EXPECT_EQ(classify_error("MOVED 1 h:5"), error_class::moved);
    EXPECT_EQ(classify_error("ASK 1 h:5"), error_class::ask);
    EXPECT_EQ(classify_error("TRYAGAIN Multiple keys request during rehashing of slot"),
              error_class::try_again);
    EXPECT_EQ(classify_error("CLUSTERDOWN The cluster is down"), error_class::cluster_down);
    EXPECT_EQ(classify_error("NOSCRIPT No matching script. Please use EVAL."),
              error_class::noscript);
    EXPECT_EQ(classify_error("ERR unknown command"), error_class::other);
    EXPECT_EQ(classify_error("CROSSSLOT Keys in request don't hash to the same slot"),
              error_class::other);
    EXPECT_EQ(classify_error("ASKED 1 h:5"), error_class::other);
    EXPECT_EQ(classify_error("WRONGTYPE Operation against a key"), error_class::other);
}

TEST(judge_replies, follows_a_lone_command_that_was_moved)
{
    const auto b = batch_of({{"GET", "k"}});
    const std::vector<reply> replies{error("MOVED 866 127.0.0.1:7001")};
    const auto v = judge_replies(b, replies);
    EXPECT_EQ(v.kind, error_class::moved);
    ASSERT_TRUE(v.target);
    EXPECT_EQ(v.target->slot, 866);
    EXPECT_EQ(v.target->port, 7001);
}

TEST(judge_replies, takes_replies_as_final_when_a_command_ran)
{
    const auto b = batch_of({{"GET", "k"}});
    EXPECT_EQ(judge_replies(b, std::vector<reply>{status("OK")}).kind, error_class::other);
    // An error that is not a refusal is the command's answer.
    EXPECT_EQ(judge_replies(b, std::vector<reply>{error("WRONGTYPE x")}).kind, error_class::other);
}

TEST(judge_replies, ignores_keyless_commands_such_as_wait)
{
    const auto b = batch_of({{"EVALSHA", "abc", "1", "k"}, {"WAIT", "1", "100"}});
    const std::vector<reply> replies{error("NOSCRIPT No matching script."), integer(1)};
    EXPECT_EQ(judge_replies(b, replies).kind, error_class::noscript);
}

TEST(judge_replies, does_not_resend_a_batch_of_which_one_keyed_command_ran)
{
    // During a migration one key of the slot may still be on the source, another already gone:
    // the first command ran, so the batch must not be sent again.
    const auto b = batch_of({{"INCR", "{t}a"}, {"INCR", "{t}b"}});
    const std::vector<reply> replies{integer(1), error("ASK 5 127.0.0.1:7001")};
    EXPECT_EQ(judge_replies(b, replies).kind, error_class::other);
}

TEST(judge_replies, sees_a_transaction_refused_when_queued_as_not_run)
{
    const auto b =
        batch_of({{"MULTI"}, {"EVALSHA", "abc", "1", "k"}, {"EXEC"}, {"WAIT", "1", "5"}});
    const std::vector<reply> replies{
        status("OK"), error("MOVED 12 127.0.0.1:7002"),
        error("EXECABORT Transaction discarded because of previous errors."), integer(0)};
    const auto v = judge_replies(b, replies);
    EXPECT_EQ(v.kind, error_class::moved);
    ASSERT_TRUE(v.target);
    EXPECT_EQ(v.target->port, 7002);
}

TEST(judge_replies, reads_the_results_of_a_transaction_from_exec)
{
    const auto b = batch_of({{"MULTI"}, {"EVALSHA", "abc", "1", "k"}, {"EXEC"}});
    const std::vector<reply> noscript{status("OK"), status("QUEUED"),
                                      array({error("NOSCRIPT No matching script.")})};
    EXPECT_EQ(judge_replies(b, noscript).kind, error_class::noscript);

    const std::vector<reply> ran{status("OK"), status("QUEUED"), array({integer(7)})};
    EXPECT_EQ(judge_replies(b, ran).kind, error_class::other);
}

TEST(judge_replies, matches_exec_results_to_queued_commands_skipping_keyless_ones)
{
    const auto b = batch_of({{"MULTI"}, {"PING"}, {"SET", "k", "v"}, {"EXEC"}});
    // PING ran (keyless, does not count); SET's result is the second element.
    const std::vector<reply> replies{status("OK"), status("QUEUED"), status("QUEUED"),
                                     array({status("PONG"), error("TRYAGAIN later")})};
    EXPECT_EQ(judge_replies(b, replies).kind, error_class::try_again);
}

TEST(judge_replies, takes_a_cluster_down_refusal_as_such)
{
    const auto b = batch_of({{"GET", "k"}});
    EXPECT_EQ(judge_replies(b, std::vector<reply>{error("CLUSTERDOWN The cluster is down")}).kind,
              error_class::cluster_down);
}

TEST(judge_replies, treats_a_redirect_it_cannot_parse_as_final)
{
    const auto b = batch_of({{"GET", "k"}});
    EXPECT_EQ(judge_replies(b, std::vector<reply>{error("MOVED garbage")}).kind,
              error_class::other);
}

}  // namespace
}  // namespace analytics::redis
