// ChatEngine over llama.cpp: one llama_context with `slots` sequences, driven by one inference
// thread that batches every active sequence into each llama_decode (continuous batching).
//
// Flow of a request: generate() (caller thread) renders the chat template, tokenizes, checks the
// context budget and enqueues a Task; the inference thread assigns it to the free slot whose KV
// cache shares the longest prefix with the prompt, feeds the rest of the prompt in chunks,
// samples, and pushes UTF-8-complete text into the Task; the caller thread drains that text into
// its callback. So a slow client only slows itself.
#include <llama.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "core/log.h"
#include "engine/engine.h"
#include "engine/llama_init.h"
#include "engine/text_stream.h"

namespace tandem::engine {
namespace {

using Clock = std::chrono::steady_clock;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

struct SamplerDeleter {
  void operator()(llama_sampler* s) const { llama_sampler_free(s); }
};
using SamplerPtr = std::unique_ptr<llama_sampler, SamplerDeleter>;

// One request as shared between its caller thread and the inference thread.
struct Task {
  GenerationRequest request;
  std::vector<llama_token> prompt;
  int32_t truncated_messages = 0;
  llama_adapter_lora* adapter = nullptr;
  Clock::time_point enqueued = Clock::now();

  std::mutex mutex;
  std::condition_variable changed;
  std::string pending;  // text produced but not yet handed to the caller
  bool finished = false;
  GenerationResult result;
  std::optional<Error> failure;

  bool cancelled() const { return request.cancel && request.cancel->load(); }
};

struct Slot {
  llama_seq_id seq = 0;
  std::shared_ptr<Task> task;         // null: free
  std::vector<llama_token> kv_tokens;  // tokens whose KV entries this sequence holds
  std::pair<llama_adapter_lora*, float> kv_adapter{nullptr, 0.0f};  // the LoRA those entries were computed with
  size_t prompt_next = 0;              // next prompt index to feed
  llama_token last_token = -1;         // sampled but not yet decoded
  int32_t batch_index = -1;            // where this slot's logits are in the current batch
  int32_t generated_tokens = 0;
  SamplerPtr sampler;
  TextStream text;
  Clock::time_point started, first_token;

