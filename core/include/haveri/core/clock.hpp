#pragma once

#include <haveri/core/ids.hpp>

namespace haveri::core {

// Time is injected: core never reads the system clock itself.
class WallClock {
 public:
  virtual ~WallClock() = default;
  virtual TimePoint now() const = 0;
};

class SystemWallClock final : public WallClock {
 public:
  TimePoint now() const override {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(Clock::now());
  }
};

}  // namespace haveri::core
