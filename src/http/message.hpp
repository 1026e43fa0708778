#pragma once
// The HTTP request and response as handlers see them: plain values with no Beast types, so the
// api/ and domain code compiles without Beast and only http/server.cpp knows the wire format.
//
// Thread safety: values owned by one session on one worker thread.

#include "common/clock.hpp"
#include "http/method.hpp"

#include <boost/asio/ip/address.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace analytics::http {

inline constexpr std::string_view json_content_type = "application/json; charset=utf-8";

struct header_field {
    std::string_view name;  // always a string literal
    std::string value;
};

/// What a handler answers. The session adds Content-Length, X-Request-Id and Connection.
///
/// Kept small (about 80 bytes), headers included: the coroutines of a request each hold one or
/// more responses in their frames, and Asio recycles a frame's memory only up to 1020 bytes.
/// With 16 header slots inline (830 bytes) the router's, the limiter's and the handler's frames
/// grew to 1.2-3.8 KB, so every request took each of them from malloc's large-block path.
struct response {
    unsigned status = 200;
    std::string body;
    std::string_view content_type = json_content_type;
    std::vector<header_field> headers;

    /// Adds a header; `name` must outlive the response (use a literal).
    void set(std::string_view name, std::string value)
    {
        if (headers.empty()) {
            // Room for the rate-limit headers and a Retry-After in one allocation.
            headers.reserve(6);
        }
        headers.push_back({name, std::move(value)});
    }

    /// The value of a header set on this response, or empty.
    std::string_view get(std::string_view name) const noexcept;
};

/// Per-request facts the session establishes before routing.
class request_context {
public:
    /// docs/contract.md, Conventions: the client's own X-Request-Id when it is 1-128 characters of
    /// [A-Za-z0-9._:-], else a generated one (32 lowercase hex digits).
    void assign_request_id(std::string_view from_client);
    std::string_view request_id() const noexcept { return {id_.data(), id_len_}; }

    /// W3C trace context: continues the client's trace when `traceparent` is valid (a new span
    /// id for this server), else starts a new trace.
    void assign_trace(std::string_view traceparent);
    /// 32 lowercase hex digits.
    std::string_view trace_id() const noexcept { return {trace_.data() + 3, 32}; }
    /// The `traceparent` value this server answers with: 00-<trace id>-<span id>-<flags>.
    std::string_view traceparent() const noexcept { return {trace_.data(), trace_.size()}; }

    /// `client` as text ("192.0.2.1", "2001:db8::1"), formatted once per address.
    std::string_view client_text() const;
    /// Sets `client` with its text, when the caller has it already (a session keeps its peer's);
    /// `text` is not copied, and must outlive this context or its next set_client().
    void set_client(const boost::asio::ip::address& address, std::string_view text);

    /// The client as limits key it: client_text(), except that an IPv6 client is its network of
    /// `ipv6_prefix` bits, e.g. `2001:db8:1:2::/64` (see http::client_network).
    std::string_view client_key() const;

    boost::asio::ip::address client;  // after TRUSTED_PROXIES / X-Forwarded-For
    boost::asio::ip::address peer;    // the socket's peer
    common::clock::mono_time started{};
    std::string_view route = "unmatched";  // the route template, for logs and metrics
    std::size_t route_id = SIZE_MAX;       // its index in the router (SIZE_MAX: none)
    unsigned ipv6_prefix = 128;            // RATE_LIMIT_IPV6_PREFIX, for client_key()

private:
    mutable std::string client_text_;
    mutable std::string_view client_view_;             // client_text_, or set_client()'s text
    mutable boost::asio::ip::address client_text_of_;  // the address client_view_ spells
    mutable std::string client_key_;
    std::array<char, 128> id_{};
    std::size_t id_len_ = 0;
    std::array<char, 55> trace_{};
};

/// True when `id` is 1-128 characters of [A-Za-z0-9._:-].
bool valid_request_id(std::string_view id) noexcept;

/// True when `value` is a W3C traceparent this server can continue: version 00 (or a later
/// version with the same leading fields), non-zero trace and parent ids, lowercase hex.
bool valid_traceparent(std::string_view value) noexcept;

class request {
public:
    using header_lookup = std::string_view (*)(const void* fields, std::string_view name);

    request(method verb, std::string_view target, std::string_view body, const void* fields,
            header_lookup lookup, request_context& ctx) noexcept;

    method verb() const noexcept { return verb_; }
    std::string_view target() const noexcept { return target_; }
    std::string_view path() const noexcept { return path_; }
    std::string_view query() const noexcept { return query_; }  // without the '?'
    std::string_view body() const noexcept { return body_; }

    /// The value of a request header (case-insensitive name), or empty when absent.
    std::string_view header(std::string_view name) const { return lookup_(fields_, name); }

    request_context& context() const noexcept { return ctx_; }

private:
    method verb_;
    std::string_view target_;
    std::string_view path_;
    std::string_view query_;
    std::string_view body_;
    const void* fields_;
    header_lookup lookup_;
    request_context& ctx_;
};

}  // namespace analytics::http
