// Maps the configuration onto the engine's load options, in one place for every command, with
// the device placement `tandem plan` shows (errors: a pin that names a missing device or does
// not fit, an RPC server that does not answer).
// Thread-safety: start-up code (placement may register RPC servers with ggml).
#pragma once

#include "cli/placement_setup.h"
#include "core/config.h"
#include "engine/engine.h"

namespace tandem::cli {

// The chat model's load options with a placement already chosen (one copy of chat_replica_plans).
inline engine::ChatEngineOptions chat_engine_options_at(const Config& config, engine::DevicePlacement placement) {
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
  options.placement = std::move(placement);
  return options;
}

inline Result<engine::ChatEngineOptions> chat_engine_options(const Config& config) {
  auto placement = placement_for(config, devices::ModelRole::kChat);
  if (!placement) return placement.error();
  return chat_engine_options_at(config, std::move(*placement));
}

inline Result<engine::EmbedderOptions> embedder_options(const Config& config,
                                                        devices::ModelRole role = devices::ModelRole::kEmbedding) {
  engine::EmbedderOptions options;
  options.model_path = config.engine_embedding_model;
  options.threads = static_cast<int32_t>(config.engine_threads);
  auto placement = placement_for(config, role);
  if (!placement) return placement.error();
  options.placement = std::move(*placement);
  return options;
}

// The router's own embedder: the same model, reading a bounded head of each request, one
// request at a time.
inline Result<engine::EmbedderOptions> router_embedder_options(const Config& config) {
  auto options = embedder_options(config, devices::ModelRole::kRouter);
  if (!options) return options;
  options->threads = static_cast<int32_t>(config.router_threads);
  options->truncate_to = static_cast<int32_t>(config.router_max_input_tokens);
  options->flash_attention = false;
  return options;
}

}  // namespace tandem::cli
