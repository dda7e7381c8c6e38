#include "support/test_support.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <random>

#include "core/config.h"

namespace tandem::testing {
namespace {

std::string from_env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return (v && *v) ? std::string(v) : fallback;
}

}  // namespace

std::string intent_model_dir() { return from_env_or("TANDEM_TEST_INTENT_MODEL", default_intent_model_dir()); }
std::string gazetteer_path() { return from_env_or("TANDEM_TEST_GAZETTEER", default_gazetteer_path()); }
std::string chat_model_path() { return from_env_or("TANDEM_TEST_CHAT_MODEL", default_chat_model_path()); }
std::string embedding_model_path() {
  return from_env_or("TANDEM_TEST_EMBEDDING_MODEL", default_embedding_model_path());
}
std::string multilingual_embedding_model_path() {
  return from_env_or("TANDEM_TEST_MULTILINGUAL_MODEL", default_cache_dir() + "/models/multilingual-e5-small-q4_0.gguf");
}
std::string embedding_source_dir() {
  return from_env_or("TANDEM_TEST_EMBEDDING_SOURCE", default_cache_dir() + "/models/all-MiniLM-L6-v2");
}
size_t common_prefix_length(std::string_view a, std::string_view b) {
  return static_cast<size_t>(std::mismatch(a.begin(), a.end(), b.begin(), b.end()).first - a.begin());
}

bool agree_for_the_first_half(std::string_view a, std::string_view b) {
  return 2 * common_prefix_length(a, b) >= std::max(a.size(), b.size());
}

size_t closest_answer(std::string_view text, const std::vector<std::string>& candidates) {
  size_t best = candidates.size();
  size_t best_length = 0;
  bool tied = false;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const size_t length = common_prefix_length(text, candidates[i]);
    if (best == candidates.size() || length > best_length) {
      best = i;
      best_length = length;
      tied = false;
    } else if (length == best_length) {
      tied = true;
    }
  }
  return tied ? candidates.size() : best;
}

std::string tandem_binary() { return from_env_or("TANDEM_BIN", std::string(TANDEM_BINARY_DIR) + "/bin/tandem"); }

TempDir::TempDir() {
  std::random_device rd;
  path_ = std::filesystem::temp_directory_path() / ("tandem-test-" + std::to_string(rd()) + std::to_string(rd()));
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace tandem::testing
