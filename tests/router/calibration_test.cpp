// Temperature scaling and the out-of-scope threshold, on data whose right answers are known.
#include <gtest/gtest.h>

#include <random>

#include "router/calibration.h"
#include "router/softmax_regression.h"

namespace tandem::router {
namespace {

TEST(CalibrationTest, FitTemperatureRecoversTheTemperatureThatGeneratedTheLabels) {
  // Labels drawn from softmax(z / 2.5): the best temperature is 2.5.
  std::mt19937_64 rng(7);
  std::normal_distribution<float> logit(0.0F, 3.0F);
  std::vector<std::vector<float>> logits;
  std::vector<int32_t> labels;
  for (int i = 0; i < 4000; ++i) {
    std::vector<float> z = {logit(rng), logit(rng), logit(rng), logit(rng)};
    std::vector<float> p = z;
    softmax(p, 2.5F);
    std::discrete_distribution<int32_t> draw(p.begin(), p.end());
    labels.push_back(draw(rng));
    logits.push_back(z);
  }
  EXPECT_NEAR(fit_temperature(logits, labels), 2.5, 0.2);
  EXPECT_EQ(fit_temperature({}, {}), 1.0F);
}

TEST(CalibrationTest, ThresholdRejectsExactlyTheAllowedShareOfCorrectAnswers) {
  const std::vector<float> correct = {0.9F, 0.3F, 0.8F, 0.5F, 0.95F, 0.7F, 0.6F, 0.99F};
  // 10 in-scope examples, 8 right. 20% may be lost: the two least confident right answers.
  EXPECT_FLOAT_EQ(choose_oos_threshold(correct, 10, 0.2), 0.6F);
  // Nothing may be lost: the threshold is the least confident right answer, which still passes.
  EXPECT_FLOAT_EQ(choose_oos_threshold(correct, 10, 0.0), 0.3F);
  EXPECT_EQ(choose_oos_threshold({}, 10, 0.1), 0.0F);
}

}  // namespace
}  // namespace tandem::router
