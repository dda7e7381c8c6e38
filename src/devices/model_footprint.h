// What a model file needs from a device, read from its GGUF metadata without loading the
// weights: the planner's input for one model.
//
//   auto shape = tandem::devices::read_model_shape("gemma.gguf");
//   if (!shape) return shape.error();
//   uint64_t kv = shape->kv_bytes_per_token * context;  // the KV cache for that context
//
// Thread-safety: read_model_shape reads only its own file; safe from any thread.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace tandem::devices {

struct ModelShape {
  std::string architecture;  // general.architecture, e.g. "gemma3", "bert"
  std::string name;          // general.name, else the file stem
  uint64_t file_bytes = 0;   // the weights, as mapped from the file
  int32_t layers = 0;        // <arch>.block_count
  int32_t training_context = 0;
  // An F16 KV cache: layers x KV heads x (key + value length) x 2 bytes.
  uint64_t kv_bytes_per_token = 0;
};

// kNotFound for a missing file, kDataLoss for one that is not GGUF or lacks block_count.
Result<ModelShape> read_model_shape(const std::string& path);

}  // namespace tandem::devices
