// LikelihoodScorer over llama.cpp: one causal context, one sequence. Each call decodes the prefix
// and the continuation in one batch, asks for logits only at the positions that predict the
// continuation's tokens, and sums their log-softmax. Separate decodes per call are as fast as
// several sequences in one batch here (measured: packing four passages into one decode was
// slower on the CPU, 70 against 250 tokens/s), and keep the code simple.
#include <llama.h>

#include <algorithm>
#include <mutex>
#include <thread>

#include "core/log.h"
#include "engine/engine.h"
#include "engine/llama_init.h"

namespace tandem::engine {
namespace {

class LlamaLikelihoodScorer final : public LikelihoodScorer {
 public:
  static Result<std::unique_ptr<LikelihoodScorer>> create(const LikelihoodScorerOptions& options) {
    if (options.context < 2) return make_error(ErrorCode::kInvalidArgument, "scorer context must be >= 2 tokens");
    if (auto st = check_gguf_file(options.model_path); !st) return st.error();
    ensure_llama_backend();
    auto scorer = std::unique_ptr<LlamaLikelihoodScorer>(new LlamaLikelihoodScorer());
    scorer->model_.reset(llama_model_load_from_file(options.model_path.c_str(), llama_model_default_params()));
    if (!scorer->model_) {
      return make_error(ErrorCode::kDataLoss, "llama.cpp could not load the scoring model " + options.model_path +
                                                  " (corrupt, truncated or unsupported GGUF)");
    }
    llama_model* model = scorer->model_.get();
    scorer->vocab_ = llama_model_get_vocab(model);
    const int threads = options.threads > 0 ? options.threads : static_cast<int>(std::thread::hardware_concurrency());
    auto cparams = llama_context_default_params();
    cparams.n_ctx = static_cast<uint32_t>(options.context);
    cparams.n_batch = cparams.n_ctx;
    cparams.n_seq_max = 1;
    cparams.n_threads = threads;
    cparams.n_threads_batch = threads;
    cparams.no_perf = true;
    scorer->context_.reset(llama_init_from_model(model, cparams));
    if (!scorer->context_) return make_error(ErrorCode::kInternal, "llama.cpp could not create a scoring context");
    if (!llama_get_causal_attn(scorer->context_.get()) || !llama_get_memory(scorer->context_.get()))
      return make_error(ErrorCode::kInvalidArgument, options.model_path + " is not a causal language model");
    scorer->capacity_ = static_cast<int32_t>(llama_n_ctx(scorer->context_.get()));
    scorer->batch_ = llama_batch_init(scorer->capacity_, 0, 1);
    TANDEM_LOG(kInfo, "engine", "loaded likelihood scorer {}, {} tokens", options.model_path, scorer->capacity_);
    return std::unique_ptr<LikelihoodScorer>(std::move(scorer));
  }

  ~LlamaLikelihoodScorer() override { llama_batch_free(batch_); }

  Result<double> score(std::string_view prefix, std::string_view continuation) override {
    if (continuation.empty()) return make_error(ErrorCode::kInvalidArgument, "nothing to score: empty continuation");
    auto prefix_tokens = tokenize(vocab_, prefix, /*add_special=*/true, /*parse_special=*/false);
    auto continuation_tokens = tokenize(vocab_, continuation, /*add_special=*/false, /*parse_special=*/false);
    if (!prefix_tokens) return prefix_tokens.error();
    if (!continuation_tokens) return continuation_tokens.error();
    const auto& head = *prefix_tokens;
    const auto& tail = *continuation_tokens;
    const size_t total = head.size() + tail.size();
    if (head.empty() || tail.empty() || total > static_cast<size_t>(capacity_)) {
      return make_error(ErrorCode::kContextOverflow, "prefix and continuation take " + std::to_string(total) +
                                                         " tokens; the scorer holds " + std::to_string(capacity_));
    }
    std::lock_guard lock(mutex_);
    // Row head.size() - 1 + i predicts continuation token i.
    const size_t first_scored = head.size() - 1;
    batch_.n_tokens = 0;
    for (size_t i = 0; i < total; ++i) {
      const int32_t at = batch_.n_tokens++;
      batch_.token[at] = i < head.size() ? head[i] : tail[i - head.size()];
      batch_.pos[at] = static_cast<llama_pos>(i);
      batch_.n_seq_id[at] = 1;
      batch_.seq_id[at][0] = 0;
      batch_.logits[at] = i >= first_scored && i < first_scored + tail.size();
    }
    llama_context* ctx = context_.get();
    llama_memory_clear(llama_get_memory(ctx), true);
    if (llama_decode(ctx, batch_) != 0)
      return make_error(ErrorCode::kInternal, "llama.cpp could not decode the text to score");
    const int32_t vocabulary = llama_vocab_n_tokens(vocab_);
    double sum = 0;
    for (size_t i = 0; i < tail.size(); ++i)
      sum += token_log_probability(llama_get_logits_ith(ctx, static_cast<int32_t>(first_scored + i)), vocabulary, tail[i]);
    return sum;
  }

 private:
  LlamaLikelihoodScorer() = default;

  std::unique_ptr<llama_model, ModelDeleter> model_;
  std::unique_ptr<llama_context, ContextDeleter> context_;
  const llama_vocab* vocab_ = nullptr;
  int32_t capacity_ = 0;
  llama_batch batch_{};
  std::mutex mutex_;
};

}  // namespace

Result<std::unique_ptr<LikelihoodScorer>> LikelihoodScorer::load(const LikelihoodScorerOptions& options) {
  return LlamaLikelihoodScorer::create(options);
}

}  // namespace tandem::engine
