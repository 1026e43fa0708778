#pragma once
// An HTTP upstream served by the test on 127.0.0.1 and a free port, for EXTERNAL_SERVICE_URL
// (upstream::http_service): it counts the requests it receives, answers each after `latency`
// with `status` and closes the connection. Runs on a thread of its own, so a service under
// test (in process or a child process) can call it at any time.
//
// Thread safety: every member function may be called from any thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace analytics::test {

class upstream_stub {
public:
    explicit upstream_stub(std::chrono::milliseconds latency = std::chrono::milliseconds(0));
    ~upstream_stub();

    upstream_stub(const upstream_stub&) = delete;
    upstream_stub& operator=(const upstream_stub&) = delete;

    /// `http://127.0.0.1:<port>/summary`.
    std::string url() const;

    /// Requests received so far (counted when their head has been read).
    int calls() const noexcept { return calls_.load(); }

    void set_latency(std::chrono::milliseconds d) noexcept { latency_ms_.store(d.count()); }
    void set_status(unsigned status) noexcept { status_.store(status); }

private:
    struct impl;

    std::atomic<int> calls_{0};
    std::atomic<std::int64_t> latency_ms_;
    std::atomic<unsigned> status_{200};
    std::unique_ptr<impl> impl_;
};

}  // namespace analytics::test
