#include "redis/redirect.hpp"

#include "redis/slot.hpp"

#include <boost/container/small_vector.hpp>

#include <algorithm>
#include <charconv>

namespace analytics::redis {

namespace {

// The error's first word, the code Redis puts in front of its message.
bool has_code(std::string_view error, std::string_view code) noexcept
{
    return error.starts_with(code) && (error.size() == code.size() || error[code.size()] == ' ');
}

template <class T>
std::optional<T> parse_number(std::string_view text) noexcept
{
    T value{};
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) {
        return std::nullopt;
    }
    return value;
}

// Whether any keyed command of a batch ran, and the first refusal seen.
struct tally {
    bool ran = false;
    const reply* first_refusal = nullptr;

    void consider(const reply& r) noexcept
    {
        if (!r.is_error() || classify_error(r.str) == error_class::other) {
            ran = true;
        } else if (first_refusal == nullptr) {
            first_refusal = &r;
        }
    }
};

}  // namespace

error_class classify_error(std::string_view error) noexcept
{
    if (has_code(error, "MOVED")) {
        return error_class::moved;
    }
    if (has_code(error, "ASK")) {
        return error_class::ask;
    }
    if (has_code(error, "TRYAGAIN")) {
        return error_class::try_again;
    }
    if (has_code(error, "CLUSTERDOWN")) {
        return error_class::cluster_down;
    }
    if (has_code(error, "NOSCRIPT")) {
        return error_class::noscript;
    }
    return error_class::other;
}

std::optional<redirect> parse_redirect(std::string_view error)
{
    redirect out;
    out.ask = has_code(error, "ASK");
    const std::size_t code = out.ask ? 3 : has_code(error, "MOVED") ? 5 : 0;
    if (code == 0 || error.size() <= code + 1) {
        return std::nullopt;
    }
    error.remove_prefix(code + 1);
    const auto space = error.find(' ');
    if (space == std::string_view::npos) {
        return std::nullopt;
    }
    const auto slot = parse_number<std::uint16_t>(error.substr(0, space));
    const auto address = error.substr(space + 1);
    const auto colon = address.rfind(':');
    if (!slot || *slot >= slot_count || colon == std::string_view::npos) {
        return std::nullopt;
    }
    const auto port = parse_number<std::uint16_t>(address.substr(colon + 1));
    const auto host = address.substr(0, colon);
    if (!port || *port == 0 || host.find(' ') != std::string_view::npos) {
        return std::nullopt;
    }
    out.slot = *slot;
    out.host = std::string(host);
    out.port = *port;
    return out;
}

batch_verdict judge_replies(const command_batch& commands, std::span<const reply> replies)
{
    tally t;
    bool in_multi = false;
    // For each command queued by the open MULTI: whether it names a key. EXEC's array holds
    // one result per queued command, in this order.
    boost::container::small_vector<bool, 8> queued_keyed;
    const std::size_t n = std::min(commands.size(), replies.size());
    for (std::size_t i = 0; i < n; ++i) {
        const auto command = commands.command(i);
        const reply& r = replies[i];
        const std::string_view name = command.empty() ? std::string_view{} : command[0];
        if (is_command(name, "MULTI")) {
            in_multi = !r.is_error();
            queued_keyed.clear();
            continue;
        }
        if (in_multi && is_command(name, "EXEC")) {
            in_multi = false;
            // An error (EXECABORT after a refused command, or EXEC itself refused) or nil
            // (a WATCHed key changed) means nothing queued ran.
            if (r.type == reply::kind::array && r.elements.size() == queued_keyed.size()) {
                for (std::size_t k = 0; k < queued_keyed.size(); ++k) {
                    if (queued_keyed[k]) {
                        t.consider(r.elements[k]);
                    }
                }
            }
            continue;
        }
        if (in_multi && is_command(name, "DISCARD")) {
            in_multi = false;
            continue;
        }
        const bool keyed = first_key(command).has_value();
        if (in_multi) {
            if (r.is_error()) {
                if (keyed) {
                    t.consider(r);
                }
            } else {
                queued_keyed.push_back(keyed);
            }
            continue;
        }
        if (keyed) {
            t.consider(r);
        }
    }

    batch_verdict out;
    if (t.ran || t.first_refusal == nullptr) {
        return out;
    }
    out.kind = classify_error(t.first_refusal->str);
    if (out.kind == error_class::moved || out.kind == error_class::ask) {
        out.target = parse_redirect(t.first_refusal->str);
        if (!out.target) {
            out.kind = error_class::other;  // a redirection we cannot follow is final
        }
    }
    return out;
}

}  // namespace analytics::redis
