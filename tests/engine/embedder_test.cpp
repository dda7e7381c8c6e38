// Embedder on a freshly converted all-MiniLM-L6-v2: real vectors, batching that does not change
// them, thread safety, and clear errors for bad inputs and bad model files.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "engine/bert_converter.h"
#include "engine/engine.h"
#include "support/test_support.h"

namespace tandem::engine {
namespace {

namespace fs = std::filesystem;
using tandem::testing::TempDir;

// Load options for `path`, everything else at its default.
EmbedderOptions options_for(const std::string& path, int32_t batch = EmbedderOptions{}.batch) {
  EmbedderOptions options;
  options.model_path = path;
  options.batch = batch;
  return options;
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += static_cast<double>(a[i]) * b[i];
  return sum;
}

class EmbedderTest : public ::testing::Test {
 protected:
  // One conversion and one loaded model for the whole suite.
  static void SetUpTestSuite() {
    temp_ = new TempDir();
    model_path_ = temp_->file("minilm.gguf");
    auto st = convert_bert_to_gguf(tandem::testing::embedding_source_dir(), model_path_);
    ASSERT_TRUE(st.ok()) << st.error().to_string() << " (run scripts/setup.sh)";
    auto embedder = Embedder::load(options_for(model_path_));
    ASSERT_TRUE(embedder) << embedder.error().to_string();
    embedder_ = embedder->release();
  }

  static void TearDownTestSuite() {
    delete embedder_;
    delete temp_;
    embedder_ = nullptr;
    temp_ = nullptr;
  }

  void SetUp() override { ASSERT_NE(embedder_, nullptr); }

  static std::vector<std::vector<float>> embed(Embedder& embedder, const std::vector<std::string>& inputs) {
    auto result = embedder.embed(inputs);
    EXPECT_TRUE(result) << result.error().to_string();
    return result ? result->vectors : std::vector<std::vector<float>>{};
  }

