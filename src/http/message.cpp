#include "http/message.hpp"

#include "http/client_ip.hpp"
#include <boost/beast/core/string.hpp>

#include <cassert>
#include <cstring>
#include <random>

namespace analytics::http {

namespace {

bool id_char(char c) noexcept
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '-';
}

// A per-thread splitmix64 stream seeded once from the OS: request ids need to be unique, not
// secret, and this keeps id generation off any lock.
std::uint64_t next_random() noexcept
{
    thread_local std::uint64_t state = [] {
        std::random_device rd;
        return (std::uint64_t{rd()} << 32) ^ rd();
    }();
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

}  // namespace

std::string_view response::get(std::string_view name) const noexcept
{
    for (const auto& h : headers) {
        if (boost::beast::iequals(h.name, name)) {
            return h.value;
        }
    }
    return {};
}

bool valid_request_id(std::string_view id) noexcept
{
    if (id.empty() || id.size() > 128) {
        return false;
    }
    for (char c : id) {
        if (!id_char(c)) {
            return false;
        }
    }
    return true;
}

namespace {

bool lower_hex(std::string_view s) noexcept
{
    for (char c : s) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
            return false;
        }
    }
    return true;
}

bool all_zero(std::string_view s) noexcept
{
    return s.find_first_not_of('0') == std::string_view::npos;
}

// The two lowercase hex digits of every byte value, "000102...feff".
constexpr std::array<char, 512> hex_pairs = [] {
    constexpr std::string_view digits = "0123456789abcdef";
    std::array<char, 512> pairs{};
    for (std::size_t b = 0; b < 256; ++b) {
        pairs[2 * b] = digits[b >> 4];
        pairs[2 * b + 1] = digits[b & 0xf];
    }
    return pairs;
}();

// Writes `digits` (a multiple of 16) random lowercase hex digits, two per table lookup: every
// request makes 80 of them (its id, a trace id and a span id).
void fill_hex(char* out, std::size_t digits) noexcept
{
    assert(digits % 16 == 0);
    for (; digits >= 16; digits -= 16) {
        std::uint64_t r = next_random();
        for (int i = 0; i < 8; ++i, r >>= 8) {
            std::memcpy(out, &hex_pairs[2 * (r & 0xff)], 2);
            out += 2;
        }
    }
}

}  // namespace

bool valid_traceparent(std::string_view v) noexcept
{
    // version "-" trace-id(32) "-" parent-id(16) "-" flags(2); later versions may append
    // fields after a further "-", which we ignore (W3C trace context, version handling).
    if (v.size() < 55 || (v.size() > 55 && (v[0] == '0' && v[1] == '0'))) {
        return false;
    }
    if (v.size() > 55 && v[55] != '-') {
        return false;
    }
    const std::string_view version = v.substr(0, 2);
    const std::string_view trace = v.substr(3, 32);
    const std::string_view parent = v.substr(36, 16);
    const std::string_view flags = v.substr(53, 2);
    return v[2] == '-' && v[35] == '-' && v[52] == '-' && lower_hex(version) && version != "ff" &&
           lower_hex(trace) && !all_zero(trace) && lower_hex(parent) && !all_zero(parent) &&
           lower_hex(flags);
}

std::string_view request_context::client_text() const
{
    if (client_view_.empty() || client_text_of_ != client) {
        client_text_ = client.to_string();
        client_view_ = client_text_;
        client_text_of_ = client;
    }
    return client_view_;
}

std::string_view request_context::client_key() const
{
    if (!client.is_v6() || ipv6_prefix >= 128) {
        return client_text();
    }
    // Formatted on first use: only rate-limited routes ask.
    if (client_key_.empty()) {
        client_key_ = client_network(client, ipv6_prefix).to_string();
        client_key_ += '/';
        client_key_ += std::to_string(ipv6_prefix);
    }
    return client_key_;
}

void request_context::set_client(const boost::asio::ip::address& address, std::string_view text)
{
    client = address;
    client_view_ = text;
    client_text_of_ = address;
}

void request_context::assign_trace(std::string_view traceparent)
{
    char* out = trace_.data();
    std::copy_n("00-", 3, out);
    if (valid_traceparent(traceparent)) {
        std::copy_n(traceparent.data() + 3, 32, out + 3);
        out[53] = traceparent[53];
        out[54] = traceparent[54];
    } else {
        fill_hex(out + 3, 32);
        out[53] = '0';
        out[54] = '1';
    }
    out[35] = '-';
    fill_hex(out + 36, 16);  // this server's span
    out[52] = '-';
}

void request_context::assign_request_id(std::string_view from_client)
{
    if (valid_request_id(from_client)) {
        std::copy(from_client.begin(), from_client.end(), id_.begin());
        id_len_ = from_client.size();
        return;
    }
    fill_hex(id_.data(), 32);
    id_len_ = 32;
}

request::request(method verb, std::string_view target, std::string_view body, const void* fields,
                 header_lookup lookup, request_context& ctx) noexcept
    : verb_(verb), target_(target), body_(body), fields_(fields), lookup_(lookup), ctx_(ctx)
{
    const auto q = target.find('?');
    path_ = target.substr(0, q);
    query_ = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
}

}  // namespace analytics::http
