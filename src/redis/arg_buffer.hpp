#pragma once
// The keys or arguments of one command, built into a single buffer: one allocation for any
// number of them, however long, instead of one std::string each. Append the text of an
// argument, end it, and read every argument with views() once all are built (appending may
// move the buffer, so views are only taken at the end).
//
// Thread safety: a value type.

#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace analytics::redis {

class arg_buffer {
public:
    void reserve(std::size_t args, std::size_t bytes)
    {
        ends_.reserve(args);
        text_.reserve(bytes);
    }

    /// The buffer to append the current argument's text to; end_arg() closes it.
    std::string& text() noexcept { return text_; }
    void end_arg() { ends_.push_back(text_.size()); }

    /// Appends a whole argument made of `parts`.
    template <class... Parts>
    void add(const Parts&... parts)
    {
        (text_.append(parts), ...);
        end_arg();
    }

    /// Appends an integer as a whole argument.
    void add_integer(std::int64_t n)
    {
        append_integer(text_, n);
        end_arg();
    }

    std::size_t size() const noexcept { return ends_.size(); }

    /// Every argument, in order; valid until the next change.
    std::vector<std::string_view> views() const
    {
        std::vector<std::string_view> out;
        out.reserve(ends_.size());
        append_views(out);
        return out;
    }

    /// Appends every argument to `out`, in order; valid until the next change.
    void append_views(std::vector<std::string_view>& out) const
    {
        std::size_t begin = 0;
        for (std::size_t end : ends_) {
            out.emplace_back(text_.data() + begin, end - begin);
            begin = end;
        }
    }

    static void append_integer(std::string& out, std::int64_t n)
    {
        std::array<char, 24> digits{};
        const auto [end, ec] = std::to_chars(digits.data(), digits.data() + digits.size(), n);
        out.append(digits.data(), end);
    }

private:
    std::string text_;
    std::vector<std::size_t> ends_;
};

}  // namespace analytics::redis
