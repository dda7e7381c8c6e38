// Shared helpers for Tandem's tests: model locations, temporary directories.
// Thread-safety: call from test bodies only.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::testing {

// Real models prepared by scripts/setup.sh. Overridable through TANDEM_TEST_CHAT_MODEL /
// TANDEM_TEST_EMBEDDING_MODEL / TANDEM_TEST_EMBEDDING_SOURCE (the safetensors folder).
std::string chat_model_path();
std::string embedding_model_path();
// multilingual-e5-small as scripts/setup.sh converts it (TANDEM_TEST_MULTILINGUAL_MODEL overrides).
std::string multilingual_embedding_model_path();
std::string embedding_source_dir();
// The default intent router trained by scripts/setup.sh (TANDEM_TEST_INTENT_MODEL overrides).
std::string intent_model_dir();
// The PII gazetteer built by scripts/setup.sh (TANDEM_TEST_GAZETTEER overrides).
std::string gazetteer_path();

// Path to the built `tandem` binary.
std::string tandem_binary();

// Greedy decoding repeats an answer byte for byte only when the same tokens are decoded in the
// same batches. Beside other requests, or after a cached prompt prefix, the matmuls take other
// paths that round differently, so a near-tie between two tokens can flip and the answers part
// from there (seen on an AVX2-only machine: "...France? siebie" after a cached prefix,
// "...France?修理" without). Tests compare answers of different requests by how far they agree.
size_t common_prefix_length(std::string_view a, std::string_view b);
// `a` and `b` agree for at least the first half of the longer one.
bool agree_for_the_first_half(std::string_view a, std::string_view b);
// The index of the candidate that `text` agrees with longest, or candidates.size() when two agree
// equally long: an answer mixed up with another request's would agree with that one from the start.
size_t closest_answer(std::string_view text, const std::vector<std::string>& candidates);

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
