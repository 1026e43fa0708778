#pragma once
// The external service as a real HTTP upstream (EXTERNAL_SERVICE_URL): each call is one
// HTTP/1.1 GET on a fresh connection (`Connection: close`); the call succeeds iff the status is
// 2xx. A failed lookup, refused connection, broken or malformed answer is a failure. Only the
// status line and headers are read. The Beast code of the project's outbound HTTP lives in the
// .cpp, so no other translation unit pays for it.
//
// Owns: the parsed URL parts. Each call owns its resolver state and socket.
//
// Thread safety: immutable after construction; `call` may run concurrently on any thread, on
// the calling coroutine's executor, which must not run handlers concurrently (an io_context
// run by one thread, or a strand), as with every worker in this project.

#include "upstream/external_service.hpp"

#include <cstdint>
#include <string>
#include <string_view>

namespace analytics::upstream {

class http_service final : public external_service {
public:
    /// `url` is `http://host[:port][/path]` (config::from_env checks the form). Throws
    /// std::invalid_argument for anything else.
    explicit http_service(std::string_view url);

    /// GET the URL. No deadline of its own: wrap it in `common::with_timeout`; cancellation
    /// interrupts any step, including a stuck DNS lookup.
    net::awaitable<call_result> call(std::string_view what) override;

private:
    std::string host_;                // the name or address to connect to, no IPv6 brackets
    std::uint16_t port_number_ = 80;  // 80 when the URL has none
    std::string port_;                // the same, as the resolver's service name
    std::string target_;              // the request target, at least "/"
    std::string host_header_;         // host[:port] as written in the URL
};

}  // namespace analytics::upstream
