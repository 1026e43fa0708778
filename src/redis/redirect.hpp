#pragma once
// What Redis Cluster's error replies mean to a client, and whether a batch of commands ran.
//
// MOVED and ASK name the node that serves a slot (MOVED: from now on; ASK: for this one
// command, which must follow ASKING); TRYAGAIN asks to retry a multi-key command later (its
// slot is being migrated and its keys are split); CLUSTERDOWN says the cluster cannot serve;
// NOSCRIPT says the server does not hold a script. All of them are sent instead of running the
// command, so a command that got one may be sent again without running twice.
//
// Thread safety: pure functions.

#include "redis/command_batch.hpp"
#include "redis/reply.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace analytics::redis {

/// The kinds of error reply a client acts on; `other` is any error the caller gets as is.
enum class error_class { other, moved, ask, try_again, cluster_down, noscript };

/// Classifies an error reply's text ("MOVED 3999 127.0.0.1:6381", "TRYAGAIN ...", ...).
error_class classify_error(std::string_view error) noexcept;

/// A MOVED or ASK redirection: the slot and the node to send it to.
struct redirect {
    bool ask = false;  // ASK (this command only) rather than MOVED
    std::uint16_t slot = 0;
    std::string host;  // empty when the server does not know the node's endpoint: use the
                       // host of the node that answered
    std::uint16_t port = 0;
};

/// Parses "MOVED <slot> <host>:<port>" or "ASK <slot> <host>:<port>". The host may be an IPv6
/// address (the port follows the last colon) or empty (":6381"). Nullopt for anything else.
std::optional<redirect> parse_redirect(std::string_view error);

/// What became of a batch of commands sent to the node that owns their slot.
struct batch_verdict {
    /// `other`: at least one keyed command ran (or there are none): the replies are final.
    /// Otherwise no keyed command ran and every refusal seen was of this kind (the first one's
    /// kind when they differ), so the whole batch may be sent again where `target` says.
    error_class kind = error_class::other;
    std::optional<redirect> target;  // for moved and ask
};

/// Judges the replies of `commands` (one per command, in order). Keyless commands (PING,
/// WAIT, ...) do not count either way. Inside MULTI ... EXEC, a command refused when queued
/// did not run, a queued one ran when EXEC returned results, and none ran when EXEC was
/// aborted (EXECABORT) or refused; the result of a queued command is its element of EXEC's
/// array.
batch_verdict judge_replies(const command_batch& commands, std::span<const reply> replies);

}  // namespace analytics::redis
