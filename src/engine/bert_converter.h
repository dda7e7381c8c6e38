// Converts a sentence-transformers BERT folder (config.json, model.safetensors, vocab.txt,
// tokenizer_config.json, modules.json + the pooling module's config.json) into a GGUF that
// llama.cpp loads as architecture `bert`, with the same metadata and vocabulary that llama.cpp's
// convert_hf_to_gguf.py writes, so no Python is needed at set-up time.
//
//   auto st = tandem::engine::convert_bert_to_gguf("models/all-MiniLM-L6-v2", "models/minilm-bf16.gguf",
//                                                  {.progress = [](int done, int total) { show(done, total); }});
//   if (!st) return st.error();  // kNotFound (missing file), kDataLoss (corrupt), kInvalidArgument (unsupported)
//
// Source weights may be F32, F16 or BF16. The token embeddings and the layers' matrices are written
// as `matrix_type`; biases, norms and the position and token-type embeddings stay F32, as
// llama-quantize leaves them. The output appears atomically: it is written to a temporary file
// beside out_path and renamed into place only when complete.
// Thread-safety: no shared state; concurrent calls with different out_path values are safe.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "core/status.h"

namespace tandem::engine {

enum class WeightType { kF32, kF16, kBF16 };

// "f32", "f16" or "bf16".
Result<WeightType> parse_weight_type(const std::string& name);

struct ConvertOptions {
  // BF16 by default: on CPUs with AVX512-BF16 a short request embeds 1.7x faster than with F32
  // (docs/benchmarks.md, section 4), at cosine >= 0.99998 to the F32 model's vectors.
  WeightType matrix_type = WeightType::kBF16;
  // The cosine below which a passage does not hold an answer, stored as kMinSimilarityKey
  // (engine.h) when set: calibrated per model with `tandem kb eval --not-found`.
  std::optional<double> min_similarity;
  // Called after each tensor is written: done in [0, total]. Optional.
  std::function<void(int done, int total)> progress;
};

Status convert_bert_to_gguf(const std::string& hf_dir, const std::string& out_path, const ConvertOptions& options = {});

}  // namespace tandem::engine
