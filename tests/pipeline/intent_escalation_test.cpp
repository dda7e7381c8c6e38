// Asking the large model for an intent: the constrained request and reading its answer.
#include <gtest/gtest.h>

#include "pipeline/intent_escalation.h"

namespace tandem::pipeline {
namespace {

const std::vector<std::string> kLabels = {"code", "factual", "oos"};

TEST(IntentEscalationTest, RequestIsDeterministicAndConstrainedToTheLabels) {
  const auto request = classification_request("fix my regex", kLabels);
  ASSERT_EQ(request.messages.size(), 2U);
  EXPECT_NE(request.messages[0].content.find("code, factual, oos"), std::string::npos);
  EXPECT_EQ(request.messages[1].content, "fix my regex");
  EXPECT_EQ(request.sampling.temperature, 0.0F);
  EXPECT_EQ(request.response_format["type"], "json_schema");
  EXPECT_EQ(request.response_format["json_schema"]["schema"]["properties"]["label"]["enum"], nlohmann::json(kLabels));
}

TEST(IntentEscalationTest, OnlyAKnownLabelInJsonCounts) {
  EXPECT_EQ(parse_classification(R"({"label": "code"})", kLabels), "code");
  EXPECT_EQ(parse_classification("Sure! {\"label\":\"factual\"} Hope that helps.", kLabels), "factual");
  EXPECT_EQ(parse_classification(R"({"label": "poetry"})", kLabels), std::nullopt);
  EXPECT_EQ(parse_classification(R"({"label": 3})", kLabels), std::nullopt);
  EXPECT_EQ(parse_classification("code", kLabels), std::nullopt);
  EXPECT_EQ(parse_classification("{not json}", kLabels), std::nullopt);
  EXPECT_EQ(parse_classification("", kLabels), std::nullopt);
}

}  // namespace
}  // namespace tandem::pipeline
