// Anchors the test-support library; helpers are header-only.
#include "support/fake_clock.hpp"
#include "support/redis_server.hpp"
#include "support/run_coro.hpp"
