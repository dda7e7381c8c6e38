// Shared helpers for Tandem's tests: model locations, temporary directories.
// Thread-safety: call from test bodies only.
#pragma once

#include <filesystem>
#include <string>

namespace tandem::testing {

// Real models prepared by scripts/setup.sh. Overridable through TANDEM_TEST_CHAT_MODEL /
// TANDEM_TEST_EMBEDDING_MODEL / TANDEM_TEST_EMBEDDING_SOURCE (the safetensors folder).
std::string chat_model_path();
std::string embedding_model_path();
std::string embedding_source_dir();
// The default intent router trained by scripts/setup.sh (TANDEM_TEST_INTENT_MODEL overrides).
std::string intent_model_dir();
// The PII gazetteer built by scripts/setup.sh (TANDEM_TEST_GAZETTEER overrides).
std::string gazetteer_path();

// Path to the built `tandem` binary.
std::string tandem_binary();

// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace tandem::testing