  bool in_prompt() const { return task && prompt_next < task->prompt.size(); }
};

// Null for plain greedy decoding, which needs no sampler.
SamplerPtr make_sampler(const SamplingParams& p, const llama_vocab* vocab) {
  auto params = llama_sampler_chain_default_params();
  params.no_perf = true;
  SamplerPtr chain(llama_sampler_chain_init(params));
  if (p.repeat_penalty != 1.0f || p.frequency_penalty != 0.0f || p.presence_penalty != 0.0f) {
    llama_sampler_chain_add(chain.get(), llama_sampler_init_penalties(llama_vocab_n_tokens(vocab), p.repeat_last_n,
                                                                      p.repeat_penalty, p.frequency_penalty,
                                                                      p.presence_penalty));
  }
  if (p.temperature <= 0.0f) {
    if (llama_sampler_chain_n(chain.get()) == 0) return nullptr;  // plain greedy: see argmax_token
    llama_sampler_chain_add(chain.get(), llama_sampler_init_greedy());
    return chain;
  }
  if (p.top_k > 0) llama_sampler_chain_add(chain.get(), llama_sampler_init_top_k(p.top_k));
  if (p.top_p < 1.0f) llama_sampler_chain_add(chain.get(), llama_sampler_init_top_p(p.top_p, 1));
  if (p.min_p > 0.0f) llama_sampler_chain_add(chain.get(), llama_sampler_init_min_p(p.min_p, 1));
  llama_sampler_chain_add(chain.get(), llama_sampler_init_temp(p.temperature));
  llama_sampler_chain_add(chain.get(), llama_sampler_init_dist(p.seed ? *p.seed : LLAMA_DEFAULT_SEED));
  return chain;
}

Status validate_sampling(const SamplingParams& p) {
  auto bad = [](const std::string& what) { return make_error(ErrorCode::kInvalidArgument, what); };
  if (!(p.temperature >= 0.0f && p.temperature <= 100.0f)) return bad("temperature must be between 0 and 100");
  if (!(p.top_p > 0.0f && p.top_p <= 1.0f)) return bad("top_p must be in (0, 1]");
  if (p.top_k < 0) return bad("top_k must be >= 0");
  if (!(p.min_p >= 0.0f && p.min_p <= 1.0f)) return bad("min_p must be in [0, 1]");
  if (!(p.repeat_penalty > 0.0f && p.repeat_penalty <= 10.0f)) return bad("repeat_penalty must be in (0, 10]");
  if (!(std::abs(p.frequency_penalty) <= 2.0f)) return bad("frequency_penalty must be in [-2, 2]");
  if (!(std::abs(p.presence_penalty) <= 2.0f)) return bad("presence_penalty must be in [-2, 2]");
  if (p.repeat_last_n < -1) return bad("repeat_last_n must be >= -1");
  if (p.max_tokens < 1) return bad("max_tokens must be >= 1");
  if (p.stop.size() > 16) return bad("at most 16 stop sequences");
  for (const auto& s : p.stop) {
    if (s.empty()) return bad("stop sequences must not be empty");
  }
  return {};
}

class LlamaChatEngine final : public ChatEngine {
 public:
  static Result<std::unique_ptr<ChatEngine>> create(const ChatEngineOptions& options) {
    if (options.slots < 1 || options.context < 64 * options.slots || options.batch < options.slots) {
      return make_error(ErrorCode::kInvalidArgument,
                        "engine needs >= 1 slot, >= 64 context cells per slot and a batch of at least one token per slot");
    }
    if (auto st = check_gguf_file(options.model_path); !st) return st.error();
    ensure_llama_backend();

    auto engine = std::unique_ptr<LlamaChatEngine>(new LlamaChatEngine(options));
    auto mparams = model_params(options.placement);
    if (!mparams) return mparams.error();
    engine->model_.reset(llama_model_load_from_file(options.model_path.c_str(), mparams->params));
    if (!engine->model_) {
      return make_error(ErrorCode::kDataLoss, "llama.cpp could not load the model " + options.model_path +
                                                  " (corrupt, truncated or unsupported GGUF)");
    }
    engine->vocab_ = llama_model_get_vocab(engine->model_.get());
    if (!llama_model_has_decoder(engine->model_.get()) || llama_model_has_encoder(engine->model_.get())) {
      return make_error(ErrorCode::kInvalidArgument, options.model_path + " is not a decoder-only chat model");
    }

    int threads = options.threads > 0 ? options.threads : static_cast<int>(std::thread::hardware_concurrency());
    auto cparams = llama_context_default_params();
    cparams.n_ctx = static_cast<uint32_t>(options.context);
    cparams.n_batch = static_cast<uint32_t>(options.batch);
    cparams.n_ubatch = static_cast<uint32_t>(options.batch);
    cparams.n_seq_max = static_cast<uint32_t>(options.slots);
    cparams.n_threads = threads;
    cparams.n_threads_batch = threads;
    cparams.kv_unified = false;  // each slot its own window: one long request cannot starve the others
    cparams.swa_full = true;     // sliding-window models keep full KV, so a slot can reuse a prompt prefix
    cparams.no_perf = true;
    engine->context_.reset(llama_init_from_model(engine->model_.get(), cparams));
    if (!engine->context_) return make_error(ErrorCode::kInternal, "llama.cpp could not create a context");
    engine->context_per_slot_ = static_cast<int32_t>(llama_n_ctx_seq(engine->context_.get()));

    if (auto st = engine->load_template(); !st) return st.error();
    if (auto st = engine->load_adapters(); !st) return st.error();

    engine->slots_.resize(options.slots);
    for (int i = 0; i < options.slots; ++i) engine->slots_[i].seq = i;
    engine->batch_ = llama_batch_init(options.batch, 0, 1);
    engine->worker_ = std::thread([e = engine.get()] { e->run(); });
    TANDEM_LOG(kInfo, "engine", "loaded {} ({}), {} slots x {} tokens, {} threads", options.model_path,
               engine->info().description, options.slots, engine->context_per_slot_, threads);
    return std::unique_ptr<ChatEngine>(std::move(engine));
  }

