#pragma once
// Namespace aliases and the completion token every coroutine in the project uses.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace boost::beast {
}
namespace boost::json {
}

namespace analytics {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace json = boost::json;

namespace common {

/// Completion token that turns an error into a value: `auto [ec, n] = co_await op(use_nothrow);`
inline constexpr auto use_nothrow = net::as_tuple(net::use_awaitable);

}  // namespace common
}  // namespace analytics
