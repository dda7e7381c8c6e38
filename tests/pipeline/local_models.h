// The real local parts every pipeline test starts from: the chat engine, the embedding model and
// the default intent router on it, loaded once per test suite.
//
//   static LocalModels* models_;                          // in the fixture
//   auto loaded = load_local_models({.context = 2048});   // in SetUpTestSuite
//   ASSERT_TRUE(loaded) << loaded.error().message;
//   models_ = new LocalModels(std::move(*loaded));
#pragma once

#include <memory>

#include "engine/engine.h"
#include "router/router.h"
#include "support/test_support.h"

namespace tandem::pipeline {

struct LocalModels {
  std::unique_ptr<engine::ChatEngine> engine;
  std::shared_ptr<engine::Embedder> embedder;
  std::shared_ptr<const router::Router> router;
};

struct LocalModelOptions {
  int32_t context = 2048;
  int32_t embedding_truncate_to = 0;  // 0: the embedding model's own limit
};

inline Result<LocalModels> load_local_models(const LocalModelOptions& options) {
  engine::ChatEngineOptions chat;
  chat.model_path = tandem::testing::chat_model_path();
  chat.context = options.context;
  chat.slots = 1;
  auto engine = engine::ChatEngine::load(chat);
  if (!engine) return engine.error();
  engine::EmbedderOptions embed;
  embed.model_path = tandem::testing::embedding_model_path();
  embed.truncate_to = options.embedding_truncate_to;
  auto embedder = engine::Embedder::load(embed);
  if (!embedder) return embedder.error();
  LocalModels models{.engine = std::move(*engine), .embedder = std::move(*embedder), .router = nullptr};
  auto intents = router::IntentClassifier::load(tandem::testing::intent_model_dir(), models.embedder);
  if (!intents) return make_error(intents.error().code, intents.error().message + " (run scripts/setup.sh)");
  models.router = std::make_shared<const router::Router>(
      models.embedder, std::make_shared<const router::IntentClassifier>(std::move(*intents)), nullptr);
  return models;
}

}  // namespace tandem::pipeline