  ~LlamaChatEngine() override {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    work_.notify_all();
    if (worker_.joinable()) worker_.join();
    llama_batch_free(batch_);
  }

  Result<GenerationResult> generate(const GenerationRequest& request, const DeltaCallback& on_delta) override {
    auto task = std::make_shared<Task>();
    task->request = request;
    if (!task->request.cancel) task->request.cancel = std::make_shared<std::atomic<bool>>(false);
    if (auto st = prepare(*task); !st) return st.error();
    if (auto st = enqueue(task); !st) return st.error();

    std::unique_lock lock(task->mutex);
    bool deliver = static_cast<bool>(on_delta);  // false once the callback has said stop
    while (true) {
      task->changed.wait(lock, [&] { return task->finished || !task->pending.empty(); });
      if (task->pending.empty()) break;  // finished, and every delta was delivered
      std::string delta = std::exchange(task->pending, {});
      if (deliver) {
        lock.unlock();
        deliver = on_delta(delta);
        lock.lock();
        if (!deliver) task->request.cancel->store(true);
      }
    }
    if (task->failure) return *task->failure;
    if (task->result.finish_reason == FinishReason::kCancelled && !task->request.cancel->load()) {
      return make_error(ErrorCode::kUnavailable, "the engine is shutting down");
    }
    return task->result;
  }

  Result<std::string> render_prompt(const std::vector<ChatMessage>& messages) const override {
    std::vector<llama_chat_message> chat;
    size_t total = 0;
    for (const auto& m : messages) {
      chat.push_back({m.role.c_str(), m.content.c_str()});
      total += m.role.size() + m.content.size();
    }
    std::vector<char> buf(2 * total + 256);
    int32_t n = llama_chat_apply_template(template_.c_str(), chat.data(), chat.size(), true, buf.data(),
                                          static_cast<int32_t>(buf.size()));
    if (n > static_cast<int32_t>(buf.size())) {
      buf.resize(n);
      n = llama_chat_apply_template(template_.c_str(), chat.data(), chat.size(), true, buf.data(), n);
    }
    if (n < 0) return make_error(ErrorCode::kInternal, "the model's chat template could not be applied");
    return std::string(buf.data(), n);
  }

  Result<int32_t> count_tokens(std::string_view text) const override {
    auto tokens = tokenize(text);
    if (!tokens) return tokens.error();
    return static_cast<int32_t>(tokens->size());
  }

  ModelInfo info() const override {
    ModelInfo info = describe_model(model_.get(), options_.model_path, options_.model_name);
    info.context_per_slot = context_per_slot_;
    info.slots = options_.slots;
    for (const auto& [name, adapter] : adapters_) info.lora_adapters.push_back(name);
    return info;
  }

  int32_t active_requests() const override { return active_.load(); }

  void drain(std::chrono::milliseconds deadline) override {
    std::unique_lock lock(mutex_);
    draining_ = true;
    idle_.wait_for(lock, deadline, [&] { return active_.load() == 0; });
    cancel_all_ = true;
    work_.notify_all();
    idle_.wait(lock, [&] { return active_.load() == 0; });
  }

 private:
  explicit LlamaChatEngine(ChatEngineOptions options) : options_(std::move(options)) {}

