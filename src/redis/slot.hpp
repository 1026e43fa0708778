#pragma once
// Which of Redis Cluster's 16384 hash slots a key, and so a command, belongs to.
//
// A key's slot is CRC16(key) mod 16384 (the XMODEM variant of CRC16, as the Redis Cluster
// specification defines it), where only the part between the first `{` and the next `}` is
// hashed when that part is not empty: `metrics:{cpu}:raw` and `metrics:{cpu}:rollups` share a
// slot, so one script may touch both.
//
// Thread safety: pure functions.

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace analytics::redis {

/// The number of hash slots of a Redis Cluster.
inline constexpr std::uint16_t slot_count = 16384;

/// CRC16-CCITT (XMODEM): polynomial 0x1021, initial value 0, no reflection.
std::uint16_t crc16(std::string_view data) noexcept;

/// The slot of a key, honouring hash tags.
std::uint16_t key_slot(std::string_view key) noexcept;

/// True when every key hashes to the same slot (also for zero or one key).
bool same_slot(std::span<const std::string_view> keys) noexcept;

/// True when `arg` is the command name `name` (upper case), in any case: "exec" is EXEC.
bool is_command(std::string_view arg, std::string_view name) noexcept;

/// The key a command is routed by: its first key, or nullopt for a command that names no key
/// (PING, INFO, WAIT, CLIENT ..., MULTI, EXEC, EVAL with no keys). Covers the commands this
/// service sends: keys in argument 1, EVAL/EVALSHA/FCALL (first key after numkeys), XREAD and
/// XREADGROUP (after STREAMS), MEMORY USAGE and OBJECT (argument 2). Command names are matched
/// in any case.
std::optional<std::string_view> first_key(std::span<const std::string_view> args) noexcept;

}  // namespace analytics::redis
