#include "redis/slot.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstddef>
#include <initializer_list>

namespace analytics::redis {

namespace {

// The table-driven form of the bitwise definition: entry i is the CRC of the byte i.
constexpr std::array<std::uint16_t, 256> make_crc16_table()
{
    std::array<std::uint16_t, 256> table{};
    for (unsigned i = 0; i < 256; ++i) {
        auto crc = static_cast<std::uint16_t>(i << 8);
        for (int bit = 0; bit < 8; ++bit) {
            crc =
                static_cast<std::uint16_t>((crc & 0x8000U) != 0 ? (crc << 1) ^ 0x1021U : crc << 1);
        }
        table[i] = crc;
    }
    return table;
}

constexpr auto crc16_table = make_crc16_table();

bool is_any_of(std::string_view name, std::initializer_list<std::string_view> names) noexcept
{
    return std::any_of(names.begin(), names.end(),
                       [&](std::string_view n) { return is_command(name, n); });
}

// Commands that take arguments but no key, so that argument 1 must not be taken for one.
bool is_keyless(std::string_view name) noexcept
{
    return is_any_of(
        name, {"PING",         "ECHO",       "AUTH",        "SELECT",       "HELLO",    "CLIENT",
               "CLUSTER",      "CONFIG",     "COMMAND",     "INFO",         "WAIT",     "WAITAOF",
               "SCRIPT",       "FUNCTION",   "FLUSHDB",     "FLUSHALL",     "DBSIZE",   "DEBUG",
               "SLOWLOG",      "LATENCY",    "ACL",         "PUBLISH",      "SPUBLISH", "SCAN",
               "KEYS",         "RANDOMKEY",  "TIME",        "LASTSAVE",     "SAVE",     "BGSAVE",
               "BGREWRITEAOF", "SHUTDOWN",   "SWAPDB",      "MULTI",        "EXEC",     "DISCARD",
               "UNWATCH",      "ASKING",     "READONLY",    "READWRITE",    "RESET",    "QUIT",
               "ROLE",         "REPLICAOF",  "SLAVEOF",     "FAILOVER",     "MODULE",   "MONITOR",
               "SUBSCRIBE",    "PSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "PUBSUB",   "LOLWUT",
               "MEMORY"});
}

}  // namespace

bool is_command(std::string_view arg, std::string_view name) noexcept
{
    return arg.size() == name.size() &&
           std::equal(arg.begin(), arg.end(), name.begin(), [](char a, char n) {
               return (a >= 'a' && a <= 'z' ? static_cast<char>(a - 'a' + 'A') : a) == n;
           });
}

std::uint16_t crc16(std::string_view data) noexcept
{
    std::uint16_t crc = 0;
    for (const char c : data) {
        const auto byte = static_cast<std::uint8_t>(c);
        crc = static_cast<std::uint16_t>((crc << 8) ^ crc16_table[((crc >> 8) ^ byte) & 0xffU]);
    }
    return crc;
}

std::uint16_t key_slot(std::string_view key) noexcept
{
    // The hash tag rule of the specification: the first `{`, then the first `}` after it; an
    // empty tag (`{}`) or no closing brace means the whole key is hashed.
    if (const auto open = key.find('{'); open != std::string_view::npos) {
        const auto close = key.find('}', open + 1);
        if (close != std::string_view::npos && close != open + 1) {
            key = key.substr(open + 1, close - open - 1);
        }
    }
    return static_cast<std::uint16_t>(crc16(key) & (slot_count - 1));
}

bool same_slot(std::span<const std::string_view> keys) noexcept
{
    if (keys.size() < 2) {
        return true;
    }
    const auto first = key_slot(keys.front());
    return std::all_of(keys.begin() + 1, keys.end(),
                       [&](std::string_view k) { return key_slot(k) == first; });
}

std::optional<std::string_view> first_key(std::span<const std::string_view> args) noexcept
{
    if (args.size() < 2) {
        return std::nullopt;
    }
    const std::string_view name = args[0];
    if (is_any_of(name, {"EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "FCALL", "FCALL_RO"})) {
        std::size_t numkeys = 0;
        const auto text = args.size() > 2 ? args[2] : std::string_view{};
        const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), numkeys);
        if (ec != std::errc{} || end != text.data() + text.size() || numkeys == 0 ||
            args.size() < 4) {
            return std::nullopt;
        }
        return args[3];
    }
    if (is_any_of(name, {"XREAD", "XREADGROUP"})) {
        for (std::size_t i = 1; i + 1 < args.size(); ++i) {
            if (is_command(args[i], "STREAMS")) {
                return args[i + 1];
            }
        }
        return std::nullopt;
    }
    if (is_any_of(name, {"OBJECT"}) ||
        (is_command(name, "MEMORY") && args.size() > 2 && is_command(args[1], "USAGE"))) {
        return args.size() > 2 ? std::optional<std::string_view>(args[2]) : std::nullopt;
    }
    if (is_keyless(name)) {
        return std::nullopt;
    }
    return args[1];
}

}  // namespace analytics::redis
