// What BOOST_ASSERT does in builds with assertions on (dev, debug, tsan: NDEBUG unset).
// src/CMakeLists.txt defines BOOST_ENABLE_ASSERT_DEBUG_HANDLER, so Boost calls these functions
// instead of assert(); in release builds (NDEBUG) BOOST_ASSERT still compiles to nothing.
//
// They do what assert() does, print and abort, except for one assertion of Boost 1.81 that is
// wrong: Beast's chunked-body parser asserts that at least five bytes are buffered when it
// resumes after the last chunk's size line, but a client whose `0\r\n` and `\r` arrive in
// separate reads gives it four. The code after the assertion handles that case (it asks for more
// bytes), so release builds are correct, while a debug build of the service could be stopped by
// any client (found by fuzz/http_request.cpp; upstream: boostorg/beast pull request 2861, merged
// May 2024). That one assertion is let through; every other one still aborts.
//
// Thread safety: stateless.

#include <boost/assert.hpp>

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace {

bool known_false_assertion(std::string_view expr, std::string_view file) noexcept
{
    return expr == "n >= 5" && file.ends_with("boost/beast/http/impl/basic_parser.ipp");
}

}  // namespace

namespace boost {

void assertion_failed(char const* expr, char const* function, char const* file, long line)
{
    if (known_false_assertion(expr, file)) {
        return;
    }
    std::fprintf(stderr, "%s:%ld: %s: Assertion `%s' failed.\n", file, line, function, expr);
    std::abort();
}

void assertion_failed_msg(char const* expr, char const* msg, char const* function, char const* file,
                          long line)
{
    std::fprintf(stderr, "%s:%ld: %s: Assertion `%s' failed: %s\n", file, line, function, expr,
                 msg);
    std::abort();
}

}  // namespace boost
