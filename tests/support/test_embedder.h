// The real embedding model, loaded once per test binary and shared by its tests (header-only: only
// the suites that link the engine include it).
#pragma once

#include <gtest/gtest.h>

#include <memory>

#include "engine/engine.h"
#include "support/test_support.h"

namespace tandem::testing {

// Inputs truncated to 128 tokens, which every test text fits; null (and a test failure) when the
// model is missing.
inline std::shared_ptr<engine::Embedder> shared_test_embedder() {
  static std::shared_ptr<engine::Embedder> embedder = [] {
    engine::EmbedderOptions options;
    options.model_path = embedding_model_path();
    options.truncate_to = 128;
    auto loaded = engine::Embedder::load(options);
    EXPECT_TRUE(loaded) << loaded.error().to_string() << " (run scripts/setup.sh)";
    return loaded ? std::shared_ptr<engine::Embedder>(std::move(*loaded)) : nullptr;
  }();
  return embedder;
}

}  // namespace tandem::testing
