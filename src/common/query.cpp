#include "common/query.hpp"

#include <charconv>

namespace analytics::common {

namespace {

int hex_value(char c) noexcept
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

// Percent-decodes one key or value; '+' is a space, as HTML forms write query strings.
// Written here rather than taken from Boost.URL 1.81, whose parse_query reads past the end of
// a view that is not followed by a NUL (as a request target inside a larger buffer is not).
std::optional<std::string> decode(std::string_view in)
{
    std::string out;
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        const char c = in[i];
        if (c == '+') {
            out.push_back(' ');
        } else if (c == '%') {
            if (in.size() - i < 3) {
                return std::nullopt;
            }
            const int hi = hex_value(in[i + 1]);
            const int lo = hex_value(in[i + 2]);
            if (hi < 0 || lo < 0) {
                return std::nullopt;
            }
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else {
            out.push_back(c);
        }
    }
    return out;
}

}  // namespace

std::optional<query_params> query_params::parse(std::string_view query)
{
    query_params out;
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view item = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (item.empty()) {
            continue;  // "a=1&&b=2"
        }
        const auto eq = item.find('=');
        auto key = decode(item.substr(0, eq));
        auto value =
            decode(eq == std::string_view::npos ? std::string_view{} : item.substr(eq + 1));
        if (!key || !value) {
            return std::nullopt;
        }
        out.params_.emplace_back(std::move(*key), std::move(*value));
    }
    return out;
}

std::optional<std::string_view> query_params::get(std::string_view name) const
{
    for (auto it = params_.rbegin(); it != params_.rend(); ++it) {
        if (it->first == name) {
            return std::string_view(it->second);
        }
    }
    return std::nullopt;
}

std::optional<long long> parse_integer(std::string_view text, long long min, long long max)
{
    if (text.empty() || text.size() > 19 || text[0] == '+' || text[0] == ' ') {
        return std::nullopt;
    }
    long long v = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size() || v < min || v > max) {
        return std::nullopt;
    }
    return v;
}

}  // namespace analytics::common
