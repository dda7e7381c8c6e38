// LikelihoodScorer on the real chat model: a question is likelier after the passage it was written
// from than after an unrelated one, scores are log-probabilities and repeatable, and bad inputs
// and bad model files give clear errors.
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "engine/engine.h"
#include "support/test_support.h"

namespace tandem::engine {
namespace {

constexpr const char* kPrompt = "\nA question about this passage: ";
const std::string kLease =
    "Passage: The lease of the flat at 12 Elm Street ends on 31 March 2027; the tenant may "
    "renew it once for two more years.";
const std::string kVolcano =
    "Passage: Mount Etna is an active volcano on the east coast of Sicily, the highest in "
    "Europe outside the Caucasus.";

class LikelihoodScorerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto loaded = LikelihoodScorer::load({.model_path = tandem::testing::chat_model_path(), .threads = 2});
    ASSERT_TRUE(loaded) << loaded.error().to_string() << " (run scripts/setup.sh)";
    scorer_ = loaded->release();
  }
  static void TearDownTestSuite() {
    delete scorer_;
    scorer_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(scorer_, nullptr); }

  static double score(const std::string& prefix, const std::string& continuation) {
    auto result = scorer_->score(prefix, continuation);
    EXPECT_TRUE(result) << result.error().to_string();
    return result ? *result : 0;
  }

  static LikelihoodScorer* scorer_;
};
LikelihoodScorer* LikelihoodScorerTest::scorer_ = nullptr;

TEST_F(LikelihoodScorerTest, AQuestionIsLikelierAfterThePassageItAsksAbout) {
  const std::string lease_question = "When does the lease end?";
  const std::string volcano_question = "Where is Mount Etna?";
  EXPECT_GT(score(kLease + kPrompt, lease_question), score(kVolcano + kPrompt, lease_question));
  EXPECT_GT(score(kVolcano + kPrompt, volcano_question), score(kLease + kPrompt, volcano_question));
}

TEST_F(LikelihoodScorerTest, ScoresAreRepeatableLogProbabilitiesThatAddUpOverTokens) {
  const double once = score(kLease + kPrompt, "When does the lease end?");
  EXPECT_LT(once, 0);
  EXPECT_DOUBLE_EQ(once, score(kLease + kPrompt, "When does the lease end?"));
  // A longer continuation that starts the same way has at most the probability of its start.
  EXPECT_LT(score(kLease + kPrompt, "When does the lease end? And who pays the rent?"), once);
}

TEST_F(LikelihoodScorerTest, CallsFromSeveralThreadsGiveTheSameScores) {
  const double expected = score(kVolcano + kPrompt, "Where is Mount Etna?");
  std::vector<Result<double>> seen(4, 0.0);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < seen.size(); ++i)
    threads.emplace_back([&, i] { seen[i] = scorer_->score(kVolcano + kPrompt, "Where is Mount Etna?"); });
  for (auto& t : threads) t.join();
  for (const auto& s : seen) {
    ASSERT_TRUE(s) << s.error().to_string();
    EXPECT_DOUBLE_EQ(*s, expected);
  }
}

TEST_F(LikelihoodScorerTest, EmptyOrOverlongInputsAreRefused) {
  auto empty = scorer_->score(kLease, "");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, ErrorCode::kInvalidArgument);
  std::string huge;
  for (int i = 0; i < 3000; ++i) huge += "lease ";
  auto overlong = scorer_->score(huge, "When does the lease end?");
  ASSERT_FALSE(overlong);
  EXPECT_EQ(overlong.error().code, ErrorCode::kContextOverflow);
  EXPECT_NE(overlong.error().message.find("2048"), std::string::npos) << overlong.error().message;
}

TEST(LikelihoodScorerLoadTest, MissingCorruptAndNonCausalModelsAreRefused) {
  tandem::testing::TempDir dir;
  EXPECT_FALSE(LikelihoodScorer::load({.model_path = dir.file("missing.gguf")}));
  { std::ofstream(dir.file("garbage.gguf")) << "not a model"; }
  EXPECT_FALSE(LikelihoodScorer::load({.model_path = dir.file("garbage.gguf")}));
  auto embedding_model = LikelihoodScorer::load({.model_path = tandem::testing::embedding_model_path()});
  ASSERT_FALSE(embedding_model);
  EXPECT_NE(embedding_model.error().message.find("not a causal language model"), std::string::npos)
      << embedding_model.error().message;
}

}  // namespace
}  // namespace tandem::engine
