#pragma once
// The receiving half of one connection to Redis: reads what arrives on a transport, parses it
// as RESP and hands every complete reply, in order, to its owner. redis::connection (replies to
// its pipelined commands) and redis::subscriber (pushed messages) read through it, and differ
// only in what they do with a reply.
//
// Owns: the reply parser of the current connection and the buffer reads land in.
//
// Thread safety: the io_context thread of the connection that owns it.

#include "common/asio.hpp"
#include "redis/resp.hpp"
#include "redis/transport.hpp"

#include <boost/system/error_code.hpp>

#include <array>
#include <optional>
#include <string_view>
#include <utility>

namespace analytics::redis {

class reply_stream {
public:
    /// Why read() returned.
    enum class end {
        stopped,      // keep_reading() turned false: the owner is ending the connection itself
        read_failed,  // the transport's read failed: read_error() says how
        not_resp,     // the bytes are not RESP, or could not be buffered: parse_error() says why
        refused,      // the owner's take() returned false
    };

    /// Starts a fresh parser for a new connection; false when memory is exhausted.
    bool reset()
    {
        reader_ = resp_reader::create();
        return reader_.has_value();
    }

    /// Frees the parser (and whatever part of a reply it held) once the connection has ended.
    void release() noexcept { reader_.reset(); }

    /// Reads until one of the ends above. `keep_reading()` is asked after every read and after
    /// every reply taken; `take(reply&&)` returns false to stop at a reply it cannot accept.
    template <class KeepReading, class Take>
    net::awaitable<end> read(transport& from, KeepReading keep_reading, Take take)
    {
        while (keep_reading()) {
            auto [ec, n] = co_await from.read_some(net::buffer(buffer_));
            if (!keep_reading()) {
                co_return end::stopped;
            }
            if (ec) {
                read_error_ = ec;
                co_return end::read_failed;
            }
            if (!reader_->feed(std::string_view(buffer_.data(), n))) {
                co_return end::not_resp;
            }
            // One read may carry many replies (or part of one): hand out every complete reply.
            for (;;) {
                auto next = reader_->next();
                if (!next) {
                    co_return end::not_resp;
                }
                if (!*next) {
                    break;
                }
                if (!take(std::move(**next))) {
                    co_return end::refused;
                }
                if (!keep_reading()) {
                    co_return end::stopped;
                }
            }
        }
        co_return end::stopped;
    }

    /// The failed read's error after end::read_failed.
    boost::system::error_code read_error() const noexcept { return read_error_; }

    /// Why the bytes were rejected after end::not_resp, for the log.
    std::string_view parse_error() const noexcept
    {
        return reader_ ? reader_->error() : std::string_view("out of memory");
    }

private:
    std::optional<resp_reader> reader_;
    boost::system::error_code read_error_;
    std::array<char, 16 * 1024> buffer_{};
};

}  // namespace analytics::redis
