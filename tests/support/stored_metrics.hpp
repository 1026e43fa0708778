#pragma once
// Reading what the metric store wrote, from the outside (an admin connection to one server, or a
// deployment_admin, which finds each key's node on a cluster): a type's points, decoded from
// their blocks (metrics/block.hpp), and its rollups (metrics/rollup.hpp).

#include "metrics/block.hpp"
#include "metrics/rollup.hpp"
#include "metrics/store_call.hpp"
#include "redis/key_tags.hpp"
#include "support/redis_admin.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace analytics::test {

/// Every point held in `type`'s set, in the set's order (block by block).
template <class Admin>
std::vector<metrics::block_point> stored_points(Admin& admin, std::string_view type)
{
    std::vector<metrics::block_point> out;
    for (const std::string& member :
         admin.strings({"ZRANGE", metrics::type_set_key(type), "0", "-1"})) {
        if (const auto block = metrics::block_view::parse(member)) {
            const auto points = block->points();
            out.insert(out.end(), points.begin(), points.end());
        }
    }
    return out;
}

/// Every point of every type, read from the tags' indexes.
template <class Admin>
std::vector<metrics::block_point> all_stored_points(Admin& admin)
{
    std::vector<metrics::block_point> out;
    for (std::size_t tag = 0; tag < redis::tag_count; ++tag) {
        for (const std::string& member :
             admin.strings({"ZRANGE", metrics::index_key(tag), "0", "-1"})) {
            if (const auto block = metrics::block_view::parse(member)) {
                const auto points = block->points();
                out.insert(out.end(), points.begin(), points.end());
            }
        }
    }
    return out;
}

/// The rollup in `field` ("t", "m<minute>", "h<hour>") of `type`'s rollups, if any.
template <class Admin>
std::optional<metrics::rollup> stored_rollup(Admin& admin, std::string_view type,
                                             std::string_view field = "t")
{
    const auto values =
        admin.strings({"HMGET", metrics::type_rollups_key(type), std::string(field)});
    if (values.size() != 1 || values[0].empty()) {
        return std::nullopt;
    }
    return metrics::parse_rollup(values[0]);
}

}  // namespace analytics::test
