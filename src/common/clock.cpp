#include "common/clock.hpp"

namespace analytics::common {

namespace {

class real_clock final : public clock {
public:
    wall_time now() const override { return std::chrono::system_clock::now(); }
    mono_time steady_now() const override { return std::chrono::steady_clock::now(); }
};

}  // namespace

clock& system_clock()
{
    static real_clock instance;
    return instance;
}

}  // namespace analytics::common
