#pragma once
// The Redis client's error codes, usable as boost::system::error_code.

#include <boost/system/error_code.hpp>

#include <type_traits>

namespace analytics::redis {

enum class errc {
    not_connected = 1,   // no connection right now; failed at once, nothing was sent
    timeout,             // no reply within the deadline; the command may still run on the server
    connection_lost,     // the connection dropped while the command was in flight
    server_error,        // Redis answered with an error reply (e.g. WRONGTYPE, script error)
    protocol_error,      // the server sent bytes that are not RESP
    stopped,             // the client is shutting down
    unexpected_reply,    // a reply of a shape the caller did not expect
    cluster_down,        // the cluster refused the command (CLUSTERDOWN); nothing was run
    try_again,           // the slot kept being migrated (TRYAGAIN) until the deadline; not run
    too_many_redirects,  // MOVED/ASK kept pointing elsewhere; nothing was run
    cross_slot,          // the keys of one call hash to different slots; nothing was sent
    too_few_replicas,    // WAIT: fewer replicas than required acknowledged a write that ran
};

const boost::system::error_category& error_category() noexcept;

inline boost::system::error_code make_error_code(errc e) noexcept
{
    return {static_cast<int>(e), error_category()};
}

}  // namespace analytics::redis

template <>
struct boost::system::is_error_code_enum<analytics::redis::errc> : std::true_type {
};
