#pragma once
// What every fuzz target shares: a check that stops the run with a message when a property
// fails (libFuzzer then saves the input as crash-<sha1>), and the view of the input as text.
//
// Thread safety: libFuzzer calls a target from one thread.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

// A property of the code under test that the input broke. abort() rather than an exception:
// a target may be fuzzing code that catches exceptions.
#define FUZZ_CHECK(condition)                                        \
    do {                                                             \
        if (!(condition)) {                                          \
            ::analytics::fuzz::fail(#condition, __FILE__, __LINE__); \
        }                                                            \
    } while (false)

namespace analytics::fuzz {

[[noreturn]] inline void fail(const char* condition, const char* file, int line)
{
    std::fprintf(stderr, "fuzz property failed: %s (%s:%d)\n", condition, file, line);
    std::abort();
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size)
{
    return {reinterpret_cast<const char*>(data), size};
}

}  // namespace analytics::fuzz
