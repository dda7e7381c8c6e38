// A steady clock the energy tests move by hand, so power x time figures are exact.
#pragma once

#include <chrono>

#include "energy/meter.h"

namespace tandem::energy {

class FakeClock {
 public:
  SteadyNow now() {
    return [this] { return now_; };
  }
  void advance(std::chrono::steady_clock::duration by) { now_ += by; }

 private:
  std::chrono::steady_clock::time_point now_{};
};

}  // namespace tandem::energy
