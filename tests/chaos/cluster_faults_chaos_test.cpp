// End-to-end tests of the service on a Redis Cluster that changes under it (docs/contract.md,
// Health and Batch ingest): slots moved by `redis-cli --cluster reshard` while clients ingest and
// read; a manual CLUSTER FAILOVER under load; a master killed with SIGKILL while eight clients
// ingest and its replica lags, with REDIS_WAIT_REPLICAS=1. The real binary on a cluster of the
// suite's own (3 masters + 3 replicas from scripts/redis-cluster.sh in a temporary directory),
// since these tests kill nodes and move slots; its nodes are stopped when the suite ends.
//
// Every writer sends each metric with an Idempotency-Key and repeats it after a 503 until it
// is answered 201, as the contract tells clients to: so what the service stores must be exactly
// what it acknowledged, and every list and summary is checked against that afterwards.

#include "e2e/http_client.hpp"
#include "e2e/metric_bodies.hpp"
#include "e2e/service_process.hpp"
#include "metrics/store_call.hpp"
#include "redis/key_tags.hpp"
#include "redis/slot.hpp"
#include "support/coro_helpers.hpp"
#include "support/redis_admin.hpp"
#include "support/redis_cluster.hpp"

#include <boost/json.hpp>

#include <gtest/gtest.h>

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace analytics::test {
namespace {

using namespace std::chrono_literals;
using env = std::map<std::string, std::string>;
using steady_clock = std::chrono::steady_clock;

// A type's points are read back with one list request (limit 1000): its writer stops there.
constexpr std::size_t max_points_per_type = 950;

// One type per hash tag (redis/key_tags.hpp), so that the load covers every shard.
std::vector<std::string> one_type_per_tag(const std::string& prefix)
{
    std::vector<std::string> out(redis::tag_count);
    std::size_t found = 0;
    for (int i = 0; found < out.size(); ++i) {
        const std::string name = prefix + std::to_string(i);
        auto& slot = out[redis::tag_index(name)];
        if (slot.empty()) {
            slot = name;
            ++found;
        }
    }
    return out;
}

std::uint16_t slot_of_type(std::string_view type)
{
    return redis::key_slot(metrics::type_set_key(type));
}

// One type's history as its writer saw it.
struct type_record {
    std::string type;
    std::vector<int> acknowledged;  // values answered 201, in the order sent
    // Every answer: milliseconds since the load started, and the status (0: no answer).
    std::vector<std::pair<double, unsigned>> answers;
    bool unfinished = false;  // a metric never got its 201 (given up after 30 s)
};

struct read_record {
    std::map<unsigned, int> statuses;  // 0: no answer
};

// Writers (and readers) against one service, from construction until stop(). Each record is
// touched by its own writer only, and read by the test after stop().
class cluster_load {
public:
    /// `writers` threads share `types` (each owns every writers-th one); `readers` threads read.
    cluster_load(std::uint16_t port, const std::vector<std::string>& types, int writers,
                 int readers)
        : port_(port), writers_(writers), started_(steady_clock::now())
    {
        for (const auto& t : types) {
            records_.push_back(std::make_unique<type_record>());
            records_.back()->type = t;
        }
        // Past timestamps, one millisecond apart per type: the newest point of a type is the
        // last one sent, whatever arrives when.
        base_micros_ =
            (std::chrono::duration_cast<std::chrono::seconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count() -
             3600) *
            1'000'000;
        for (int r = 0; r < readers; ++r) {
            reads_.push_back(std::make_unique<read_record>());
        }
        for (int w = 0; w < writers; ++w) {
            threads_.emplace_back([this, w] { write(w); });
        }
        for (auto& rec : reads_) {
            threads_.emplace_back([this, &rec = *rec] { read(rec); });
        }
    }

    ~cluster_load() { stop(); }

    void stop()
    {
        stop_ = true;
        for (auto& t : threads_) {
            if (t.joinable()) {
                t.join();
            }
        }
    }

    double now_ms() const { return elapsed_ms(started_); }

    const std::vector<std::unique_ptr<type_record>>& records() const { return records_; }
    const std::vector<std::unique_ptr<read_record>>& reads() const { return reads_; }

private:
    // Writer w sends metrics of its types in turn, each until it is answered 201.
    void write(int w)
    {
        std::vector<type_record*> mine;
        for (std::size_t i = static_cast<std::size_t>(w); i < records_.size();
             i += static_cast<std::size_t>(writers_)) {
            mine.push_back(records_[i].get());
        }
        auto conn = std::make_unique<http_connection>(port_, 5s);
        for (int seq = 0; !stop_; ++seq) {
            type_record& rec = *mine[static_cast<std::size_t>(seq) % mine.size()];
            if (rec.acknowledged.size() >= max_points_per_type || rec.unfinished) {
                std::this_thread::sleep_for(10ms);
                continue;
            }
            const int value = static_cast<int>(rec.answers.size());
            const std::string body = metric_body(
                common::format_rfc3339({base_micros_ + value * 1000LL, 3}), std::to_string(value),
                rec.type);
            const std::string key = rec.type + "-" + std::to_string(value);
            const auto give_up = steady_clock::now() + 30s;
            for (;;) {
                unsigned status = 0;
                try {
                    status = conn->request("POST", "/api/metrics", body,
                                           {{"Idempotency-Key", key}})
                                 .status;
                } catch (const std::exception&) {
                    conn = std::make_unique<http_connection>(port_, 5s);
                }
                rec.answers.emplace_back(now_ms(), status);
                if (status == 201) {
                    rec.acknowledged.push_back(value);
                    break;
                }
                if ((status != 503 && status != 0) || steady_clock::now() > give_up) {
                    rec.unfinished = true;  // the checks below name the status
                    break;
                }
                std::this_thread::sleep_for(20ms);
            }
            std::this_thread::sleep_for(10ms);
        }
    }

    // Lists and hourly summaries of every type in turn (the checks ask for `all` afterwards,
    // so that no summary cached during the load answers them).
    void read(read_record& rec)
    {
        auto conn = std::make_unique<http_connection>(port_, 5s);
        for (std::size_t i = 0; !stop_; ++i) {
            const std::string& type = records_[i % records_.size()]->type;
            const std::string target = i % 2 == 0
                                           ? "/api/metrics/list?type=" + type + "&limit=50"
                                           : "/api/metrics/summary?type=" + type + "&period=hourly";
            unsigned status = 0;
            try {
                status = conn->request("GET", target).status;
            } catch (const std::exception&) {
                conn = std::make_unique<http_connection>(port_, 5s);
            }
            ++rec.statuses[status];
            std::this_thread::sleep_for(10ms);
        }
    }

    std::uint16_t port_;
    int writers_;
    steady_clock::time_point started_;
    std::int64_t base_micros_ = 0;
    std::atomic<bool> stop_{false};
    std::vector<std::unique_ptr<type_record>> records_;
    std::vector<std::unique_ptr<read_record>> reads_;
    std::vector<std::thread> threads_;
};

// Every answer a writer or reader got was a 201/200 or a 503, never a 500 or a dropped
// connection, and every metric was acknowledged in the end. Returns the number of 503s.
int expect_only_201_or_503(const cluster_load& load)
{
    int unavailable = 0;
    for (const auto& rec : load.records()) {
        EXPECT_FALSE(rec->unfinished) << rec->type << ": a metric never got its 201, last answer "
                                      << rec->answers.back().second;
        for (const auto& [at, status] : rec->answers) {
            EXPECT_TRUE(status == 201 || status == 503)
                << rec->type << ": answer " << status << " at " << at << " ms";
            unavailable += status == 503 ? 1 : 0;
        }
    }
    for (const auto& rec : load.reads()) {
        for (const auto& [status, n] : rec->statuses) {
            EXPECT_TRUE(status == 200 || status == 503) << n << " reads answered " << status;
            unavailable += status == 503 ? n : 0;
        }
    }
    return unavailable;
}

// What the service lists and summarises for each type is exactly what it acknowledged: every
// value once, nothing else, and the all-time summary of those values.
void expect_stored_exactly_what_was_acknowledged(std::uint16_t port, const cluster_load& load)
{
    http_connection c(port, 10s);
    for (const auto& rec : load.records()) {
        const auto listed = c.request("GET", "/api/metrics/list?type=" + rec->type + "&limit=1000");
        ASSERT_EQ(listed.status, 200U) << listed.body;
        std::multiset<int> stored;
        const auto items = listed.json();
        for (const auto& item : items.as_array()) {
            stored.insert(static_cast<int>(item.as_object().at("value").to_number<double>()));
        }
        const std::multiset<int> acknowledged(rec->acknowledged.begin(), rec->acknowledged.end());
        EXPECT_EQ(stored, acknowledged) << rec->type << ": listed " << stored.size()
                                        << " points, acknowledged " << acknowledged.size();

        const auto summary =
            c.request("GET", "/api/metrics/summary?type=" + rec->type + "&period=all");
        ASSERT_EQ(summary.status, 200U) << summary.body;
        const auto s = summary.json().as_object();
        ASSERT_EQ(s.at("count").to_number<std::size_t>(), rec->acknowledged.size()) << rec->type;
        if (rec->acknowledged.empty()) {
            continue;
        }
        double sum = 0;
        for (const int v : rec->acknowledged) {
            sum += v;
        }
        const auto [min, max] =
            std::minmax_element(rec->acknowledged.begin(), rec->acknowledged.end());
        EXPECT_NEAR(s.at("average_value").to_number<double>(),
                    sum / static_cast<double>(rec->acknowledged.size()), 1e-9 * std::abs(sum) + 1e-9)
            << rec->type;
        EXPECT_EQ(s.at("min_value").to_number<double>(), *min) << rec->type;
        EXPECT_EQ(s.at("max_value").to_number<double>(), *max) << rec->type;
        // Values grow with timestamps: the newest point is the largest value.
        EXPECT_EQ(s.at("latest_value").to_number<double>(), *max) << rec->type;
    }
}

class cluster_faults_chaos : public ::testing::Test {
protected:
    static void SetUpTestSuite() { cluster_ = redis_cluster::start_private(); }
    static void TearDownTestSuite() { cluster_.reset(); }

    // Each test starts from a whole cluster (the one before may have killed a node) and no data.
    void SetUp() override
    {
        cluster_->wait_healthy();
        cluster_->flush();
    }

    // A generous Redis deadline: the machine runs sanitizers on two cores, and what is under
    // test is the cluster's faults, not CPU starvation. Rate limiting out of the way.
    static env service_env(env extra = {})
    {
        extra.emplace("REDIS_CLUSTER_NODES", cluster_->seeds());
        extra.emplace("REDIS_TIMEOUT_MS", "1000");
        extra.emplace("RATE_LIMIT_REQUESTS", "100000000");
        extra.emplace("EXTERNAL_SERVICE_LATENCY_MS", "0");
        extra.emplace("APP_THREADS", "2");
        return extra;
    }

    static std::uint16_t master_with_most_slots()
    {
        std::map<std::uint16_t, int> slots;
        for (const auto port : cluster_->slot_owners()) {
            ++slots[port];
        }
        slots.erase(0);
        return std::max_element(slots.begin(), slots.end(), [](const auto& a, const auto& b) {
                   return a.second < b.second;
               })->first;
    }

    static inline std::unique_ptr<redis_cluster> cluster_;
};

TEST_F(cluster_faults_chaos, slots_resharded_under_load_lose_no_acknowledged_metric_and_answer_no_500)
{
    service_process svc(service_env());
    const auto masters = cluster_->masters();
    ASSERT_EQ(masters.size(), 3U);
    const auto types = one_type_per_tag("reshard_");
    const auto owners_before = cluster_->slot_owners();

    // redis-cli moves the source's lowest slots first: as many as it takes to move the two
    // lowest hash tags (redis/key_tags.hpp) of the first master, keys and all.
    std::vector<std::uint16_t> tag_slots;
    for (const auto& type : types) {
        if (owners_before[slot_of_type(type)] == masters.front()) {
            tag_slots.push_back(slot_of_type(type));
        }
    }
    std::sort(tag_slots.begin(), tag_slots.end());
    ASSERT_GE(tag_slots.size(), 2U);
    const auto first_slot = static_cast<int>(
        std::find(owners_before.begin(), owners_before.end(), masters.front()) -
        owners_before.begin());
    const int slots = tag_slots[1] - first_slot + 1;

    cluster_load load(svc.port(), types, 4, 2);
    std::this_thread::sleep_for(500ms);
    const auto resharding = steady_clock::now();
    cluster_->reshard(masters.front(), masters[1], slots);
    const double resharded_at = load.now_ms();
    report("reshard_ms", elapsed_ms(resharding), "ms");
    report("reshard_slots", slots, "slots");
    std::this_thread::sleep_for(300ms);
    load.stop();

    // The moved types were written on their new master after the move: the service followed.
    const auto owners_after = cluster_->slot_owners();
    int moved = 0;
    for (const auto& rec : load.records()) {
        const auto slot = slot_of_type(rec->type);
        if (owners_before[slot] == owners_after[slot]) {
            continue;
        }
        ++moved;
        EXPECT_EQ(owners_after[slot], masters[1]);
        EXPECT_TRUE(std::any_of(rec->answers.begin(), rec->answers.end(), [&](const auto& a) {
            return a.first > resharded_at && a.second == 201;
        })) << rec->type << " was not stored on its new master";
    }
    EXPECT_EQ(moved, 2) << "the reshard did not move the two tags it was sized for";

    const int unavailable = expect_only_201_or_503(load);
    std::size_t acknowledged = 0;
    for (const auto& rec : load.records()) {
        acknowledged += rec->acknowledged.size();
    }
    report("reshard_metrics_acknowledged", static_cast<double>(acknowledged), "metrics");
    report("reshard_answers_503", unavailable, "answers");
    expect_stored_exactly_what_was_acknowledged(svc.port(), load);
}

TEST_F(cluster_faults_chaos, a_manual_failover_under_load_answers_no_500_and_loses_nothing)
{
    service_process svc(service_env());
    const auto master = cluster_->masters()[1];
    const auto replica = cluster_->replica_of(master);
    cluster_load load(svc.port(), one_type_per_tag("manual_"), 4, 2);
    std::this_thread::sleep_for(500ms);

    // The promoted replica has none of the service's scripts (the script cache is not
    // replicated): the service loads them there before its first call.
    const auto failing_over = steady_clock::now();
    cluster_->manual_failover(replica);
    report("manual_failover_ms", elapsed_ms(failing_over), "ms");
    // The service's slot map follows: the replica is now a master serving slots.
    const std::string promoted = "127.0.0.1:" + std::to_string(replica) + " master ";
    const auto until = steady_clock::now() + 5s;
    bool followed = false;
    while (!followed && steady_clock::now() < until) {
        for (const auto& line : svc.lines()) {
            followed = followed || (line.find("\"redis.cluster_map\"") != std::string::npos &&
                                    line.find(promoted) != std::string::npos);
        }
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_TRUE(followed) << "the service did not take " << replica << " as a master";
    std::this_thread::sleep_for(500ms);
    load.stop();

    report("manual_failover_answers_503", expect_only_201_or_503(load), "answers");
    expect_stored_exactly_what_was_acknowledged(svc.port(), load);
}

// What /ready and /health answered, polled every 50 ms from construction until stop().
class health_watch {
public:
    health_watch(std::uint16_t port, std::string victim) : victim_(std::move(victim))
    {
        thread_ = std::thread([this, port] {
            while (!stop_) {
                sample s;
                try {
                    s.ready = http_request(port, "GET", "/ready").status;
                    const auto health = http_request(port, "GET", "/health").json();
                    s.connected = health.as_object().at("redis_connected").as_bool();
                    for (const auto& n : health.as_object().at("redis_nodes").as_array()) {
                        const auto& node = n.as_object();
                        if (node.at("address").as_string() == victim_ &&
                            node.at("role").as_string() == "master") {
                            s.victim_connected = node.at("connected").as_bool();
                        }
                    }
                } catch (const std::exception&) {
                    s.ready = 0;
                }
                samples_.push_back(s);
                std::this_thread::sleep_for(50ms);
            }
        });
    }
    ~health_watch() { stop(); }

    void stop()
    {
        stop_ = true;
        if (thread_.joinable()) {
            thread_.join();
        }
    }

    struct sample {
        unsigned ready = 0;
        bool connected = false;
        bool victim_connected = true;  // while it is listed as a master
    };
    const std::vector<sample>& samples() const { return samples_; }

private:
    std::string victim_;
    std::atomic<bool> stop_{false};
    std::vector<sample> samples_;
    std::thread thread_;
};

// SIGCONT for a node the test stopped, however the test ends.
struct resume_on_exit {
    pid_t pid;
    ~resume_on_exit() { ::kill(pid, SIGCONT); }
};

// The failover scenario: the master with the most slots dies (SIGKILL) while eight clients
// ingest, just after its replica fell behind (stopped for half a second, its replication link
// dropped by the master, as a network hiccup would). With REDIS_WAIT_REPLICAS=1 nothing the
// master acknowledged in that half second exists only on it: it answered 503 instead, and the
// clients' repeats with the same Idempotency-Key are stored once the replica has taken over.
// Only the dead master's slots answer 503, only until its replica is promoted and has a
// replica of its own again (the dead node, restarted, rejoins as one); /ready stays 200.
TEST_F(cluster_faults_chaos, a_killed_master_loses_no_acknowledged_metric_and_stops_only_its_slots)
{
    service_process svc(service_env({{"REDIS_WAIT_REPLICAS", "1"}}));
    const auto victim = master_with_most_slots();
    const auto replica = cluster_->replica_of(victim);
    const pid_t victim_pid = cluster_->pid_of(victim);
    const pid_t replica_pid = cluster_->pid_of(replica);
    const auto owners = cluster_->slot_owners();

    health_watch health(svc.port(), "127.0.0.1:" + std::to_string(victim));
    cluster_load load(svc.port(), one_type_per_tag("failover_"), 8, 0);
    std::this_thread::sleep_for(1s);

    const double lag_at = load.now_ms();
    ASSERT_EQ(::kill(replica_pid, SIGSTOP), 0);
    const resume_on_exit resume{replica_pid};
    admin_connection(victim).command({"CLIENT", "KILL", "TYPE", "replica"});
    std::this_thread::sleep_for(500ms);

    const double killed_at = load.now_ms();
    ASSERT_EQ(::kill(victim_pid, SIGKILL), 0);
    ::kill(replica_pid, SIGCONT);
    double promoted_at = -1;
    while (load.now_ms() - killed_at < 15000) {
        try {
            const auto repl = admin_connection(replica).command({"ROLE"});
            if (repl.find("master") != std::string::npos) {
                promoted_at = load.now_ms();
                break;
            }
        } catch (const std::exception&) {
            // Still waking up.
        }
        std::this_thread::sleep_for(10ms);
    }
    ASSERT_GE(promoted_at, 0) << "the replica was not promoted within 15 s";
    cluster_->restart(victim);
    cluster_->wait_healthy();
    const double whole_at = load.now_ms();
    std::this_thread::sleep_for(1s);
    load.stop();
    health.stop();

    // Only the dead master's types saw 503s, and only from the lag to the cluster being whole.
    double first_503 = -1;
    double last_503 = -1;
    int failing_shard_503 = 0;
    for (const auto& rec : load.records()) {
        const bool on_victim = owners[slot_of_type(rec->type)] == victim;
        for (const auto& [at, status] : rec->answers) {
            if (status != 503) {
                continue;
            }
            EXPECT_TRUE(on_victim) << rec->type << " (another shard) answered 503 at " << at
                                   << " ms; killed at " << killed_at << " ms";
            if (on_victim) {
                ++failing_shard_503;
                first_503 = first_503 < 0 ? at : std::min(first_503, at);
                last_503 = std::max(last_503, at);
            }
        }
    }
    expect_only_201_or_503(load);
    EXPECT_GE(first_503, lag_at);
    EXPECT_LE(last_503, whole_at + 1000) << "503s went on after the cluster was whole again";
    report("failover_promotion_ms", promoted_at - killed_at, "ms");
    report("failover_whole_again_ms", whole_at - killed_at, "ms");
    report("failover_503_window_ms", last_503 - first_503, "ms");
    report("failover_503_answers_on_failing_shard", failing_shard_503, "answers");

    // /ready never turned away traffic; /health showed the dead master, then all well again.
    int not_ready = 0;
    bool saw_victim_down = false;
    for (const auto& s : health.samples()) {
        not_ready += s.ready != 200 ? 1 : 0;
        saw_victim_down = saw_victim_down || (!s.connected && !s.victim_connected);
    }
    EXPECT_EQ(not_ready, 0) << "/ready answered other than 200 during one shard's failover";
    EXPECT_TRUE(saw_victim_down) << "/health never showed the dead master disconnected";
    ASSERT_FALSE(health.samples().empty());
    EXPECT_TRUE(health.samples().back().connected);

    // Zero acknowledged metrics lost, none stored twice.
    expect_stored_exactly_what_was_acknowledged(svc.port(), load);
}

}  // namespace
}  // namespace analytics::test
