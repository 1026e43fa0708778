#pragma once
// The metric store's Lua scripts (scripts/*.lua, built into the binary), as redis::script
// values: each is hashed once, on first use.
//
// Thread safety: each function's value is built once (thread-safe static initialisation) and
// then only read.

#include "redis/script.hpp"

namespace analytics::metrics::scripts {

/// store.lua: stores one tag's points (store_call.hpp names its layout).
const redis::script& store();
/// registry.lua: admits types under the cap on distinct types (type_registry.hpp).
const redis::script& registry();

}  // namespace analytics::metrics::scripts
