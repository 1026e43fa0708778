#pragma once
// A request's head as the session needs it: what RFC 9112 asks a server to check before it
// reads the body (answered as nginx answers it), and the fields every request's handling reads,
// found in one pass over the fields (a lookup by name for each cost more than the rest of a
// cached request's parsing). Also the request target reduced to the form the router matches.
//
// Thread safety: pure functions.

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/field.hpp>

#include <cstddef>
#include <string>
#include <string_view>

namespace analytics::http {

/// An answer given before routing, in the contract's error format; status 0: none.
struct refusal {
    unsigned status = 0;
    std::string_view code;
    std::string_view message;

    explicit operator bool() const noexcept { return status != 0; }
};

/// What scan_head() found. The views point into the fields scanned (or the storage passed).
struct request_head {
    /// Set when the head is refused:
    ///   400 BAD_REQUEST      an HTTP/1.1 request without Host, or any request with more than
    ///                        one (RFC 9112 § 3.2); more than one Authorization (a field that
    ///                        cannot be a list, RFC 9110 § 11.6.2: which one would be checked?)
    ///   501 NOT_IMPLEMENTED  a Transfer-Encoding other than `chunked` alone, e.g.
    ///                        `gzip, chunked` (RFC 9112 § 6.1: a coding the server does not know)
    refusal refused;
    std::string_view request_id;     // the first X-Request-Id
    std::string_view traceparent;    // the first traceparent
    std::string_view user_agent;     // the first User-Agent
    std::string_view forwarded_for;  // every X-Forwarded-For line, joined as
                                     // joined_forwarded_for() joins them
    bool expects_continue = false;   // Expect: 100-continue
};

/// True when a Transfer-Encoding value is `chunked` alone (any case, spaces around it allowed).
bool chunked_only(std::string_view transfer_encoding) noexcept;

/// Scans a request head (`Fields`: Beast's basic_fields with any allocator; `version` 10 or 11).
/// Several X-Forwarded-For lines are joined into `storage`, in the order received.
template <class Fields>
request_head scan_head(const Fields& fields, unsigned version, std::string& storage)
{
    namespace bhttp = boost::beast::http;
    request_head head;
    std::size_t hosts = 0;
    std::size_t authorizations = 0;
    std::size_t transfer_encodings = 0;
    std::size_t forwarded = 0;
    bool other_coding = false;
    // The first of each, as a lookup by name finds it, even when it is empty.
    bool seen_user_agent = false;
    bool seen_request_id = false;
    bool seen_traceparent = false;
    for (const auto& f : fields) {
        const std::string_view value(f.value().data(), f.value().size());
        switch (f.name()) {
        case bhttp::field::host:
            ++hosts;
            break;
        case bhttp::field::authorization:
            ++authorizations;
            break;
        case bhttp::field::transfer_encoding:
            ++transfer_encodings;
            other_coding = other_coding || !chunked_only(value);
            break;
        case bhttp::field::user_agent:
            if (!seen_user_agent) {
                seen_user_agent = true;
                head.user_agent = value;
            }
            break;
        case bhttp::field::expect:
            head.expects_continue = boost::beast::iequals(f.value(), "100-continue");
            break;
        case bhttp::field::unknown: {
            const auto name = f.name_string();
            if (boost::beast::iequals(name, "X-Forwarded-For")) {
                if (++forwarded == 1) {
                    head.forwarded_for = value;
                } else {
                    if (forwarded == 2) {
                        storage.assign(head.forwarded_for);
                    }
                    if (!storage.empty()) {
                        storage.push_back(',');
                    }
                    storage.append(value);
                    head.forwarded_for = storage;
                }
            } else if (!seen_request_id && boost::beast::iequals(name, "X-Request-Id")) {
                seen_request_id = true;
                head.request_id = value;
            } else if (!seen_traceparent && boost::beast::iequals(name, "traceparent")) {
                seen_traceparent = true;
                head.traceparent = value;
            }
            break;
        }
        default:
            break;
        }
    }
    if (hosts > 1 || (hosts == 0 && version >= 11)) {
        head.refused = {400, "BAD_REQUEST", "A request must carry exactly one Host header"};
    } else if (authorizations > 1) {
        head.refused = {400, "BAD_REQUEST", "A request may carry at most one Authorization header"};
    } else if (transfer_encodings > 1 || other_coding) {
        head.refused = {501, "NOT_IMPLEMENTED", "Only the chunked transfer coding is supported"};
    }
    return head;
}

/// The origin form of an absolute-form target (see origin_form()).
std::string_view absolute_to_origin_form(std::string_view target, std::string& storage);

/// The origin form (`/health?x=1`) of a request target. RFC 9112 § 3.2.2: a server must accept
/// the absolute form (`http://host:8000/health?x=1`), which proxies send; its path and query are
/// the target. Other forms are returned as they are. `storage` holds the result when the
/// absolute form has an empty path (`http://host?x=1` is `/?x=1`).
inline std::string_view origin_form(std::string_view target, std::string& storage)
{
    if (target.empty() || target.front() == '/') {
        return target;
    }
    return absolute_to_origin_form(target, storage);
}

}  // namespace analytics::http