  Status load_template() {
    if (!options_.chat_template.empty()) {
      template_ = options_.chat_template;
    } else if (const char* tmpl = llama_model_chat_template(model_.get(), nullptr)) {
      template_ = tmpl;
    } else {
      // Some GGUF exports leave the template out; llama.cpp's built-in one for the family fits.
      char arch[64] = {};
      llama_model_meta_val_str(model_.get(), "general.architecture", arch, sizeof(arch));
      if (std::string_view(arch).rfind("gemma", 0) != 0) {
        return make_error(ErrorCode::kInvalidArgument, options_.model_path +
                                                           " has no chat template: set engine.chat_template");
      }
      template_ = "gemma";
      TANDEM_LOG(kInfo, "engine", "{} has no chat template; using llama.cpp's built-in 'gemma'", options_.model_path);
    }
    // Fail at load time, not on the first request, when llama.cpp cannot apply this template.
    llama_chat_message probe{"user", "hi"};
    char buf[256];
    if (llama_chat_apply_template(template_.c_str(), &probe, 1, true, buf, sizeof(buf)) < 0) {
      return make_error(ErrorCode::kUnimplemented, "chat template of " + options_.model_path +
                                                       " is not one llama.cpp supports: set engine.chat_template");
    }
    return {};
  }

  Status load_adapters() {
    if (options_.lora_dir.empty()) return {};
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(options_.lora_dir, ec)) {
      if (entry.path().extension() != ".gguf") continue;
      if (auto st = check_gguf_file(entry.path().string()); !st) return st;
      llama_adapter_lora* adapter = llama_adapter_lora_init(model_.get(), entry.path().c_str());
      if (!adapter) {
        return make_error(ErrorCode::kDataLoss, "LoRA adapter " + entry.path().string() +
                                                    " does not fit this model or is corrupt");
      }
      adapters_[entry.path().stem().string()] = adapter;  // freed with the model
    }
    if (ec) return make_error(ErrorCode::kNotFound, "cannot read LoRA directory " + options_.lora_dir + ": " + ec.message());
    return {};
  }

  // The rendered prompt: its template markers become control tokens.
  Result<std::vector<llama_token>> tokenize(std::string_view text) const {
    return engine::tokenize(vocab_, text, /*add_special=*/true, /*parse_special=*/true);
  }

  // Caller thread: everything that can fail before the request takes a place in the queue.
  Status prepare(Task& task) {
    auto& req = task.request;
    if (req.messages.empty()) return make_error(ErrorCode::kInvalidArgument, "messages must not be empty");
    if (auto st = validate_sampling(req.sampling); !st) return st;
    if (!req.lora.empty()) {
      auto it = adapters_.find(req.lora);
      if (it == adapters_.end()) return make_error(ErrorCode::kNotFound, "unknown LoRA adapter '" + req.lora + "'");
      if (!(req.lora_scale >= -4.0f && req.lora_scale <= 4.0f)) {
        return make_error(ErrorCode::kInvalidArgument, "lora_scale must be in [-4, 4]");
      }
      task.adapter = it->second;
    }
    const int32_t budget = context_per_slot_ - req.sampling.max_tokens;
    std::vector<ChatMessage> messages = req.messages;
    while (true) {
      auto prompt = render_prompt(messages);
      if (!prompt) return prompt.error();
      auto tokens = tokenize(*prompt);
      if (!tokens) return tokens.error();
      const auto n = static_cast<int32_t>(tokens->size());
      if (n <= budget) {
        task.prompt = std::move(*tokens);
        return {};
      }
      // Truncation drops the oldest turn after any system message, never the last message.
      size_t first = (!messages.empty() && messages.front().role == "system") ? 1 : 0;
      if (req.overflow != OverflowPolicy::kTruncate || messages.size() <= first + 1) {
        return make_error(ErrorCode::kContextOverflow,
                          "the prompt has " + std::to_string(n) + " tokens and max_tokens is " +
                              std::to_string(req.sampling.max_tokens) + ", but the context window per request is " +
                              std::to_string(context_per_slot_) + " tokens");
      }
      messages.erase(messages.begin() + static_cast<std::ptrdiff_t>(first));
      ++task.truncated_messages;
    }
  }

