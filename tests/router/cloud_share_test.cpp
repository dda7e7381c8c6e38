// The cloud-share controller keeps the knob when the traffic shifts, where a fixed threshold
// does not.
#include <gtest/gtest.h>

#include <random>

#include "router/cloud_share.h"

namespace tandem::router {
namespace {

// The share of `n` scores from `draw` that go to the cloud under the controller.
template <typename Draw>
double share_sent(CloudShareController& controller, Draw&& draw, int n) {
  int cloud = 0;
  for (int i = 0; i < n; ++i) {
    const float score = draw();
    cloud += score < controller.threshold_then_observe(score) ? 1 : 0;
  }
  return static_cast<double>(cloud) / n;
}

TEST(CloudShareControllerTest, HoldsTheTargetAcrossAShiftInTraffic) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<float> easy(0.5F, 1.0F);  // traffic the local model handles
  std::uniform_real_distribution<float> hard(0.0F, 0.6F);  // then much harder traffic
  // Calibrated on the easy traffic for 30%: 0.65.
  CloudShareController controller(0.3, 0.65F);
  EXPECT_NEAR(share_sent(controller, [&] { return easy(rng); }, 2000), 0.3, 0.03);
  share_sent(controller, [&] { return hard(rng); }, 500);  // adapting: one window
  EXPECT_NEAR(share_sent(controller, [&] { return hard(rng); }, 2000), 0.3, 0.03);
}

TEST(CloudShareControllerTest, UsesTheCalibrationUntilItHasSeenEnough) {
  CloudShareController controller(0.5, 0.42F, 100, 10);
  for (int i = 0; i < 9; ++i) EXPECT_EQ(controller.threshold_then_observe(0.9F), 0.42F);
  EXPECT_EQ(controller.threshold_then_observe(0.9F), 0.42F);  // the 10th score is recorded after
  EXPECT_EQ(controller.threshold(), 0.9F);
  CloudShareController never(0.0, 0.5F, 10, 1);
  never.threshold_then_observe(0.0F);
  EXPECT_LT(never.threshold(), 0.0F);
  CloudShareController always(1.0, 0.5F, 10, 1);
  always.threshold_then_observe(1.0F);
  EXPECT_GT(always.threshold(), 1.0F);
}

}  // namespace
}  // namespace tandem::router
