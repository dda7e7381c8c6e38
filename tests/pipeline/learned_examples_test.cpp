// The examples the pipeline learns are training data the router's readers accept, in clear or
// sealed with the router key.
#include "pipeline/learned_examples.h"

#include <gtest/gtest.h>

#include <fstream>

#include "router/router.h"
#include "support/test_support.h"

namespace tandem::pipeline {
namespace {

TEST(LearnedExamplesTest, IntentExamplesAreTrainingDataForTheSmallModel) {
  tandem::testing::TempDir dir;
  LearnedExamples learned(dir.file("sub/learned.jsonl"));
  ASSERT_TRUE(learned.append(intent_example("sort a list in \"Python\"\nplease", "code")));
  ASSERT_TRUE(learned.append(intent_example("首都是哪里", "factual")));
  auto examples = router::read_intent_examples(learned.path());
  ASSERT_TRUE(examples) << examples.error().message;
  ASSERT_EQ(examples->size(), 2U);
  EXPECT_EQ((*examples)[0].text, "sort a list in \"Python\"\nplease");
  EXPECT_EQ((*examples)[1].label, "factual");

  // A huge request keeps its head, cut between characters, so the file stays readable training data.
  std::string huge;
  while (huge.size() < (size_t{2} << 20)) huge += "翻译这句话 ";
  ASSERT_TRUE(learned.append(intent_example(huge, "translation")));
  auto with_huge = router::read_intent_examples(learned.path());
  ASSERT_TRUE(with_huge) << with_huge.error().message;
  const auto& head = (*with_huge)[2].text;
  EXPECT_LE(head.size(), kMaxExampleTextBytes);
  EXPECT_GT(head.size(), kMaxExampleTextBytes - 4);
  EXPECT_EQ(huge.compare(0, head.size(), head), 0);
  EXPECT_NE(static_cast<unsigned char>(huge[head.size()]) & 0xC0, 0x80);  // the cut is at a character

  LearnedExamples unwritable("/proc/tandem-cannot-write/learned.jsonl");
  auto st = unwritable.append(intent_example("x", "code"));
  ASSERT_FALSE(st);
  EXPECT_NE(st.error().message.find("cannot append"), std::string::npos);
}

TEST(LearnedExamplesTest, CascadeVerdictsAreRoutingExamples) {
  tandem::testing::TempDir dir;
  LearnedExamples outcomes(dir.file("outcomes.jsonl"));
  ASSERT_TRUE(outcomes.append(routing_example("Name a colour.", /*local_answer_accepted=*/true, -0.4)));
  ASSERT_TRUE(outcomes.append(routing_example("Prove Fermat's last theorem.", false, -2.5)));
  auto examples = router::read_routing_examples(outcomes.path());
  ASSERT_TRUE(examples) << examples.error().message;
  ASSERT_EQ(examples->size(), 2U);
  EXPECT_EQ((*examples)[0].prompt, "Name a colour.");
  EXPECT_TRUE((*examples)[0].weak_correct);
  EXPECT_FALSE((*examples)[1].weak_correct);
  // Escalated and answered by the cloud: the quality gap the model learns to predict.
  EXPECT_TRUE((*examples)[1].strong_correct);
}

TEST(LearnedExamplesTest, SealedExamplesAreTrainingDataWithTheKeyAndNothingWithout) {
  tandem::testing::TempDir dir;
  privacy::Key key{};
  ASSERT_TRUE(privacy::random_bytes(key));
  LearnedExamples learned(dir.file("learned.jsonl"), key);
  ASSERT_TRUE(learned.append(intent_example("what is the canary-5150 word", "factual")));
  LearnedExamples outcomes(dir.file("outcomes.jsonl"), key);
  ASSERT_TRUE(outcomes.append(routing_example("what is the canary-6160 word", false, -3.0)));
  for (const auto* file : {&learned, &outcomes}) {
    std::ifstream in(file->path(), std::ios::binary);
    const std::string bytes{std::istreambuf_iterator<char>(in), {}};
    EXPECT_EQ(bytes.find("canary-"), std::string::npos) << file->path();
  }
  auto examples = router::read_intent_examples(learned.path(), key);
  ASSERT_TRUE(examples) << examples.error().message;
  ASSERT_EQ(examples->size(), 1U);
  EXPECT_EQ((*examples)[0].text, "what is the canary-5150 word");
  EXPECT_FALSE(router::read_intent_examples(learned.path()));
  auto routing = router::read_routing_examples(outcomes.path(), key);
  ASSERT_TRUE(routing) << routing.error().message;
  ASSERT_EQ(routing->size(), 1U);
  EXPECT_EQ((*routing)[0].prompt, "what is the canary-6160 word");
  EXPECT_FALSE(router::read_routing_examples(outcomes.path()));

  std::ifstream in(learned.path(), std::ios::binary);
  std::string damaged{std::istreambuf_iterator<char>(in), {}};
  damaged[damaged.size() - 1] ^= 0x01;
  std::ofstream(learned.path(), std::ios::binary | std::ios::trunc) << damaged;
  auto refused = router::read_intent_examples(learned.path(), key);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kDataLoss);
  EXPECT_NE(refused.error().message.find(learned.path() + " is damaged"), std::string::npos) << refused.error().message;
}

}  // namespace
}  // namespace tandem::pipeline