  Status enqueue(const std::shared_ptr<Task>& task) {
    {
      std::lock_guard lock(mutex_);
      if (draining_ || stopping_) return make_error(ErrorCode::kUnavailable, "the engine is shutting down");
      if (active_.load() >= options_.slots + options_.queue) {
        return make_error(ErrorCode::kResourceExhausted, "all " + std::to_string(options_.slots) + " slots are busy and " +
                                                             std::to_string(options_.queue) + " requests are queued");
      }
      ++active_;
      queue_.push_back(task);
    }
    work_.notify_one();
    return {};
  }

  // ---- inference thread ----

  void run() {
    while (true) {
      {
        std::unique_lock lock(mutex_);
        work_.wait(lock, [&] { return stopping_ || !queue_.empty() || any_busy_slot(); });
        if (stopping_) break;
        assign_queued_tasks();
      }
      for (auto& task : cancelled_in_queue_) complete_task(*task, FinishReason::kCancelled, std::nullopt);
      cancelled_in_queue_.clear();
      step();
    }
    for (auto& slot : slots_) {
      if (slot.task) finish(slot, FinishReason::kCancelled);
    }
    std::deque<std::shared_ptr<Task>> left;
    {
      std::lock_guard lock(mutex_);
      left.swap(queue_);
    }
    for (auto& task : left) complete_task(*task, FinishReason::kCancelled, std::nullopt);
  }

  bool any_busy_slot() const {
    return std::any_of(slots_.begin(), slots_.end(), [](const Slot& s) { return s.task != nullptr; });
  }

  static size_t common_prefix(const std::vector<llama_token>& a, const std::vector<llama_token>& b) {
    size_t n = 0;
    while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
    return n;
  }

  // Holds mutex_. Each queued task goes to the free slot whose cache shares most of its prompt.
  void assign_queued_tasks() {
    while (!queue_.empty()) {
      if (queue_.front()->cancelled()) {
        auto task = std::move(queue_.front());
        queue_.pop_front();
        cancelled_in_queue_.push_back(std::move(task));
        continue;
      }
      Slot* best = nullptr;
      size_t best_prefix = 0;
      for (auto& slot : slots_) {
        if (slot.task) continue;
        // KV entries computed under another adapter are not a valid prefix.
        size_t prefix = slot.kv_adapter == adapter_key(*queue_.front())
                            ? common_prefix(slot.kv_tokens, queue_.front()->prompt)
                            : 0;
        if (!best || prefix > best_prefix) {
          best = &slot;
          best_prefix = prefix;
        }
      }
      if (!best) return;
      start(*best, queue_.front(), best_prefix);
      queue_.pop_front();
    }
  }

  void start(Slot& slot, std::shared_ptr<Task> task, size_t prefix) {
    llama_memory_t memory = llama_get_memory(context_.get());
    // At least the last prompt token is decoded again: its logits give the first sample.
    size_t keep = std::min(prefix, task->prompt.size() - 1);
    if (!llama_memory_seq_rm(memory, slot.seq, static_cast<llama_pos>(keep), -1)) {
      llama_memory_seq_rm(memory, slot.seq, -1, -1);
      keep = 0;
    }
    slot.kv_tokens.resize(keep);
    slot.kv_adapter = adapter_key(*task);
    slot.prompt_next = keep;
    slot.generated_tokens = 0;
    slot.last_token = -1;
    slot.sampler = make_sampler(task->request.sampling, vocab_);
    slot.text = TextStream(task->request.sampling.stop);
    slot.started = Clock::now();
    task->result.usage.prompt_tokens = static_cast<int32_t>(task->prompt.size());
    task->result.usage.cached_prompt_tokens = static_cast<int32_t>(keep);
    task->result.usage.truncated_messages = task->truncated_messages;
    task->result.timings.queue_ms = ms_between(task->enqueued, slot.started);
    slot.task = std::move(task);
  }

