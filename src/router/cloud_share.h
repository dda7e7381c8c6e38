// Keeps the cloud's share of tandem/auto traffic at the user's knob. A threshold calibrated once
// on training prompts drifts when the traffic changes (held-out domains moved a 30% calibration to
// 17% and 74%, docs/benchmarks.md), so the controller re-derives it from the scores of the most
// recent requests: the `target` quantile of the last `window` scores. Until `min_samples` scores
// have arrived it uses the calibrated threshold.
// Thread-safety: all methods may be called from any thread.
#pragma once

#include <cstddef>
#include <deque>
#include <mutex>

namespace tandem::router {

class CloudShareController {
 public:
  CloudShareController(double target, float calibrated_threshold, size_t window = 500, size_t min_samples = 50);

  // The threshold for the next request, then records its score: a request scoring below the
  // returned value goes to the cloud.
  float threshold_then_observe(float local_good_enough);
  float threshold() const;
  double target() const { return target_; }

 private:
  float threshold_locked() const;

  const double target_;
  const float calibrated_;
  const size_t window_;
  const size_t min_samples_;
  mutable std::mutex mutex_;
  std::deque<float> recent_;
};

}  // namespace tandem::router
