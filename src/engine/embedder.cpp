// Embedder over llama.cpp: one llama_context in embeddings mode. Each embed() call tokenizes its
// inputs (no lock needed: llama.cpp's tokenizer is thread-safe), then packs as many whole inputs
// as fit the token budget into one llama_decode, one sequence id per input, and reads back the
// pooled vector of each sequence. Non-causal models (BERT) attend over the whole sequence at once,
// so an input never spans two decodes and the budget is the micro-batch size.
#include <fmt/format.h>
#include <llama.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>

#include "core/log.h"
#include "engine/engine.h"
#include "engine/llama_init.h"

namespace tandem::engine {
namespace {

// A string value of the model's GGUF metadata; empty when the key is absent.
std::string metadata_string(const llama_model* model, const char* key) {
  const int32_t n = llama_model_meta_val_str(model, key, nullptr, 0);
  if (n < 0) return {};
  std::string value(static_cast<size_t>(n) + 1, '\0');
  llama_model_meta_val_str(model, key, value.data(), value.size());
  value.resize(static_cast<size_t>(n));
  return value;
}

void normalize(std::vector<float>& v) {
  double sum = 0;
  for (float x : v) sum += static_cast<double>(x) * x;
  if (sum <= 0) return;
  const auto scale = static_cast<float>(1.0 / std::sqrt(sum));
  for (float& x : v) x *= scale;
}

class LlamaEmbedder final : public Embedder {
 public:
  static Result<std::unique_ptr<Embedder>> create(const EmbedderOptions& options) {
    if (options.batch < 0)
      return make_error(ErrorCode::kInvalidArgument, "embedding batch must be >= 1 token (0: automatic)");
    if (auto st = check_gguf_file(options.model_path); !st) return st.error();
    ensure_llama_backend();

    auto embedder = std::unique_ptr<LlamaEmbedder>(new LlamaEmbedder(options));
    auto mparams = model_params(options.placement);
    if (!mparams) return mparams.error();
    embedder->model_.reset(llama_model_load_from_file(options.model_path.c_str(), mparams->params));
    if (!embedder->model_) {
      return make_error(ErrorCode::kDataLoss, "llama.cpp could not load the embedding model " + options.model_path +
                                                  " (corrupt, truncated or unsupported GGUF)");
    }
    llama_model* model = embedder->model_.get();
    embedder->vocab_ = llama_model_get_vocab(model);
    embedder->training_context_ = llama_model_n_ctx_train(model);

    const int threads = options.threads > 0 ? options.threads : static_cast<int>(std::thread::hardware_concurrency());
    auto cparams = llama_context_default_params();
    cparams.embeddings = true;
    cparams.pooling_type = LLAMA_POOLING_TYPE_UNSPECIFIED;  // as the model declares
    cparams.n_ctx = static_cast<uint32_t>(embedder->training_context_);
    constexpr int32_t kLargestAutomaticBatch = 2048;
    const int32_t batch =
        options.batch > 0 ? options.batch : std::clamp(embedder->training_context_, 1, kLargestAutomaticBatch);
    cparams.n_batch = static_cast<uint32_t>(batch);
    cparams.n_ubatch = static_cast<uint32_t>(batch);
    // Every input of a decode is its own sequence (at least one token each, and llama.cpp reserves
    // an output row per sequence within the batch); one shared window keeps each sequence's
    // positions up to the full training context.
    cparams.n_seq_max = static_cast<uint32_t>(std::min<size_t>(llama_max_parallel_sequences(), batch));
    cparams.kv_unified = true;
    cparams.n_threads = threads;
    cparams.n_threads_batch = threads;
    cparams.no_perf = true;
    cparams.flash_attn_type = options.flash_attention ? LLAMA_FLASH_ATTN_TYPE_AUTO : LLAMA_FLASH_ATTN_TYPE_DISABLED;
    embedder->context_.reset(llama_init_from_model(model, cparams));
    if (!embedder->context_) return make_error(ErrorCode::kInternal, "llama.cpp could not create an embedding context");
    llama_context* ctx = embedder->context_.get();

    const auto pooling = llama_pooling_type(ctx);
    if (pooling == LLAMA_POOLING_TYPE_NONE || pooling == LLAMA_POOLING_TYPE_RANK) {
      return make_error(ErrorCode::kInvalidArgument,
                        options.model_path + " does not pool into sentence embeddings (not an embedding model)");
    }
    embedder->prefixes_ = {.query = metadata_string(model, kQueryPrefixKey),
                           .passage = metadata_string(model, kPassagePrefixKey)};
    if (const std::string value = metadata_string(model, kMinSimilarityKey); !value.empty()) {
      char* end = nullptr;
      const double cosine = std::strtod(value.c_str(), &end);
      if (*end != '\0' || !(cosine > 0 && cosine < 1)) {
        return make_error(ErrorCode::kInvalidArgument, fmt::format("{}: {} must be a cosine between 0 and 1, not '{}'",
                                                                   options.model_path, kMinSimilarityKey, value));
      }
      embedder->min_similarity_ = cosine;
    }
    embedder->dimensions_ = llama_model_n_embd_out(model);
    embedder->max_sequences_ = static_cast<int32_t>(llama_n_seq_max(ctx));
    // Models with a KV cache (causal embedders) also need room for the whole batch in it.
    uint32_t budget = std::min(llama_n_batch(ctx), llama_n_ubatch(ctx));
    if (llama_get_memory(ctx)) budget = std::min(budget, llama_n_ctx(ctx));
    embedder->token_budget_ = static_cast<int32_t>(budget);
    embedder->max_input_tokens_ = std::min(embedder->token_budget_, embedder->training_context_);
    embedder->batch_ = llama_batch_init(embedder->token_budget_, 0, 1);

    TANDEM_LOG(kInfo, "engine", "loaded embedder {} ({}), {} dimensions, {} tokens per input, {} per batch",
               options.model_path, embedder->info().description, embedder->dimensions_, embedder->max_input_tokens_,
               embedder->token_budget_);
    return std::unique_ptr<Embedder>(std::move(embedder));
  }

