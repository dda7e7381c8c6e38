#include "router/cloud_share.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace tandem::router {

CloudShareController::CloudShareController(double target, float calibrated_threshold, size_t window,
                                           size_t min_samples)
    : target_(std::clamp(target, 0.0, 1.0)),
      calibrated_(calibrated_threshold),
      window_(std::max<size_t>(1, window)),
      min_samples_(std::max<size_t>(1, min_samples)) {}

float CloudShareController::threshold_locked() const {
  if (recent_.size() < min_samples_) return calibrated_;
  if (target_ <= 0) return -1.0F;  // nothing scores below: never the cloud
  if (target_ >= 1) return 2.0F;   // everything scores below: always the cloud
  std::vector<float> sorted(recent_.begin(), recent_.end());
  const auto k = static_cast<size_t>(std::floor(target_ * static_cast<double>(sorted.size())));
  std::nth_element(sorted.begin(), sorted.begin() + static_cast<ptrdiff_t>(k), sorted.end());
  return sorted[k];  // `k` of the recent scores lie strictly below it (ties aside)
}

float CloudShareController::threshold() const {
  std::lock_guard lock(mutex_);
  return threshold_locked();
}

float CloudShareController::threshold_then_observe(float local_good_enough) {
  std::lock_guard lock(mutex_);
  const float t = threshold_locked();
  recent_.push_back(local_good_enough);
  if (recent_.size() > window_) recent_.pop_front();
  return t;
}

}  // namespace tandem::router
