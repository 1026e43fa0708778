#pragma once
// Writes text onto the end of a std::string through a pointer. The string first grows by the
// most the writes can take and is cut back to what was written when the writer goes away. For
// hot paths that put many small pieces together (a response head, a Redis command), where an
// append per piece, each with its own capacity check, costs more than the copying itself.
//
// Thread safety: a short-lived value on one thread's stack; the string is not to be touched
// while the writer lives.

#include <algorithm>
#include <cassert>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

namespace analytics::common {

class string_writer {
public:
    /// The most characters put_decimal() writes.
    static constexpr std::size_t max_decimal = 20;

    /// Makes room for `most` characters at the end of `out`; writing more is a bug.
    string_writer(std::string& out, std::size_t most) : out_(out)
    {
        const std::size_t start = out.size();
        out.resize(start + most);
        at_ = out.data() + start;
        end_ = at_ + most;
    }
    ~string_writer() { out_.resize(static_cast<std::size_t>(at_ - out_.data())); }

    string_writer(const string_writer&) = delete;
    string_writer& operator=(const string_writer&) = delete;

    void put(std::string_view text) noexcept
    {
        assert(text.size() <= static_cast<std::size_t>(end_ - at_));
        at_ = std::copy(text.begin(), text.end(), at_);
    }
    void put(char c) noexcept
    {
        assert(at_ < end_);
        *at_++ = c;
    }
    /// Lets `write` put at most `most` characters at the writer's position: it takes a `char*`
    /// and returns the end of what it wrote.
    template <class Write>
    void put_with([[maybe_unused]] std::size_t most, Write&& write)
    {
        assert(most <= static_cast<std::size_t>(end_ - at_));
        at_ = std::forward<Write>(write)(at_);
        assert(at_ <= end_);
    }
    void put_decimal(std::uint64_t n) noexcept
    {
        const auto [end, ec] = std::to_chars(at_, end_, n);
        assert(ec == std::errc{});
        at_ = end;
    }

private:
    std::string& out_;
    char* at_ = nullptr;
    char* end_ = nullptr;
};

}  // namespace analytics::common