  ~LlamaEmbedder() override { llama_batch_free(batch_); }

  Result<EmbeddingResult> embed(const std::vector<std::string>& inputs) override {
    if (inputs.empty()) return make_error(ErrorCode::kInvalidArgument, "no inputs to embed");
    std::vector<std::vector<llama_token>> tokenized;
    tokenized.reserve(inputs.size());
    EmbeddingResult result;
    for (size_t i = 0; i < inputs.size(); ++i) {
      auto tokens = tokenize(inputs[i], i);
      if (!tokens) return tokens.error();
      result.prompt_tokens += static_cast<int32_t>(tokens->size());
      tokenized.push_back(std::move(*tokens));
    }

    std::lock_guard lock(mutex_);
    result.vectors.reserve(inputs.size());
    size_t first = 0;
    while (first < tokenized.size()) {
      size_t end = first;
      int32_t tokens_in_batch = 0;
      while (end < tokenized.size() && static_cast<int32_t>(end - first) < max_sequences_ &&
             tokens_in_batch + static_cast<int32_t>(tokenized[end].size()) <= token_budget_) {
        tokens_in_batch += static_cast<int32_t>(tokenized[end].size());
        ++end;
      }
      if (auto st = decode(tokenized, first, end, result.vectors); !st) return st.error();
      first = end;
    }
    return result;
  }

  int32_t dimensions() const override { return dimensions_; }
  int32_t max_input_tokens() const override { return max_input_tokens_; }
  EmbeddingPrefixes prefixes() const override { return prefixes_; }
  std::optional<double> calibrated_min_similarity() const override { return min_similarity_; }

  Result<int32_t> count_tokens(std::string_view text) const override {
    if (text.size() > static_cast<size_t>(INT32_MAX / 2)) return make_error(ErrorCode::kInvalidArgument, "text is too long");
    const auto length = static_cast<int32_t>(text.size());
    // With a zero-sized buffer llama_tokenize reports the count as a negative number.
    const int32_t n = llama_tokenize(vocab_, text.data(), length, nullptr, 0, /*add_special=*/true, /*parse_special=*/false);
    if (n == INT32_MIN) return make_error(ErrorCode::kInvalidArgument, "text cannot be tokenized");
    return n < 0 ? -n : n;
  }