  static std::pair<llama_adapter_lora*, float> adapter_key(const Task& task) {
    return {task.adapter, task.adapter ? task.request.lora_scale : 0.0f};
  }

  // One decode per adapter group: all busy slots that share the same LoRA setting.
  void step() {
    for (auto& slot : slots_) {
      if (slot.task && (cancel_all_ || slot.task->cancelled())) finish(slot, FinishReason::kCancelled);
    }
    std::vector<std::pair<llama_adapter_lora*, float>> groups;
    for (const auto& slot : slots_) {
      if (!slot.task) continue;
      auto key = adapter_key(*slot.task);
      if (std::find(groups.begin(), groups.end(), key) == groups.end()) groups.push_back(key);
    }
    for (const auto& group : groups) decode_group(group.first, group.second);
  }

  void decode_group(llama_adapter_lora* adapter, float scale) {
    const std::pair group{adapter, scale};
    auto in_group = [&](const Slot& s) { return s.task && adapter_key(*s.task) == group; };
    batch_.n_tokens = 0;
    // Generating slots first (one token each) so prompts never starve ongoing streams.
    for (auto& slot : slots_) {
      slot.batch_index = -1;
      if (!in_group(slot) || slot.in_prompt()) continue;
      slot.batch_index = add_to_batch(slot, slot.last_token, true);
    }
    for (auto& slot : slots_) {
      if (!in_group(slot) || !slot.in_prompt()) continue;
      const auto& prompt = slot.task->prompt;
      while (slot.prompt_next < prompt.size() && batch_.n_tokens < options_.batch) {
        bool last = slot.prompt_next + 1 == prompt.size();
        int32_t index = add_to_batch(slot, prompt[slot.prompt_next], last);
        ++slot.prompt_next;
        if (last) slot.batch_index = index;
      }
    }
    if (batch_.n_tokens == 0) return;

    if (adapter) {
      llama_set_adapters_lora(context_.get(), &adapter, 1, &scale);
    } else {
      llama_set_adapters_lora(context_.get(), nullptr, 0, nullptr);
    }
    int32_t rc = llama_decode(context_.get(), batch_);
    if (rc != 0) {
      TANDEM_LOG(kError, "engine", "llama_decode failed with code {}", rc);
      for (auto& slot : slots_) {
        if (in_group(slot)) fail(slot, "llama_decode failed (code " + std::to_string(rc) + ")");
      }
      return;
    }
    for (auto& slot : slots_) {
      if (in_group(slot) && slot.batch_index >= 0) sample(slot);
    }
  }

  int32_t add_to_batch(Slot& slot, llama_token token, bool logits) {
    int32_t i = batch_.n_tokens++;
    batch_.token[i] = token;
    batch_.pos[i] = static_cast<llama_pos>(slot.kv_tokens.size());
    batch_.n_seq_id[i] = 1;
    batch_.seq_id[i][0] = slot.seq;
    batch_.logits[i] = logits;
    slot.kv_tokens.push_back(token);
    return i;
  }

  // Plain greedy without llama.cpp's sampler: it would copy all vocabulary logits into a candidate
  // array per token (~3% of generation time for a 262k vocabulary). Same result: the first maximum.
  llama_token argmax_token(int32_t batch_index) const {
    const float* logits = llama_get_logits_ith(context_.get(), batch_index);
    const int32_t n_vocab = llama_vocab_n_tokens(vocab_);
    return static_cast<llama_token>(std::max_element(logits, logits + n_vocab) - logits);
  }

  // log softmax(logits)[token], from the model's raw distribution.
  double token_logprob(int32_t batch_index, llama_token token) const {
    return token_log_probability(llama_get_logits_ith(context_.get(), batch_index), llama_vocab_n_tokens(vocab_), token);
  }

