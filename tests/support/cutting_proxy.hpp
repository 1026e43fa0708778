#pragma once
// A TCP proxy on loopback between a Redis client and a real redis-server that can lose the end
// of a pipeline, as a connection that breaks mid-write does: once armed, it holds back the next
// write of the client, forwards every command of it except the last, and closes both sides.
// Redis then runs exactly the commands it received in full (none of a MULTI whose EXEC never
// came), which is what the all-or-nothing tests need to observe.
//
// One client connection at a time; replies are forwarded as they come. Runs its own thread;
// the destructor stops it.
//
// Thread safety: arm() and port() may be called from any thread.

#include <atomic>
#include <cstdint>
#include <memory>

namespace analytics::test {

class cutting_proxy {
public:
    /// Listens on an ephemeral loopback port, forwarding to 127.0.0.1:`redis_port`.
    explicit cutting_proxy(std::uint16_t redis_port);
    ~cutting_proxy();
    cutting_proxy(const cutting_proxy&) = delete;
    cutting_proxy& operator=(const cutting_proxy&) = delete;

    std::uint16_t port() const noexcept;

    /// The next pipeline the client writes loses its last command, then the connection.
    void arm() noexcept;

    /// Commands forwarded from the last cut pipeline (0 before one was cut).
    int forwarded_of_cut() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace analytics::test
