#pragma once
// A clock that moves only when the test says so.

#include "common/clock.hpp"

#include <atomic>
#include <chrono>

namespace analytics::test {

class fake_clock final : public common::clock {
public:
    explicit fake_clock(wall_time start = wall_time{std::chrono::seconds(1'771'502'400)})
        : wall_(start.time_since_epoch().count())
    {
    }

    wall_time now() const override { return wall_time{wall_time::duration{wall_.load()}}; }
    mono_time steady_now() const override { return mono_time{mono_time::duration{mono_.load()}}; }

    /// Moves both clocks forward.
    void advance(std::chrono::nanoseconds d)
    {
        wall_ += std::chrono::duration_cast<wall_time::duration>(d).count();
        mono_ += std::chrono::duration_cast<mono_time::duration>(d).count();
    }

    void set_wall(wall_time t) { wall_ = t.time_since_epoch().count(); }

private:
    std::atomic<wall_time::duration::rep> wall_;
    std::atomic<mono_time::duration::rep> mono_{1'000'000'000};
};

}  // namespace analytics::test