  void sample(Slot& slot) {
    llama_token token = slot.sampler ? llama_sampler_sample(slot.sampler.get(), context_.get(), slot.batch_index)
                                     : argmax_token(slot.batch_index);
    auto now = Clock::now();
    Task& task = *slot.task;
    if (slot.generated_tokens == 0) {
      slot.first_token = now;
      task.result.timings.prompt_ms = ms_between(slot.started, now);
      task.result.timings.time_to_first_token_ms = ms_between(task.enqueued, now);
    }
    if (llama_vocab_is_eog(vocab_, token)) return finish(slot, FinishReason::kStop);
    if (task.request.sampling.score_tokens) {
      if (!task.result.confidence) task.result.confidence.emplace();
      auto& c = *task.result.confidence;
      const double logprob = token_logprob(slot.batch_index, token);
      c.min_logprob = c.tokens == 0 ? logprob : std::min(c.min_logprob, logprob);
      c.mean_logprob += (logprob - c.mean_logprob) / ++c.tokens;
    }
    ++slot.generated_tokens;
    slot.last_token = token;

    char piece[256];
    int32_t n = llama_token_to_piece(vocab_, token, piece, sizeof(piece), 0, false);
    bool stopped = slot.text.append(std::string_view(piece, n > 0 ? n : 0));
    publish(task, slot.text.take_ready());
    if (stopped) return finish(slot, FinishReason::kStop);
    if (slot.generated_tokens >= task.request.sampling.max_tokens ||
        static_cast<int32_t>(slot.kv_tokens.size()) >= context_per_slot_) {
      return finish(slot, FinishReason::kLength);
    }
  }

  static void publish(Task& task, std::string text) {
    if (text.empty()) return;
    {
      std::lock_guard lock(task.mutex);
      task.pending += text;
      task.result.text += text;
    }
    task.changed.notify_all();
  }

  void finish(Slot& slot, FinishReason reason) {
    publish(*slot.task, slot.text.take_rest());
    slot.task->result.usage.completion_tokens = slot.generated_tokens;
    if (slot.generated_tokens > 0) slot.task->result.timings.generation_ms = ms_between(slot.first_token, Clock::now());
    complete_task(*slot.task, reason, std::nullopt);
    slot.task.reset();
    slot.sampler.reset();
  }

  void fail(Slot& slot, const std::string& message) {
    llama_memory_seq_rm(llama_get_memory(context_.get()), slot.seq, -1, -1);
    slot.kv_tokens.clear();
    complete_task(*slot.task, FinishReason::kCancelled, make_error(ErrorCode::kInternal, message));
    slot.task.reset();
    slot.sampler.reset();
  }

  // Never called with mutex_ held.
  void complete_task(Task& task, FinishReason reason, std::optional<Error> failure) {
    // Count the request as done before its caller can see it finished.
    {
      std::lock_guard lock(mutex_);
      --active_;
    }
    idle_.notify_all();
    {
      std::lock_guard lock(task.mutex);
      task.result.finish_reason = reason;
      task.failure = std::move(failure);
      task.finished = true;
    }
    task.changed.notify_all();
  }

  ChatEngineOptions options_;
  std::unique_ptr<llama_model, ModelDeleter> model_;
  std::unique_ptr<llama_context, ContextDeleter> context_;
  const llama_vocab* vocab_ = nullptr;
  std::string template_;
  std::map<std::string, llama_adapter_lora*> adapters_;
  int32_t context_per_slot_ = 0;

  std::vector<Slot> slots_;  // inference thread only
  std::vector<std::shared_ptr<Task>> cancelled_in_queue_;
  llama_batch batch_{};

  mutable std::mutex mutex_;  // guards queue_, draining_, stopping_
  std::condition_variable work_;
  std::condition_variable idle_;
  std::deque<std::shared_ptr<Task>> queue_;
  std::atomic<int32_t> active_{0};
  std::atomic<bool> cancel_all_{false};
  bool draining_ = false;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace

Result<std::unique_ptr<ChatEngine>> ChatEngine::load(const ChatEngineOptions& options) {
  return LlamaChatEngine::create(options);
}

}  // namespace tandem::engine
