// The routing policy: privacy before quality, forced modes, a missing or broken cloud, and the
// two ways of judging difficulty (quality-gap model, or intent alone).
#include <gtest/gtest.h>

#include "router/policy.h"

namespace tandem::router {
namespace {

IntentPrediction intent(const std::string& label, float p, std::vector<std::pair<std::string, float>> others = {}) {
  IntentPrediction prediction;
  prediction.label = label;
  prediction.confidence = p;
  prediction.ranked.emplace_back(label, p);
  for (auto& o : others) prediction.ranked.push_back(o);
  return prediction;
}

RouteSignals healthy_cloud() {
  RouteSignals s;
  s.cloud_configured = true;
  s.cloud_available = true;
  return s;
}

TEST(PolicyTest, SensitiveRequestsStayLocalEvenWhenTheSmallModelWouldFail) {
  auto s = healthy_cloud();
  s.intent = intent("sensitive", 0.9F);
  s.local_good_enough = 0.05F;
  const auto d = decide(RouteMode::kAuto, s, {});
  EXPECT_EQ(d.target, RouteTarget::kLocal);
  EXPECT_EQ(d.intent, "sensitive");
  ASSERT_EQ(d.reasons.size(), 1U);
  EXPECT_NE(d.reasons[0].find("'sensitive' (p=0.90) stays on the device"), std::string::npos) << d.reasons[0];

  // A runner-up private intent is enough: when unsure, privacy wins.
  s.intent = intent("reasoning", 0.6F, {{"documents", 0.3F}});
  EXPECT_EQ(decide(RouteMode::kAuto, s, {}).target, RouteTarget::kLocal);
  s.intent = intent("reasoning", 0.6F, {{"documents", 0.1F}});
  EXPECT_EQ(decide(RouteMode::kAuto, s, {}).target, RouteTarget::kCloud);
}

// A request the privacy policy holds (a secret in it) stays local for that reason alone: not
// "the cloud is unavailable" while it is healthy, and no cascade.
TEST(PolicyTest, ARequestHeldOnTheDeviceSaysWhyAndNeverCascades) {
  auto s = healthy_cloud();
  s.intent = intent("reasoning", 0.95F);
  s.local_good_enough = 0.01F;
  s.held_on_device = "the request holds a secret, which the privacy policy keeps on this device";
  for (auto mode : {RouteMode::kAuto, RouteMode::kCascade}) {
    const auto d = decide(mode, s, {});
    EXPECT_EQ(d.target, RouteTarget::kLocal);
    EXPECT_FALSE(d.cascade);
    ASSERT_EQ(d.reasons.size(), 1U);
    EXPECT_EQ(d.reasons[0], s.held_on_device);
  }
}

TEST(PolicyTest, QualityGapDecidesAgainstTheThreshold) {
  auto s = healthy_cloud();
  s.intent = intent("factual", 0.8F);
  PolicyOptions policy;
  policy.cloud_below = 0.4F;
  s.local_good_enough = 0.3F;
  auto d = decide(RouteMode::kAuto, s, policy);
  EXPECT_EQ(d.target, RouteTarget::kCloud);
  EXPECT_EQ(d.local_good_enough, 0.3F);
  EXPECT_NE(d.reasons.back().find("0.30 < 0.40"), std::string::npos) << d.reasons.back();
  s.local_good_enough = 0.4F;
  EXPECT_EQ(decide(RouteMode::kAuto, s, policy).target, RouteTarget::kLocal);
}

TEST(PolicyTest, WithoutAQualityModelHardConfidentIntentsGoToTheCloud) {
  auto s = healthy_cloud();
  s.intent = intent("code", 0.7F);
  EXPECT_EQ(decide(RouteMode::kAuto, s, {}).target, RouteTarget::kCloud);
  s.intent = intent("code", 0.3F);
  EXPECT_EQ(decide(RouteMode::kAuto, s, {}).target, RouteTarget::kLocal);
  s.intent = intent("chitchat", 0.99F);
  EXPECT_EQ(decide(RouteMode::kAuto, s, {}).target, RouteTarget::kLocal);
  s.intent.reset();
  EXPECT_EQ(decide(RouteMode::kAuto, s, {}).reasons.back(), "no router model: local by default");
}

TEST(PolicyTest, NoCloudOrABrokenCloudKeepsAutoLocal) {
  RouteSignals s;
  s.intent = intent("reasoning", 0.95F);
  s.local_good_enough = 0.01F;
  EXPECT_EQ(decide(RouteMode::kAuto, s, {}).reasons.back(), "no cloud provider is configured");
  s.cloud_configured = true;
  const auto d = decide(RouteMode::kAuto, s, {});
  EXPECT_EQ(d.target, RouteTarget::kLocal);
  EXPECT_NE(d.reasons.back().find("circuit open"), std::string::npos);
}

TEST(PolicyTest, CascadeStartsLocallyUnlessThePromptMustStayOrTheCloudIsDown) {
  auto s = healthy_cloud();
  s.intent = intent("factual", 0.9F);
  auto d = decide(RouteMode::kCascade, s, {});
  EXPECT_EQ(d.target, RouteTarget::kLocal);
  EXPECT_TRUE(d.cascade);
  EXPECT_EQ(route_mode_name(d.mode), "cascade");
  s.intent = intent("sensitive", 0.9F);
  EXPECT_FALSE(decide(RouteMode::kCascade, s, {}).cascade);
  s.intent = intent("factual", 0.9F);
  s.cloud_available = false;
  EXPECT_FALSE(decide(RouteMode::kCascade, s, {}).cascade);
}

TEST(PolicyTest, ForcedModesAndOutOfScope) {
  auto s = healthy_cloud();
  s.intent = intent("sensitive", 0.99F);
  EXPECT_EQ(decide(RouteMode::kLocal, s, {}).target, RouteTarget::kLocal);
  const auto forced = decide(RouteMode::kCloud, s, {});
  EXPECT_EQ(forced.target, RouteTarget::kCloud);
  EXPECT_EQ(forced.mode, RouteMode::kCloud);
  EXPECT_EQ(forced.reasons, std::vector<std::string>{"tandem/cloud requested"});

  auto oos = intent("oos", 0.2F);
  oos.out_of_scope = true;
  s.intent = oos;
  s.local_good_enough = 0.0F;
  const auto d = decide(RouteMode::kAuto, s, {});
  EXPECT_EQ(d.target, RouteTarget::kLocal);
  EXPECT_TRUE(d.out_of_scope);
  EXPECT_EQ(route_target_name(d.target), "local");
  EXPECT_EQ(route_mode_name(d.mode), "auto");
}

}  // namespace
}  // namespace tandem::router
