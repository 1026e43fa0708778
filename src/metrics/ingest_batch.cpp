#include "metrics/ingest_batch.hpp"

#include "redis/arg_buffer.hpp"
#include "redis/key_tags.hpp"

#include <algorithm>

namespace analytics::metrics {

namespace {

constexpr std::int64_t minute_ms = 60'000;
constexpr std::int64_t micros_per_minute = 60'000'000;
// A minute bucket is read by daily windows for 1440 minutes; one more minute of slack.
constexpr std::int64_t minute_bucket_life = 1441;
constexpr std::int64_t hour_bucket_life_minutes = 1500;
// Buckets are only kept for points up to a day ahead, so timestamps ahead of the clock cannot
// make an unbounded number of them.
constexpr std::int64_t future_horizon_minutes = 1440;

std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept
{
    const std::int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

bool within_horizon(std::int64_t minute, std::int64_t added_ms) noexcept
{
    return minute <= floor_div(added_ms, minute_ms) + future_horizon_minutes;
}

std::string field_name(char kind, std::int64_t index)
{
    std::string name(1, kind);
    redis::arg_buffer::append_integer(name, index);
    return name;
}

rollup& field(type_plan& t, char kind, std::int64_t index)
{
    std::string name = kind == 't' ? std::string("t") : field_name(kind, index);
    // A type's fields in one batch are few (its total and a bucket or two): a linear search is
    // the fast one.
    for (field_plan& f : t.fields) {
        if (f.name == name) {
            return f.share;
        }
    }
    return t.fields.emplace_back(field_plan{std::move(name), {}}).share;
}

}  // namespace

std::int64_t minute_of(std::int64_t unix_micros) noexcept
{
    return floor_div(unix_micros, micros_per_minute);
}

std::int64_t hour_of(std::int64_t unix_micros) noexcept
{
    return floor_div(minute_of(unix_micros), 60);
}

bool counts_in_minute(std::int64_t unix_micros, std::int64_t added_ms) noexcept
{
    const std::int64_t minute = minute_of(unix_micros);
    return within_horizon(minute, added_ms) && (minute + minute_bucket_life) * minute_ms > added_ms;
}

bool counts_in_hour(std::int64_t unix_micros, std::int64_t added_ms) noexcept
{
    return within_horizon(minute_of(unix_micros), added_ms) &&
           (hour_of(unix_micros) * 60 + hour_bucket_life_minutes) * minute_ms > added_ms;
}

std::vector<tag_plan> plan_ingest(std::span<const queued_metric> batch)
{
    std::vector<tag_plan> tags;
    // Each point's block: the positions of the points of every (type, minute), in arrival order.
    struct pending_block {
        std::size_t tag;
        std::size_t type;
        std::int64_t minute;
        std::vector<std::size_t> points;
    };
    std::vector<pending_block> blocks;
    for (std::size_t i = 0; i < batch.size(); ++i) {
        const queued_metric& q = batch[i];
        const std::int64_t t = q.m.timestamp.micros;
        const std::size_t tag_index = redis::tag_index(q.m.type);
        auto tag = std::find_if(tags.begin(), tags.end(),
                                [&](const tag_plan& p) { return p.tag == tag_index; });
        if (tag == tags.end()) {
            tags.push_back({tag_index, {}});
            tag = std::prev(tags.end());
        }
        auto type = std::find_if(tag->types.begin(), tag->types.end(),
                                 [&](const type_plan& p) { return p.name == q.m.type; });
        if (type == tag->types.end()) {
            tag->types.emplace_back();
            type = std::prev(tag->types.end());
            type->name = q.m.type;
            type->fields.reserve(3);  // its total, and a minute and an hour bucket at least
            type->fields.push_back({"t", {}});
        }
        ++type->points;
        fold(type->fields.front().share, q.m.value, t);
        if (counts_in_minute(t, q.added_ms)) {
            fold(field(*type, 'm', minute_of(t)), q.m.value, t);
        }
        if (counts_in_hour(t, q.added_ms)) {
            fold(field(*type, 'h', hour_of(t)), q.m.value, t);
        }

        const auto tag_at = static_cast<std::size_t>(tag - tags.begin());
        const auto type_at = static_cast<std::size_t>(type - tag->types.begin());
        const std::int64_t minute = minute_of(t);
        auto block = std::find_if(blocks.begin(), blocks.end(), [&](const pending_block& b) {
            return b.tag == tag_at && b.type == type_at && b.minute == minute;
        });
        if (block == blocks.end()) {
            blocks.push_back({tag_at, type_at, minute, {}});
            block = std::prev(blocks.end());
        }
        block->points.push_back(i);
    }

    for (const pending_block& b : blocks) {
        type_plan& type = tags[b.tag].types[b.type];
        block_plan& out = type.blocks.emplace_back();
        std::int64_t newest = batch[b.points.front()].m.timestamp.micros;
        out.rest.reserve(block_header_size - block_order_prefix_size + type.name.size() +
                         b.points.size() * (block_text_point_size + value_text_max_size));
        append_block_rest(out.rest, b.minute, b.points.size(), type.name);
        for (const std::size_t i : b.points) {
            const queued_metric& q = batch[i];
            newest = std::max(newest, q.m.timestamp.micros);
            append_point(out.rest, {q.m.timestamp, q.m.value, q.place});
        }
        out.prefix = order_prefix(newest);
    }
    return tags;
}

}  // namespace analytics::metrics
