// Relearning on the real embedding model: every `every` learned examples the classifier is
// trained again in the background on its own examples plus the learned ones, and the new one is
// installed; what was learned before a start is retrained on at once. The pipeline routes with
// what relearning installed.
#include <gtest/gtest.h>

#include "pipeline/intent_relearning.h"
#include "pipeline/local_models.h"
#include "pipeline/pipeline.h"
#include "providers/local_provider.h"
#include "support/test_embedder.h"
#include "support/test_support.h"

namespace tandem::pipeline {
namespace {

using router::IntentClassifier;
using router::IntentExample;
using tandem::testing::shared_test_embedder;

std::vector<IntentExample> base_examples() {
  std::vector<IntentExample> examples;
  for (const auto* text :
       {"translate hello into Spanish", "how do you say thank you in French", "translate this sentence to German",
        "what is 'cat' in Japanese", "say good night in Italian", "how do I say I love you in Korean"}) {
    examples.push_back({text, "translation"});
  }
  for (const auto* text :
       {"fix the bug in my Python loop", "why does this C++ code not compile", "write a SQL query that counts users",
        "how do I reverse a list in JavaScript", "explain this regex", "my Rust program panics on unwrap"}) {
    examples.push_back({text, "code"});
  }
  return examples;
}

// What the large model taught: "how do you say X in <a programming language>" asks for code,
// which the small classifier, having seen only human languages after "how do you say", did not know.
const std::vector<IntentExample> kTaught = {{"how do you say hello in Haskell", "code"},
                                            {"how do you say print in Kotlin", "code"},
                                            {"say hello world in COBOL", "code"}};
constexpr const char* kUnseen = "how do you say goodbye in Haskell";

router::IntentTrainOptions quick_options() {
  router::IntentTrainOptions options;
  options.hash_bits = 12;
  options.max_iterations = 100;
  options.holdout_fraction = 0;
  return options;
}

// Keeps what the relearner installs, as the pipeline does.
struct Installed {
  std::mutex mutex;
  std::shared_ptr<const IntentClassifier> classifier;
  int count = 0;
  IntentRelearner::Install callback() {
    return [this](std::shared_ptr<const IntentClassifier> c) {
      std::lock_guard lock(mutex);
      classifier = std::move(c);
      ++count;
    };
  }
};

TEST(IntentRelearnerTest, RetrainsAfterEveryNLearnedExamplesOnItsOwnDataPlusWhatItLearned) {
  auto embedder = shared_test_embedder();
  ASSERT_TRUE(embedder);
  auto first = IntentClassifier::train(base_examples(), embedder, quick_options());
  ASSERT_TRUE(first) << first.error().to_string();
  ASSERT_EQ(first->classify(kUnseen)->label, "translation");

  Installed installed;
  IntentRelearner relearner({.every = 3, .base = base_examples(), .learned = {}, .train = first->training_options()},
                            embedder, installed.callback());
  relearner.add(kTaught[0]);
  relearner.add(kTaught[1]);
  relearner.wait_until_idle();
  EXPECT_EQ(relearner.status().retrainings, 0U);
  EXPECT_EQ(relearner.status().learned, 2U);
  EXPECT_EQ(installed.count, 0);

  relearner.add(kTaught[2]);  // the third: a retraining
  relearner.wait_until_idle();
  const auto status = relearner.status();
  EXPECT_EQ(status.retrainings, 1U);
  EXPECT_EQ(status.learned_in_use, 3U);
  EXPECT_EQ(status.failures, 0U);
  EXPECT_FALSE(status.busy);
  ASSERT_EQ(installed.count, 1);
  EXPECT_EQ(installed.classifier->labels(), first->labels());
  EXPECT_EQ(installed.classifier->classify(kUnseen)->label, "code");
  // What it knew before stays known.
  EXPECT_EQ(installed.classifier->classify("how do you say good morning in Portuguese")->label, "translation");
}

TEST(IntentRelearnerTest, WhatWasLearnedBeforeAStartIsRetrainedOnAtOnce) {
  auto embedder = shared_test_embedder();
  ASSERT_TRUE(embedder);
  Installed installed;
  IntentRelearner relearner({.every = 25, .base = base_examples(), .learned = kTaught, .train = quick_options()},
                            embedder, installed.callback());
  relearner.wait_until_idle();
  EXPECT_EQ(relearner.status().retrainings, 1U);
  EXPECT_EQ(relearner.status().learned_in_use, 3U);
  ASSERT_EQ(installed.count, 1);
  EXPECT_EQ(installed.classifier->classify(kUnseen)->label, "code");
}

TEST(IntentRelearnerTest, AFailedRetrainingKeepsTheClassifierInServiceAndSaysWhy) {
  auto embedder = shared_test_embedder();
  ASSERT_TRUE(embedder);
  Installed installed;
  auto options = quick_options();
  options.max_in_scope_loss = 2;  // refused by training
  IntentRelearner relearner({.every = 1, .base = base_examples(), .learned = {}, .train = options}, embedder,
                            installed.callback());
  relearner.add(kTaught[0]);
  relearner.wait_until_idle();
  const auto status = relearner.status();
  EXPECT_EQ(status.retrainings, 0U);
  EXPECT_EQ(status.failures, 1U);
  EXPECT_NE(status.last_error.find("in-scope loss"), std::string::npos) << status.last_error;
  EXPECT_EQ(installed.count, 0);
}

TEST(IntentRelearnerTest, EveryZeroNeverRetrains) {
  auto embedder = shared_test_embedder();
  ASSERT_TRUE(embedder);
  Installed installed;
  IntentRelearner relearner({.every = 0, .base = base_examples(), .learned = kTaught, .train = quick_options()},
                            embedder, installed.callback());
  relearner.add(kTaught[0]);
  relearner.wait_until_idle();
  EXPECT_EQ(relearner.status().retrainings, 0U);
  EXPECT_EQ(relearner.status().learned, 4U);
  EXPECT_EQ(installed.count, 0);
}

TEST(IntentRelearnerTest, ThePipelineRoutesWithTheClassifierRelearningInstalled) {
  auto loaded = load_local_models({.context = 512, .embedding_truncate_to = 64});
  ASSERT_TRUE(loaded) << loaded.error().message;
  providers::ChatRequest request;
  request.messages = {{"user", "say thank you in COBOL"}};
  request.sampling.max_tokens = 4;
  Pipeline before({.local = std::make_shared<providers::LocalProvider>(*loaded->engine), .router = loaded->router});
  ASSERT_EQ(before.route(request, router::RouteMode::kAuto)->decision.intent, "translation");
  EXPECT_EQ(before.relearning(), std::nullopt);

  Pipeline pipeline(
      {.local = std::make_shared<providers::LocalProvider>(*loaded->engine),
       .router = loaded->router,
       .relearning = {.every = 25, .base = base_examples(), .learned = kTaught, .train = quick_options()}});
  pipeline.wait_for_relearning();
  ASSERT_TRUE(pipeline.relearning());
  EXPECT_EQ(pipeline.relearning()->retrainings, 1U);
  auto route = pipeline.route(request, router::RouteMode::kAuto);
  ASSERT_TRUE(route) << route.error().message;
  EXPECT_EQ(route->decision.intent, "code");
}

}  // namespace
}  // namespace tandem::pipeline