  ModelInfo info() const override {
    ModelInfo info = describe_model(model_.get(), options_.model_path, options_.model_name);
    info.context_per_slot = max_input_tokens_;
    return info;
  }

 private:
  explicit LlamaEmbedder(EmbedderOptions options) : options_(std::move(options)) {}

  // With the model's own special tokens ([CLS] ... [SEP] for BERT); user text never turns into
  // control tokens.
  Result<std::vector<llama_token>> tokenize(const std::string& text, size_t index) const {
    if (text.empty()) return make_error(ErrorCode::kInvalidArgument, "input " + std::to_string(index) + " is empty");
    auto tokenized = engine::tokenize(vocab_, text, /*add_special=*/true, /*parse_special=*/false);
    if (!tokenized)
      return make_error(tokenized.error().code, "input " + std::to_string(index) + ": " + tokenized.error().message);
    std::vector<llama_token> tokens = std::move(*tokenized);
    const auto n = static_cast<int32_t>(tokens.size());
    const int32_t limit = options_.truncate_to > 0 ? std::min(options_.truncate_to, max_input_tokens_) : 0;
    if (limit > 0 && n > limit) {
      tokens[static_cast<size_t>(limit - 1)] = tokens.back();
      tokens.resize(static_cast<size_t>(limit));
      return tokens;
    }
    if (n > max_input_tokens_) {
      return make_error(ErrorCode::kInvalidArgument,
                        "input " + std::to_string(index) + " has " + std::to_string(n) +
                            " tokens; the embedding model accepts at most " + std::to_string(max_input_tokens_));
    }
    return tokens;
  }

  // Decodes inputs [first, end) together and appends their normalised vectors. Caller holds mutex_.
  Status decode(const std::vector<std::vector<llama_token>>& tokenized, size_t first, size_t end,
                std::vector<std::vector<float>>& out) {
    llama_context* ctx = context_.get();
    llama_memory_clear(llama_get_memory(ctx), true);  // sequences of the previous call must not attend here
    batch_.n_tokens = 0;
    for (size_t i = first; i < end; ++i) {
      const auto seq = static_cast<llama_seq_id>(i - first);
      for (size_t pos = 0; pos < tokenized[i].size(); ++pos) {
        const int32_t k = batch_.n_tokens++;
        batch_.token[k] = tokenized[i][pos];
        batch_.pos[k] = static_cast<llama_pos>(pos);
        batch_.n_seq_id[k] = 1;
        batch_.seq_id[k][0] = seq;
        batch_.logits[k] = true;  // pooling reads every token's output
      }
    }
    if (int32_t rc = llama_decode(ctx, batch_); rc != 0) {
      return make_error(ErrorCode::kInternal, "llama_decode failed with code " + std::to_string(rc) + " for " +
                                                  std::to_string(end - first) + " inputs");
    }
    for (size_t i = first; i < end; ++i) {
      const float* pooled = llama_get_embeddings_seq(ctx, static_cast<llama_seq_id>(i - first));
      if (!pooled) return make_error(ErrorCode::kInternal, "llama.cpp returned no pooled embedding");
      std::vector<float> vector(pooled, pooled + dimensions_);
      normalize(vector);
      out.push_back(std::move(vector));
    }
    return {};
  }

  EmbedderOptions options_;
  std::unique_ptr<llama_model, ModelDeleter> model_;
  std::unique_ptr<llama_context, ContextDeleter> context_;
  const llama_vocab* vocab_ = nullptr;
  llama_batch batch_{};
  EmbeddingPrefixes prefixes_;
  std::optional<double> min_similarity_;
  int32_t dimensions_ = 0;
  int32_t training_context_ = 0;
  int32_t token_budget_ = 0;      // tokens per llama_decode
  int32_t max_input_tokens_ = 0;  // longest single input
  int32_t max_sequences_ = 1;     // inputs per llama_decode

  std::mutex mutex_;  // one context: decodes run one at a time
};

}  // namespace

Result<std::unique_ptr<Embedder>> Embedder::load(const EmbedderOptions& options) {
  return LlamaEmbedder::create(options);
}

}  // namespace tandem::engine
