// Converts a sentence-transformers BERT folder (config.json, model.safetensors, vocab.txt,
// tokenizer_config.json, modules.json + the pooling module's config.json) into an F32 GGUF that
// llama.cpp loads as architecture `bert`, with the same metadata and vocabulary that llama.cpp's
// convert_hf_to_gguf.py writes, so no Python is needed at set-up time.
//
//   auto st = tandem::engine::convert_bert_to_gguf("models/all-MiniLM-L6-v2", "models/minilm-f32.gguf",
//                                                  [](int done, int total) { show(done, total); });
//   if (!st) return st.error();  // kNotFound (missing file), kDataLoss (corrupt), kInvalidArgument (unsupported)
//
// Weights in F32, F16 or BF16 are written as F32. The output appears atomically: it is written to
// a temporary file beside out_path and renamed into place only when complete.
// Thread-safety: no shared state; concurrent calls with different out_path values are safe.
#pragma once

#include <functional>
#include <string>

#include "core/status.h"

namespace tandem::engine {

// `progress` (optional) is called after each tensor is written: done in [0, total].
Status convert_bert_to_gguf(const std::string& hf_dir, const std::string& out_path,
                            const std::function<void(int done, int total)>& progress = {});

}  // namespace tandem::engine
