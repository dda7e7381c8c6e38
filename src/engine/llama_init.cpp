#include "engine/llama_init.h"

#include <llama.h>

#include <filesystem>
#include <mutex>
#include <string_view>

#include "core/log.h"

namespace tandem::engine {
namespace {

// llama.cpp writes one line per call (with its newline) plus progress fragments; our sink adds
// its own line endings, so strip the newline and drop fragments that carry no text.
void forward_llama_log(ggml_log_level, const char* text, void*) {
  if (text == nullptr) return;
  std::string_view line(text);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.empty() || line == ".") return;
  TANDEM_LOG(kDebug, "llama", "{}", line);
}

}  // namespace

void ensure_llama_backend() {
  static std::once_flag once;
  std::call_once(once, [] {
    llama_log_set(forward_llama_log, nullptr);
    llama_backend_init();
  });
}

ModelInfo describe_model(const llama_model* model, const std::string& path, const std::string& configured_name) {
  ModelInfo info;
  info.path = path;
  info.name = configured_name.empty() ? std::filesystem::path(path).stem().string() : configured_name;
  char description[256];
  llama_model_desc(model, description, sizeof(description));
  info.description = description;
  info.parameters = static_cast<int64_t>(llama_model_n_params(model));
  info.size_bytes = static_cast<int64_t>(llama_model_size(model));
  info.training_context = llama_model_n_ctx_train(model);
  return info;
}

}  // namespace tandem::engine
