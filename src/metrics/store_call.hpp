#pragma once
// One call of the store script (scripts/store.lua) for one hash tag: where the data of that tag
// lives in Redis, the script's KEYS and ARGV, and its reply. This is the one place that names
// the layout; the metric store and the tests both build calls with it.
//
// Keys of tag T (every key of one call shares the tag, so a call runs on a Redis Cluster):
//   m:{T}:i          sorted set: every block of the tag's types (block.hpp), for the list of
//                    all types
//   m:{T}:s          hash: the tag's call counter and the retention pass's schedule
//   m:{T}:p:<type>   sorted set: the type's blocks
//   m:{T}:r:<type>   hash: the type's rollups (rollup.hpp): "t" all time, "m<minute>",
//                    "h<hour>" since the Unix epoch, and "meta", the type's own state
//   m:{T}:k:<key>    string: the answer to a request that carried Idempotency-Key <key>
// A type's set and rollups expire together, METRICS_TYPE_IDLE_SECONDS after its last point;
// the index and the state expire a retention after the tag's last store.
//
// Thread safety: a value type.

#include "metrics/ingest_batch.hpp"
#include "redis/arg_buffer.hpp"
#include "redis/reply.hpp"

#include <boost/system/result.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace analytics::metrics {

/// What every store call needs to know besides its points.
struct store_settings {
    std::int64_t retention_ms = 0;    // METRICS_RETENTION_SECONDS
    std::uint32_t max_points = 0;     // METRICS_MAX_POINTS_PER_TYPE
    std::int64_t lifetime_ms = 0;     // METRICS_TYPE_IDLE_SECONDS
    std::int64_t max_future_ms = 0;   // METRICS_MAX_FUTURE_SECONDS
    std::int64_t record_ttl_ms = 24 * 3600 * 1000;  // how long an idempotency record is kept
};

/// The key prefix of a tag's data, `m:{T}:`.
std::string tag_key_prefix(std::size_t tag);
std::string index_key(std::size_t tag);
std::string type_set_key(std::string_view type);
std::string type_rollups_key(std::string_view type);
std::string record_key(std::size_t tag, std::string_view idempotency_key);

class store_call {
public:
    /// A call for `tag`, its points arriving at `arrival_us` (the service's clock, µs since the
    /// Unix epoch; every call of one request gets the same, so that its points order among
    /// themselves by their place in it). `nonce`: any value, different for every call of one
    /// arrival, that makes the call's blocks unique. `look_for_pass`: whether the call looks if
    /// the tag's retention pass is due (one call in about sixteen is enough).
    store_call(std::size_t tag, const store_settings& settings, std::int64_t arrival_us,
               std::uint64_t nonce, bool look_for_pass);

    /// Adds a type's points. `registered_until_ms`: until when the type registry admitted it
    /// (used only if the type has no data in Redis yet).
    void add_type(const type_plan& type, std::int64_t registered_until_ms);

    /// Adds the record of a request with an Idempotency-Key: its answer, kept for 24 hours.
    /// When a record of one of the call's requests exists already, the call writes nothing.
    void add_record(std::string_view idempotency_key, std::string_view answer);

    std::size_t types() const noexcept { return types_; }
    std::size_t records() const noexcept { return records_; }

    /// The script's KEYS and ARGV, once every type and record is added; valid while the call
    /// lives and nothing more is added. KEYS: the index, the state, per type its set and its
    /// rollups, per record its key. ARGV: the head (the call's numbers, the retention pass's
    /// order prefix, the key prefix, in one argument), per type its numbers with its fields'
    /// shares in one argument, then its blocks, then its fields' names; per record its answer.
    /// Values only read by the script share an argument: Redis turns each argument into a Lua
    /// string and a table slot before the script starts.
    std::vector<std::string_view> keys() const;
    std::vector<std::string_view> args();

    /// The call stored its points. The types (positions in add_type order) whose lifetime
    /// moved forward, with the expiry their registration must be renewed to.
    struct stored {
        std::vector<std::pair<std::size_t, std::int64_t>> renewals;
    };
    /// A request's record existed: nothing was written; per record (add_record order) its
    /// answer, or nullopt for those without one.
    struct repeated {
        std::vector<std::optional<std::string>> answers;
    };
    using outcome = std::variant<stored, repeated>;

    /// Reads the script's reply. An error reply or an unexpected shape is an error
    /// (redis::errc::server_error, redis::errc::unexpected_reply).
    static boost::system::result<outcome> read_reply(redis::reply&& r);

private:
    std::size_t tag_;
    const store_settings& settings_;
    std::int64_t arrival_us_;
    std::array<char, 16> head_bytes_{};  // arrival and nonce, big-endian, as every member holds
    bool look_for_pass_;
    redis::arg_buffer keys_;         // index, state, then per type its set and rollups
    redis::arg_buffer record_keys_;  // after the types' keys
    redis::arg_buffer head_;         // ARGV before the types, made by args()
    redis::arg_buffer type_args_;
    redis::arg_buffer record_args_;
    std::size_t types_ = 0;
    std::size_t records_ = 0;
};

}  // namespace analytics::metrics
