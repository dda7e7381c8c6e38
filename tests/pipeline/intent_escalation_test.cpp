// Asking the large model for an intent: the constrained request, reading its answer, and keeping
// it as a training example the router's reader accepts.
#include <gtest/gtest.h>

#include <fstream>

#include "pipeline/intent_escalation.h"
#include "router/router.h"
#include "support/test_support.h"

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

TEST(IntentEscalationTest, LearnedExamplesAreTrainingDataForTheSmallModel) {
  tandem::testing::TempDir dir;
  LearnedExamples learned(dir.file("sub/learned.jsonl"));
  ASSERT_TRUE(learned.append("sort a list in \"Python\"\nplease", "code"));
  ASSERT_TRUE(learned.append("首都是哪里", "factual"));
  auto examples = router::read_intent_examples(learned.path());
  ASSERT_TRUE(examples) << examples.error().message;
  ASSERT_EQ(examples->size(), 2U);
  EXPECT_EQ((*examples)[0].text, "sort a list in \"Python\"\nplease");
  EXPECT_EQ((*examples)[1].label, "factual");

  LearnedExamples unwritable("/proc/tandem-cannot-write/learned.jsonl");
  auto st = unwritable.append("x", "code");
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("cannot append"), std::string::npos);
}

TEST(IntentEscalationTest, SealedLearnedExamplesAreTrainingDataWithTheKeyAndNothingWithout) {
  tandem::testing::TempDir dir;
  privacy::Key key{};
  ASSERT_TRUE(privacy::random_bytes(key));
  LearnedExamples learned(dir.file("learned.jsonl"), key);
  ASSERT_TRUE(learned.append("what is the canary-5150 word", "factual"));
  std::ifstream in(learned.path(), std::ios::binary);
  const std::string bytes{std::istreambuf_iterator<char>(in), {}};
  EXPECT_EQ(bytes.find("canary-5150"), std::string::npos);
  auto examples = router::read_intent_examples(learned.path(), key);
  ASSERT_TRUE(examples) << examples.error().message;
  ASSERT_EQ(examples->size(), 1U);
  EXPECT_EQ((*examples)[0].text, "what is the canary-5150 word");
  EXPECT_FALSE(router::read_intent_examples(learned.path()));

  std::string damaged = bytes;
  damaged[damaged.size() - 1] ^= 0x01;
  std::ofstream(learned.path(), std::ios::binary | std::ios::trunc) << damaged;
  auto refused = router::read_intent_examples(learned.path(), key);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kDataLoss);
  EXPECT_NE(refused.error().message.find(learned.path() + " is damaged"), std::string::npos) << refused.error().message;
}

}  // namespace
}  // namespace tandem::pipeline
