// What every engine component needs from llama.cpp besides its own work: one-time start-up
// (backend init, llama.cpp's and ggml's log lines routed into TANDEM_LOG as component "llama" at
// debug level) and a ModelInfo filled from a loaded model.
//
//   ensure_llama_backend();  // before the first llama_model_load_from_file
//   ModelInfo info = describe_model(model, path, configured_name);
//
// Thread-safety: ensure_llama_backend is safe from any thread, any number of times (the work
// happens once); describe_model only reads the model.
#pragma once

#include <string>

#include "engine/engine.h"

struct llama_model;

namespace tandem::engine {

void ensure_llama_backend();

// Name (configured, else the file stem), path, description, parameters, size and training context.
ModelInfo describe_model(const llama_model* model, const std::string& path, const std::string& configured_name);

}  // namespace tandem::engine
