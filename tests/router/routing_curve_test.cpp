// RouteLLM's metrics on outcomes whose curve can be worked out by hand.
#include <gtest/gtest.h>

#include "router/router.h"

namespace tandem::router {
namespace {

// 10 prompts: the weak model gets 5 right, the strong one 9; prompts 0-3 only the strong one gets.
std::vector<RoutingExample> outcomes() {
  std::vector<RoutingExample> examples;
  for (int i = 0; i < 10; ++i) {
    RoutingExample e;
    e.prompt = std::to_string(i);
    e.weak_correct = i >= 4 && i != 9;
    e.strong_correct = i != 9;
    examples.push_back(e);
  }
  return examples;
}

TEST(RoutingCurveTest, AnOracleRecoversTheGapWithTheFewestCloudCalls) {
  const auto examples = outcomes();
  std::vector<float> oracle;
  for (const auto& e : examples) oracle.push_back(e.strong_correct && !e.weak_correct ? 0.0F : 1.0F);
  const auto eval = routing_curve(oracle, examples);
  EXPECT_EQ(eval.n, 10U);
  EXPECT_DOUBLE_EQ(eval.weak_accuracy, 0.5);
  EXPECT_DOUBLE_EQ(eval.strong_accuracy, 0.9);
  EXPECT_DOUBLE_EQ(eval.cpt50, 20.0);  // two of the four gap prompts
  EXPECT_DOUBLE_EQ(eval.cpt80, 32.0);  // between 30% (PGR 0.75) and 40% (PGR 1), interpolated
  // PGR at 0%..100%: 0, .25, .5, .75, 1, 1, ... 1 -> trapezoid area 0.8.
  EXPECT_NEAR(eval.apgr, 0.8, 1e-12);
  ASSERT_EQ(eval.curve.size(), 101U);
  EXPECT_DOUBLE_EQ(eval.curve.front().accuracy, 0.5);
  EXPECT_DOUBLE_EQ(eval.curve.back().accuracy, 0.9);
  EXPECT_DOUBLE_EQ(eval.curve[40].pgr, 1.0);
}

TEST(RoutingCurveTest, TheWorstOrderSendsTheGapLast) {
  const auto examples = outcomes();
  std::vector<float> backwards;
  for (const auto& e : examples) backwards.push_back(e.strong_correct && !e.weak_correct ? 1.0F : 0.0F);
  const auto eval = routing_curve(backwards, examples);
  EXPECT_DOUBLE_EQ(eval.cpt50, 80.0);
  EXPECT_NEAR(eval.apgr, 0.2, 1e-12);
}

TEST(RoutingCurveTest, NoGapMeansNoRecoveredGap) {
  std::vector<RoutingExample> same = {{"a", true, true}, {"b", false, false}};
  const auto eval = routing_curve({0.1F, 0.9F}, same);
  EXPECT_EQ(eval.apgr, 0.0);
  EXPECT_EQ(routing_curve({}, {}).n, 0U);
}

}  // namespace
}  // namespace tandem::router
