#pragma once
// Moves metrics stored by earlier builds (the v1 layout) into the current one (store_call.hpp),
// so that a service upgraded on a Redis holding v1 data lists and summarises it as before.
//
// The v1 layout, one hash tag per type:
//   metrics:{<type>}:points      sorted set, every member scored 0 and ordered by its text:
//                                <18-digit µs since 0001-01-01><16-digit arrival number>
//                                [<3-digit place>]|<type>|<value>|<timestamp as given, UTC>;
//                                with a place, the point's arrival number is the 16 digits plus
//                                the place
//   metrics:{<type>}:total       a rollup: 59 bytes (format byte 1, count, sum, min, max and the
//                                newest point's value as little-endian doubles, then its order
//                                key), or, older still, "<count> <sum> <min> <max> <order key>
//                                <value>"
//   metrics:{<type>}:m:<minute>, metrics:{<type>}:h:<hour>   rollups of buckets, with expiries
//   metrics:index:points, metrics:index:seq   every type's points, and the arrival counter
//
// A type is moved by store calls like any ingest (its points become one block each, keeping
// their order among equal timestamps; its rollups merge into the type's current ones), 1000
// points a call, each call carrying an idempotency record, so that a migration cut short and
// run again (or run by two instances at once) moves every point exactly once; then its v1 keys
// are deleted. Migrated types are registered even past METRICS_MAX_TYPES (nothing is dropped).
// v1 only ran on a single Redis node, so the migration uses multi-key commands freely.
//
// Thread safety: runs on the client's thread.

#include "common/asio.hpp"
#include "config/settings.hpp"
#include "metrics/block.hpp"
#include "metrics/rollup.hpp"
#include "redis/client.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace analytics::metrics {

/// A v1 point member, read: nullopt when it is not one.
struct v1_point {
    block_point point;
    std::int64_t arrival = 0;  // v1's arrival number
    std::string_view type;
};
std::optional<v1_point> parse_v1_point(std::string_view member) noexcept;

/// A v1 rollup (either form) as a current one; nullopt when it is not one.
std::optional<rollup> parse_v1_rollup(std::string_view bytes) noexcept;

struct v1_migration_report {
    std::size_t types = 0;
    std::size_t points = 0;
};

/// Moves every v1 type found in Redis; returns what it moved. Waits (up to `connect_wait`) for
/// the client to connect first. An error leaves what was moved moved and the rest in v1, for
/// the next run.
net::awaitable<boost::system::result<v1_migration_report>> migrate_v1(
    redis::client& redis, const config::metrics_options& options,
    std::chrono::milliseconds timeout);

}  // namespace analytics::metrics