  static TempDir* temp_;
  static std::string model_path_;
  static Embedder* embedder_;
};

TempDir* EmbedderTest::temp_ = nullptr;
std::string EmbedderTest::model_path_;
Embedder* EmbedderTest::embedder_ = nullptr;

TEST_F(EmbedderTest, VectorsHaveTheModelDimensionAndUnitNorm) {
  EXPECT_EQ(embedder_->dimensions(), 384);
  const auto vectors = embed(*embedder_, {"hello world", "Embeddings are unit vectors."});
  ASSERT_EQ(vectors.size(), 2u);
  for (const auto& v : vectors) {
    ASSERT_EQ(v.size(), 384u);
    EXPECT_NEAR(dot(v, v), 1.0, 1e-5);
  }
  EXPECT_LT(dot(vectors[0], vectors[1]), 0.99);  // different texts, different vectors
}

TEST_F(EmbedderTest, RelatedSentencesAreCloserThanUnrelatedOnes) {
  const auto v = embed(*embedder_, {"A cat sits on the mat.", "A kitten is resting on a rug.",
                                    "The stock market fell sharply today.", "How do I bake sourdough bread?",
                                    "What is a good recipe for homemade bread?"});
  ASSERT_EQ(v.size(), 5u);
  EXPECT_GT(dot(v[0], v[1]), 0.5);
  EXPECT_GT(dot(v[0], v[1]), dot(v[0], v[2]) + 0.3);
  EXPECT_GT(dot(v[3], v[4]), dot(v[3], v[2]) + 0.3);
  EXPECT_GT(dot(v[3], v[4]), dot(v[3], v[0]) + 0.3);
}

TEST_F(EmbedderTest, BatchingDoesNotChangeTheVectors) {
  std::vector<std::string> inputs;
  for (int i = 0; i < 40; ++i) {
    inputs.push_back("Sentence number " + std::to_string(i) + (i % 3 ? " talks about rivers and boats." : " is short."));
  }
  const auto together = embed(*embedder_, inputs);
  ASSERT_EQ(together.size(), inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const auto alone = embed(*embedder_, {inputs[i]});
    ASSERT_EQ(alone.size(), 1u);
    EXPECT_GT(dot(together[i], alone[0]), 0.9999) << inputs[i];
  }

  // A small token budget forces many decodes per call; same vectors, same order.
  auto small = Embedder::load(options_for(model_path_, 64));
  ASSERT_TRUE(small) << small.error().to_string();
  const auto split = embed(**small, inputs);
  ASSERT_EQ(split.size(), inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) EXPECT_GT(dot(together[i], split[i]), 0.9999) << inputs[i];
}

TEST_F(EmbedderTest, TheAutomaticBatchHoldsTheLongestInputAndAnExplicitOneCapsIt) {
  EXPECT_EQ(embedder_->max_input_tokens(), 512);  // the fixture's embedder: batch 0, MiniLM's context
  auto small = Embedder::load(options_for(model_path_, 64));
  ASSERT_TRUE(small) << small.error().to_string();
  EXPECT_EQ((*small)->max_input_tokens(), 64);
  auto negative = Embedder::load(options_for(model_path_, -1));
  ASSERT_FALSE(negative);
  EXPECT_EQ(negative.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(EmbedderTest, MoreInputsThanSequencesPerDecode) {
  std::vector<std::string> inputs(300, "repeat");  // over llama.cpp's 256 sequences per batch
  inputs[299] = "the last one differs";
  auto result = embedder_->embed(inputs);
  ASSERT_TRUE(result) << result.error().to_string();
  ASSERT_EQ(result->vectors.size(), 300u);
  EXPECT_EQ(result->prompt_tokens, 299 * 3 + 6);  // [CLS] repeat [SEP]; [CLS] the last one differs [SEP]
  EXPECT_GT(dot(result->vectors[0], result->vectors[298]), 0.9999);
  EXPECT_LT(dot(result->vectors[0], result->vectors[299]), 0.9);
}

TEST_F(EmbedderTest, ConcurrentCallsGetTheirOwnResults) {
  const std::vector<std::string> texts = {"alpha particles", "beta testing", "gamma rays", "delta airlines"};
  const auto expected = embed(*embedder_, texts);
  ASSERT_EQ(expected.size(), texts.size());
  std::vector<std::thread> threads;
  std::vector<double> worst(texts.size(), 1.0);
  for (size_t t = 0; t < texts.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round) {
        auto result = embedder_->embed({texts[t]});
        worst[t] = result ? std::min(worst[t], dot(result->vectors[0], expected[t])) : -1.0;
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (size_t t = 0; t < texts.size(); ++t) EXPECT_GT(worst[t], 0.9999) << texts[t];
}

TEST_F(EmbedderTest, BadInputsAreInvalidArgument) {
  auto none = embedder_->embed({});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::kInvalidArgument);

  auto empty = embedder_->embed({"fine", ""});
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(empty.error().message.find("input 1"), std::string::npos) << empty.error().message;

  std::string long_text;
  for (int i = 0; i < 600; ++i) long_text += "word ";
  auto too_long = embedder_->embed({"short", long_text});
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(too_long.error().message.find("602 tokens"), std::string::npos) << too_long.error().message;
  EXPECT_NE(too_long.error().message.find("512"), std::string::npos) << too_long.error().message;

  // The longest input that fits: [CLS] + 510 words + [SEP].
  std::string longest;
  for (int i = 0; i < 510; ++i) longest += "word ";
  auto fits = embedder_->embed({longest});
  ASSERT_TRUE(fits) << fits.error().to_string();
  EXPECT_EQ(fits->prompt_tokens, 512);
}

TEST_F(EmbedderTest, TruncationKeepsTheHeadOfALongInput) {
  auto options = options_for(model_path_);
  options.truncate_to = 16;
  auto truncating = Embedder::load(options);
  ASSERT_TRUE(truncating) << truncating.error().to_string();

  const std::string head = "the quick brown fox jumps over the lazy dog near a quiet river bank";
  std::ostringstream long_text_stream;
  long_text_stream << head;
  for (int i = 0; i < 600; ++i) long_text_stream << " word";
  const std::string long_text = long_text_stream.str();
  auto cut = (*truncating)->embed({long_text, head});
  ASSERT_TRUE(cut) << cut.error().to_string();
  EXPECT_EQ(cut->prompt_tokens, 16 + 16);
  // Both inputs are cut to [CLS] + the same 14 words + [SEP], so they embed identically.
  EXPECT_GT(dot(cut->vectors[0], cut->vectors[1]), 0.9999);
  // A short input is not touched.
  auto whole = embedder_->embed({"short text"});
  auto same = (*truncating)->embed({"short text"});
  ASSERT_TRUE(whole && same);
  EXPECT_GT(dot(whole->vectors[0], same->vectors[0]), 0.99999);
}

TEST_F(EmbedderTest, MissingOrCorruptModelFilesAreReportedWithThePath) {
  TempDir dir;
  auto missing = Embedder::load(options_for(dir.file("absent.gguf")));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
  EXPECT_NE(missing.error().message.find("absent.gguf"), std::string::npos) << missing.error().message;

  const std::string truncated = dir.file("truncated.gguf");
  fs::copy_file(model_path_, truncated);
  fs::resize_file(truncated, fs::file_size(truncated) / 3);
  auto short_file = Embedder::load(options_for(truncated));
  ASSERT_FALSE(short_file);
  EXPECT_EQ(short_file.error().code, ErrorCode::kDataLoss);
  EXPECT_NE(short_file.error().message.find("truncated.gguf"), std::string::npos) << short_file.error().message;

  const std::string garbage = dir.file("garbage.gguf");
  std::ofstream(garbage) << "this is not a model";
  auto not_gguf = Embedder::load(options_for(garbage));
  ASSERT_FALSE(not_gguf);
  EXPECT_EQ(not_gguf.error().code, ErrorCode::kDataLoss);
  EXPECT_NE(not_gguf.error().message.find("garbage.gguf"), std::string::npos) << not_gguf.error().message;
}

}  // namespace
}  // namespace tandem::engine
