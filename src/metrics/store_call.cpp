#include "metrics/store_call.hpp"

#include "redis/errc.hpp"
#include "redis/key_tags.hpp"

#include <boost/endian/conversion.hpp>

#include <bit>
#include <cassert>
#include <initializer_list>

namespace analytics::metrics {

namespace {

// Doubles, little-endian, as struct.unpack('<d...') reads them in the script: every number a
// call passes is a whole number below 2^53, exact as a double. The argument goes on.
void append_doubles(redis::arg_buffer& out, std::initializer_list<double> values)
{
    std::array<unsigned char, 8 * 8> bytes;
    assert(values.size() <= 8);
    unsigned char* at = bytes.data();
    for (const double v : values) {
        boost::endian::store_little_u64(at, std::bit_cast<std::uint64_t>(v));
        at += 8;
    }
    out.text().append(reinterpret_cast<const char*>(bytes.data()),
                      static_cast<std::size_t>(at - bytes.data()));
}

void append_prefix(std::string& out, std::size_t tag)
{
    out.append("m:{").append(redis::key_tags()[tag]).append("}:");
}

std::string type_key(std::string_view type, std::string_view kind)
{
    std::string key;
    key.reserve(12 + type.size());
    append_prefix(key, redis::tag_index(type));
    key.append(kind).append(type);
    return key;
}

}  // namespace

std::string tag_key_prefix(std::size_t tag)
{
    std::string key;
    append_prefix(key, tag);
    return key;
}

std::string index_key(std::size_t tag)
{
    return tag_key_prefix(tag) + "i";
}

std::string type_set_key(std::string_view type)
{
    return type_key(type, "p:");
}

std::string type_rollups_key(std::string_view type)
{
    return type_key(type, "r:");
}

std::string record_key(std::size_t tag, std::string_view idempotency_key)
{
    return tag_key_prefix(tag).append("k:").append(idempotency_key);
}

store_call::store_call(std::size_t tag, const store_settings& settings, std::int64_t arrival_us,
                       std::uint64_t nonce, bool look_for_pass)
    : tag_(tag), settings_(settings), arrival_us_(arrival_us), look_for_pass_(look_for_pass)
{
    const auto arrival = std::bit_cast<std::uint64_t>(arrival_us);
    for (std::size_t i = 0; i < 8; ++i) {
        head_bytes_[i] = static_cast<char>((arrival >> (8 * (7 - i))) & 0xff);
        head_bytes_[8 + i] = static_cast<char>((nonce >> (8 * (7 - i))) & 0xff);
    }
    // Room for a call of one type with a bucket or two, the common one: a single metric's.
    keys_.reserve(4, 64);
    type_args_.reserve(8, 512);
    append_prefix(keys_.text(), tag);
    keys_.text().push_back('i');
    keys_.end_arg();
    append_prefix(keys_.text(), tag);
    keys_.text().push_back('s');
    keys_.end_arg();
}

void store_call::add_type(const type_plan& type, std::int64_t registered_until_ms)
{
    append_prefix(keys_.text(), tag_);
    keys_.text().append("p:").append(type.name);
    keys_.end_arg();
    append_prefix(keys_.text(), tag_);
    keys_.text().append("r:").append(type.name);
    keys_.end_arg();

    append_doubles(type_args_,
                   {static_cast<double>(registered_until_ms), static_cast<double>(type.points),
                    static_cast<double>(type.blocks.size()), static_cast<double>(type.fields.size())});
    for (const field_plan& f : type.fields) {
        append_rollup(type_args_.text(), f.share);
    }
    type_args_.end_arg();
    // Each block whole: its order prefix, the call's arrival (or its own) and nonce, the rest.
    for (const block_plan& b : type.blocks) {
        std::array<char, 16> head = head_bytes_;
        if (b.arrival_us) {
            const auto arrival = std::bit_cast<std::uint64_t>(*b.arrival_us);
            for (std::size_t i = 0; i < 8; ++i) {
                head[i] = static_cast<char>((arrival >> (8 * (7 - i))) & 0xff);
            }
        }
        type_args_.add(std::string_view(b.prefix.data(), b.prefix.size()),
                       std::string_view(head.data(), head.size()), b.rest);
    }
    for (const field_plan& f : type.fields) {
        type_args_.add(f.name);
    }
    ++types_;
}

void store_call::add_record(std::string_view idempotency_key, std::string_view answer)
{
    append_prefix(record_keys_.text(), tag_);
    record_keys_.text().append("k:").append(idempotency_key);
    record_keys_.end_arg();
    record_args_.add(answer);
    ++records_;
}

std::vector<std::string_view> store_call::keys() const
{
    std::vector<std::string_view> out;
    out.reserve(keys_.size() + record_keys_.size());
    keys_.append_views(out);
    record_keys_.append_views(out);
    return out;
}

std::vector<std::string_view> store_call::args()
{
    head_ = {};
    head_.reserve(1, 8 * 8 + block_order_prefix_size + 16);
    // Floored, so that a point never arrives after `now`.
    const std::int64_t now_ms =
        arrival_us_ >= 0 ? arrival_us_ / 1000 : -((-arrival_us_ + 999) / 1000);
    append_doubles(head_, {static_cast<double>(now_ms), static_cast<double>(settings_.retention_ms),
                           static_cast<double>(settings_.max_points),
                           static_cast<double>(settings_.lifetime_ms),
                           static_cast<double>(types_), static_cast<double>(records_),
                           static_cast<double>(settings_.record_ttl_ms),
                           look_for_pass_ ? 1.0 : 0.0});
    // The retention pass looks at blocks whose newest point is older than the cutoff plus the
    // furthest a timestamp may lie ahead of its arrival: only those can have arrived before it.
    const auto below =
        order_prefix((now_ms - settings_.retention_ms + settings_.max_future_ms) * 1000);
    head_.text().append(below.data(), below.size());
    append_prefix(head_.text(), tag_);
    head_.end_arg();

    std::vector<std::string_view> out;
    out.reserve(head_.size() + type_args_.size() + record_args_.size());
    for (const auto* part : {&head_, &type_args_, &record_args_}) {
        part->append_views(out);
    }
    return out;
}

boost::system::result<store_call::outcome> store_call::read_reply(redis::reply&& r)
{
    if (r.is_error()) {
        return redis::make_error_code(redis::errc::server_error);
    }
    auto& e = r.elements;
    if (r.type != redis::reply::kind::array || e.empty() ||
        e[0].type != redis::reply::kind::integer) {
        return redis::make_error_code(redis::errc::unexpected_reply);
    }
    if (e[0].integer == -1) {
        repeated out;
        for (std::size_t i = 1; i < e.size(); ++i) {
            if (e[i].type == redis::reply::kind::string) {
                out.answers.emplace_back(std::string(e[i].str));
            } else {
                out.answers.emplace_back(std::nullopt);
            }
        }
        return outcome(std::move(out));
    }
    if (e[0].integer != 0 || e.size() % 2 != 1) {
        return redis::make_error_code(redis::errc::unexpected_reply);
    }
    stored out;
    for (std::size_t i = 1; i + 1 < e.size(); i += 2) {
        if (e[i].type != redis::reply::kind::integer ||
            e[i + 1].type != redis::reply::kind::integer || e[i].integer < 1) {
            return redis::make_error_code(redis::errc::unexpected_reply);
        }
        out.renewals.emplace_back(static_cast<std::size_t>(e[i].integer - 1), e[i + 1].integer);
    }
    return outcome(std::move(out));
}

}  // namespace analytics::metrics
