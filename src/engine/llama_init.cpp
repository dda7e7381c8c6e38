#include "engine/llama_init.h"

#include <llama.h>

#include <algorithm>
#include <cmath>
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

Result<std::vector<llama_token>> tokenize(const llama_vocab* vocab, std::string_view text, bool add_special,
                                          bool parse_special) {
  if (text.size() > static_cast<size_t>(INT32_MAX / 2))
    return make_error(ErrorCode::kInvalidArgument, "text is too long");
  const auto length = static_cast<int32_t>(text.size());
  // A buffer too small makes llama_tokenize return minus the count it needs.
  std::vector<llama_token> tokens(text.size() + 8);
  int32_t n = llama_tokenize(vocab, text.data(), length, tokens.data(), static_cast<int32_t>(tokens.size()),
                             add_special, parse_special);
  if (n < 0 && n != INT32_MIN) {
    tokens.resize(static_cast<size_t>(-n));
    n = llama_tokenize(vocab, text.data(), length, tokens.data(), static_cast<int32_t>(tokens.size()), add_special,
                       parse_special);
  }
  if (n < 0) return make_error(ErrorCode::kInvalidArgument, "text cannot be tokenized");
  tokens.resize(static_cast<size_t>(n));
  return tokens;
}

double token_log_probability(const float* logits, int32_t vocabulary, llama_token token) {
  const float max_logit = *std::max_element(logits, logits + vocabulary);
  double sum = 0;
  for (int32_t t = 0; t < vocabulary; ++t) sum += std::exp(static_cast<double>(logits[t] - max_logit));
  return static_cast<double>(logits[token] - max_logit) - std::log(sum);
}

Result<ModelParams> model_params(const DevicePlacement& placement) {
  if (!placement.tensor_split.empty() && placement.tensor_split.size() != placement.devices.size()) {
    return make_error(ErrorCode::kInvalidArgument, "a tensor split needs one ratio per device");
  }
  if (placement.devices.size() > llama_max_devices()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "llama.cpp takes at most " + std::to_string(llama_max_devices()) + " devices per model");
  }
  ModelParams out;
  out.params = llama_model_default_params();
  for (const auto& name : placement.devices) {
    ggml_backend_dev_t dev = ggml_backend_dev_by_name(name.c_str());
    if (dev == nullptr) {
      return make_error(ErrorCode::kInvalidArgument,
                        "no device " + name + " in this build (`tandem devices` lists them)");
    }
    out.devices.push_back(dev);
  }
  out.devices.push_back(nullptr);
  // An empty list still goes to llama.cpp: a null pointer would mean "every GPU and RPC device".
  out.params.devices = out.devices.data();
  out.params.n_gpu_layers = placement.devices.empty() ? 0 : placement.gpu_layers;
  out.params.split_mode = LLAMA_SPLIT_MODE_LAYER;
  out.params.use_extra_bufts = placement.repack_cpu_weights;
  if (!placement.tensor_split.empty()) {
    out.tensor_split.assign(llama_max_devices(), 0.0f);
    std::copy(placement.tensor_split.begin(), placement.tensor_split.end(), out.tensor_split.begin());
    out.params.tensor_split = out.tensor_split.data();
  }
  return out;
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
