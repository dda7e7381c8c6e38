// What every engine component needs from llama.cpp besides its own work: one-time start-up
// (backend init, llama.cpp's and ggml's log lines routed into TANDEM_LOG as component "llama" at
// debug level) and a ModelInfo filled from a loaded model.
//
//   ensure_llama_backend();  // before the first llama_model_load_from_file
//   auto params = model_params(options.placement);  // devices, n_gpu_layers, tensor split
//   ModelInfo info = describe_model(model, path, configured_name);
//
// Thread-safety: ensure_llama_backend is safe from any thread, any number of times (the work
// happens once); describe_model only reads the model.
#pragma once

#include <llama.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/engine.h"

namespace tandem::engine {

void ensure_llama_backend();

// Owning handles for llama.cpp's model and context.
struct ModelDeleter {
  void operator()(llama_model* m) const { llama_model_free(m); }
};
struct ContextDeleter {
  void operator()(llama_context* c) const { llama_free(c); }
};

// llama_model_params for a placement; the arrays `params` points into live as long as this.
struct ModelParams {
  llama_model_params params{};
  std::vector<ggml_backend_dev_t> devices;  // null-terminated
  std::vector<float> tensor_split;          // llama_max_devices() entries
};

// The tokens of `text`. add_special: the model's own BOS / [CLS] ... [SEP]; parse_special: text
// such as "<start_of_turn>" becomes control tokens (for rendered templates, never for user text).
// kInvalidArgument when the text is over INT32_MAX / 2 bytes or llama.cpp cannot tokenize it.
Result<std::vector<llama_token>> tokenize(const llama_vocab* vocab, std::string_view text, bool add_special,
                                          bool parse_special);

// log softmax(logits)[token] over one row of `vocabulary` logits: the model's own probability of a
// token, before any sampler.
double token_log_probability(const float* logits, int32_t vocabulary, llama_token token);

// kInvalidArgument when a device is unknown to ggml (e.g. an RPC server that was not added).
Result<ModelParams> model_params(const DevicePlacement& placement);

// Name (configured, else the file stem), path, description, parameters, size and training context.
ModelInfo describe_model(const llama_model* model, const std::string& path, const std::string& configured_name);

}  // namespace tandem::engine
