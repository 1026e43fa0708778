#include "metrics/list_page.hpp"

#include "common/rfc3339.hpp"
#include "common/string_writer.hpp"
#include "metrics/metric.hpp"

#include <algorithm>
#include <cstddef>

namespace analytics::metrics {

namespace {

bool lists_before(const list_page::entry& a, const list_page::entry& b) noexcept
{
    if (a.micros != b.micros) {
        return a.micros > b.micros;
    }
    if (a.arrival != b.arrival) {
        return a.arrival > b.arrival;
    }
    if (a.place != b.place) {
        return a.place > b.place;
    }
    return a.nonce > b.nonce;
}

// The most characters an item takes, besides its type and the comma before it.
constexpr std::size_t max_item_size =
    std::string_view(R"({"timestamp":"","value":,"type":""})").size() + common::rfc3339_max_size +
    value_text_max_size;

void write_item(common::string_writer& w, common::rfc3339_writer& stamps, const block_view& block,
                std::size_t at)
{
    const stored_point p = block.point_at(at);
    w.put(R"({"timestamp":")");
    w.put_with(common::rfc3339_max_size, [&](char* out) { return stamps.write(out, p.timestamp); });
    w.put(R"(","value":)");
    if (block.text_values()) {
        w.put(p.value_text);
    } else {
        w.put_with(value_text_max_size, [&](char* out) { return write_value(out, p.value); });
    }
    w.put(R"(,"type":")");
    w.put(block.type());
    w.put(R"("})");
}

}  // namespace

void list_page::reserve(std::size_t blocks)
{
    blocks_.reserve(blocks_.size() + blocks);
    points_.reserve(points_.size() + blocks);
}

bool list_page::add(std::string_view member, std::int64_t cutoff_us)
{
    const auto block = block_view::parse(member);
    if (!block) {
        return false;
    }
    if (block->arrival_micros() < cutoff_us) {
        return true;
    }
    const auto index = static_cast<std::uint32_t>(blocks_.size());
    blocks_.push_back(*block);
    const std::size_t first = points_.size();
    std::size_t at = block->first_point();
    for (std::size_t i = 0; i < block->size(); ++i) {
        const stored_point p = block->point_at(at);
        points_.push_back(
            {p.timestamp.micros, block->arrival_micros(), block->nonce(), p.place, index, at});
        at = p.next;
    }
    // A block holds its points in their order in the request, so the later place last; Redis
    // gives the blocks newest first. Reversed, the points of blocks whose points share one
    // timestamp (what ingest stamped with whole seconds makes) are in list order already.
    std::reverse(points_.begin() + static_cast<std::ptrdiff_t>(first), points_.end());
    return true;
}

void list_page::sort()
{
    // Mostly in order already (see add()): an insertion sort costs a comparison a point and a
    // move per point out of place. Past a few moves a point it stops, and a full sort finishes.
    const std::size_t budget = 4 * points_.size();
    std::size_t moves = 0;
    for (std::size_t i = 1; i < points_.size(); ++i) {
        if (!lists_before(points_[i], points_[i - 1])) {
            continue;
        }
        const entry moving = points_[i];
        std::size_t j = i;
        do {
            points_[j] = points_[j - 1];
            --j;
            ++moves;
        } while (j > 0 && lists_before(moving, points_[j - 1]) && moves < budget);
        points_[j] = moving;
        if (moves >= budget) {
            std::sort(points_.begin(), points_.end(), lists_before);
            return;
        }
    }
}

void list_page::append_json(std::string& out, std::span<const entry* const> shown) const
{
    std::size_t most = 2;
    for (const entry* e : shown) {
        most += 1 + max_item_size + type_of(*e).size();
    }
    common::string_writer w(out, most);
    common::rfc3339_writer stamps;
    w.put('[');
    for (std::size_t i = 0; i < shown.size(); ++i) {
        if (i > 0) {
            w.put(',');
        }
        write_item(w, stamps, blocks_[shown[i]->block], shown[i]->at);
    }
    w.put(']');
}

}  // namespace analytics::metrics
