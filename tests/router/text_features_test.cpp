// The router's hashed n-gram features: deterministic, case- and punctuation-insensitive,
// unit-length, and alive for Chinese text.
#include <gtest/gtest.h>

#include <cmath>

#include "router/text_features.h"

namespace tandem::router {
namespace {

double ngram_norm(const SparseVector& features, int32_t dense) {
  double sum = 0;
  for (const auto& f : features) {
    if (f.index >= static_cast<uint32_t>(dense)) sum += static_cast<double>(f.value) * f.value;
  }
  return std::sqrt(sum);
}

TEST(TextFeaturesTest, NormalisedNgramsAfterTheWeightedEmbedding) {
  FeatureSpace space(3, 12);
  const std::vector<float> embedding = {0.6F, 0.8F, 0.0F};
  const auto features = space.featurize("Book a flight to Paris", embedding);
  ASSERT_GT(features.size(), 3U);
  EXPECT_EQ(features[0].index, 0U);
  EXPECT_FLOAT_EQ(features[1].value, 1.6F);  // embedding weighted by 2
  EXPECT_NEAR(ngram_norm(features, 3), 1.0, 1e-5);
  for (size_t i = 3; i < features.size(); ++i) EXPECT_LT(features[i].index, 3U + 4096U);

  const auto lighter = FeatureSpace(3, 12, 1.5F).featurize("Book a flight to Paris", embedding);
  EXPECT_FLOAT_EQ(lighter[1].value, 1.2F);
  EXPECT_NEAR(ngram_norm(lighter, 3), 1.0, 1e-5);
}

TEST(TextFeaturesTest, CaseAndPunctuationDoNotChangeTheFeatures) {
  FeatureSpace space(0, 14);
  const auto a = space.featurize("Book a flight, to PARIS!", {});
  const auto b = space.featurize("book a flight to paris", {});
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].index, b[i].index);
    EXPECT_FLOAT_EQ(a[i].value, b[i].value);
  }
  EXPECT_NE(space.featurize("cancel my flight", {}).front().index, a.front().index);
}

TEST(TextFeaturesTest, ChineseTextHasCharacterFeaturesAndIdfDownweightsCommonOnes) {
  FeatureSpace space(0, 14);
  space.fit_idf({"帮我翻译这句话", "帮我写一封邮件", "帮我算一下", "今天天气怎么样"});
  const auto features = space.featurize("帮我翻译", {});
  ASSERT_FALSE(features.empty());
  EXPECT_NEAR(ngram_norm(features, 0), 1.0, 1e-5);
  // "帮" appears in three of four documents, "翻" in one: the rarer character's n-grams weigh more.
  auto idf_sum = [&](const SparseVector& v) {
    double sum = 0;
    for (const auto& f : v) sum += space.idf()[f.index];
    return sum;
  };
  const auto common = space.featurize("帮", {});
  const auto rare = space.featurize("翻", {});
  ASSERT_EQ(common.size(), rare.size());
  EXPECT_GT(idf_sum(rare), idf_sum(common));
}

TEST(TextFeaturesTest, InvalidUtf8AndEmptyTextAreHarmless) {
  FeatureSpace space(0, 10);
  EXPECT_TRUE(space.featurize("", {}).empty());
  EXPECT_TRUE(space.featurize("  !? ", {}).empty());
  EXPECT_FALSE(space.featurize("\xff\xfe broken \xc3", {}).empty());
}

}  // namespace
}  // namespace tandem::router
