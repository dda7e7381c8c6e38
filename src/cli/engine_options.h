// Maps the configuration onto the engine's load options, in one place for every command.
// Thread-safety: pure functions.
#pragma once

#include "core/config.h"
#include "engine/engine.h"

namespace tandem::cli {

inline engine::ChatEngineOptions chat_engine_options(const Config& config) {
  engine::ChatEngineOptions options;
  options.model_path = config.engine_model;
  options.model_name = config.engine_model_name;
  options.lora_dir = config.engine_lora_dir;
  options.chat_template = config.engine_chat_template;
  options.context = static_cast<int32_t>(config.engine_context);
  options.slots = static_cast<int32_t>(config.engine_slots);
  options.queue = static_cast<int32_t>(config.engine_queue);
  options.threads = static_cast<int32_t>(config.engine_threads);
  options.batch = static_cast<int32_t>(config.engine_batch);
  return options;
}

inline engine::EmbedderOptions embedder_options(const Config& config) {
  engine::EmbedderOptions options;
  options.model_path = config.engine_embedding_model;
  options.threads = static_cast<int32_t>(config.engine_threads);
  return options;
}

// The router's own embedder: the same model, reading a bounded head of each request, one
// request at a time.
inline engine::EmbedderOptions router_embedder_options(const Config& config) {
  engine::EmbedderOptions options = embedder_options(config);
  options.threads = static_cast<int32_t>(config.router_threads);
  options.truncate_to = static_cast<int32_t>(config.router_max_input_tokens);
  options.flash_attention = false;
  return options;
}

}  // namespace tandem::cli
