#include "support/test_support.h"

#include <gtest/gtest.h>

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
std::string embedding_source_dir() {
  return from_env_or("TANDEM_TEST_EMBEDDING_SOURCE", default_cache_dir() + "/models/all-MiniLM-L6-v2");
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
