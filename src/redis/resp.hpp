#pragma once
// The reply side of RESP2: bytes read from the server in, owned `reply` values out, in order.
// hiredis's redisReader does the parsing; this wrapper turns its reply objects into our value
// type, so no hiredis type leaves redis/, and it refuses an array reply that announces more
// than `max_array_elements` elements before hiredis allocates room for them: `*2147483647\r\n`
// from a broken server (or anything else on that port) would otherwise cost a 16 GiB
// allocation at once.
//
// The request side is append_command: RESP arrays of bulk strings need no library.
//
// redis::client reads its connection through a resp_reader; parse_replies() runs the same
// code over a whole byte string, for tests and the fuzz target (fuzz/resp_replies.cpp).
//
// Thread safety: a resp_reader belongs to one connection; parse_replies() is a pure function.

#include "redis/reply.hpp"

#include <boost/system/result.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

struct redisReader;  // hiredis/read.h

namespace analytics::redis {

/// Appends one command as a RESP array of bulk strings ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"),
/// the bytes hiredis's redisFormatCommandArgv produces, without its printf per argument and
/// its allocation per command (a batched script call has hundreds of arguments).
void append_command(std::string& out, std::span<const std::string_view> args);

class resp_reader {
public:
    /// The most elements one array reply may announce. Our largest replies are list pages of
    /// at most 1000 members; a million leaves room for any command we will ever send.
    static constexpr int max_array_elements = 1 << 20;

    /// A reader at the start of a stream; nullopt when memory is exhausted.
    static std::optional<resp_reader> create();

    /// Appends bytes received from the server. False when they cannot be buffered (out of
    /// memory) or the stream already failed.
    bool feed(std::string_view bytes);

    /// The next complete reply; nullopt while more bytes are needed; errc::protocol_error when
    /// the stream is not RESP (the reader is then unusable: drop the connection).
    boost::system::result<std::optional<reply>> next();

    /// Why feed() or next() failed, for the log.
    std::string_view error() const noexcept;

private:
    struct reader_deleter {
        void operator()(redisReader* r) const noexcept;
    };

    explicit resp_reader(std::unique_ptr<redisReader, reader_deleter> reader) noexcept;

    std::unique_ptr<redisReader, reader_deleter> reader_;
};

/// What parse_replies() found in a byte stream.
struct parsed_replies {
    std::vector<reply> replies;  // every complete reply, in order
    bool failed = false;         // the stream broke RESP (replies holds those before the break)
    std::string error;           // the reader's message when failed
};

/// Reads `bytes` as the client reads its socket, handing them to one resp_reader `chunk` bytes
/// at a time (0 is taken as 1), and collects every reply until the end or the first error.
parsed_replies parse_replies(std::string_view bytes, std::size_t chunk = 16 * 1024);

}  // namespace analytics::redis
