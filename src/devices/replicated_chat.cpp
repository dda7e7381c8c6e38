#include "devices/replicated_chat.h"

#include <algorithm>
#include <thread>

namespace tandem::devices {
namespace {

// Rates from fewer tokens than this say more about fixed costs than about the device.
constexpr int32_t kMinPromptTokensMeasured = 8;
constexpr int32_t kMinGeneratedTokensMeasured = 4;

double rate(int64_t tokens, double milliseconds, int64_t at_least) {
  return tokens >= at_least && milliseconds > 0 ? static_cast<double>(tokens) * 1000.0 / milliseconds : 0;
}

class ReplicatedChat final : public engine::ChatEngine {
 public:
  ReplicatedChat(std::vector<std::unique_ptr<engine::ChatEngine>> engines, std::vector<Replica> figures,
                 Objective objective)
      : engines_(std::move(engines)), scheduler_(figures), objective_(objective) {
    for (const auto& f : figures) devices_.push_back(f.device);
  }

  Result<engine::GenerationResult> generate(const engine::GenerationRequest& request,
                                            const engine::DeltaCallback& on_delta) override {
    // The approximate count is enough to compare queues, and costs no tokenizer pass.
    const Work work{.prompt_tokens = engine::approximate_tokens(request.messages),
                    .max_tokens = std::max<int64_t>(0, request.sampling.max_tokens)};
    auto ticket = scheduler_.acquire(work, objective_);
    if (!ticket) return ticket.error();
    auto result = engines_[ticket->replica]->generate(request, on_delta);
    scheduler_.release(*ticket);
    if (!result) return result;
    const auto& usage = result->usage;
    scheduler_.observe(
        ticket->replica,
        rate(usage.prompt_tokens - usage.cached_prompt_tokens, result->timings.prompt_ms, kMinPromptTokensMeasured),
        // generation_ms runs from the first token to the last
        rate(usage.completion_tokens - 1, result->timings.generation_ms, kMinGeneratedTokensMeasured));
    result->device = devices_[ticket->replica];
    result->device_reason = std::move(ticket->choice.reason);
    return result;
  }

  Result<std::string> render_prompt(const std::vector<engine::ChatMessage>& messages) const override {
    return engines_.front()->render_prompt(messages);
  }
  Result<int32_t> count_tokens(std::string_view text) const override { return engines_.front()->count_tokens(text); }

  engine::ModelInfo info() const override {
    engine::ModelInfo info = engines_.front()->info();
    info.slots = 0;
    for (const auto& e : engines_) info.slots += e->info().slots;
    return info;
  }

  int32_t active_requests() const override {
    int32_t active = 0;
    for (const auto& e : engines_) active += e->active_requests();
    return active;
  }

  // All replicas at once, so the deadline is the same for every one.
  void drain(std::chrono::milliseconds deadline) override {
    std::vector<std::thread> draining;
    for (const auto& e : engines_) draining.emplace_back([&e, deadline] { e->drain(deadline); });
    for (auto& t : draining) t.join();
  }

 private:
  const std::vector<std::unique_ptr<engine::ChatEngine>> engines_;
  std::vector<std::string> devices_;  // per replica, as in the scheduler's figures
  Scheduler scheduler_;
  const Objective objective_;
};

}  // namespace

Result<std::unique_ptr<engine::ChatEngine>> make_replicated_chat(std::vector<ReplicaEngine> replicas,
                                                                 Objective objective) {
  if (replicas.empty()) return make_error(ErrorCode::kInvalidArgument, "no chat replicas to schedule on");
  std::vector<std::unique_ptr<engine::ChatEngine>> engines;
  std::vector<Replica> figures;
  for (auto& r : replicas) {
    if (!r.engine)
      return make_error(ErrorCode::kInvalidArgument, "the replica on " + r.figures.device + " has no engine");
    if (!engines.empty() && r.engine->info().path != engines.front()->info().path) {
      return make_error(
          ErrorCode::kInvalidArgument,
          "replicas must load the same model: " + engines.front()->info().path + " and " + r.engine->info().path);
    }
    engines.push_back(std::move(r.engine));
    figures.push_back(std::move(r.figures));
  }
  // The same checks the Scheduler makes for every request, once up front with no work.
  if (auto checked = choose_replica(figures, Work{}, objective); !checked) return checked.error();
  return std::unique_ptr<engine::ChatEngine>(
      std::make_unique<ReplicatedChat>(std::move(engines), std::move(figures), objective));
}

}  // namespace tandem::devices
