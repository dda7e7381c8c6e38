#include "devices/scheduler.h"

#include <fmt/format.h>

#include <algorithm>

namespace tandem::devices {
namespace {

double own_seconds(const Replica& r, const Work& w) {
  return static_cast<double>(w.prompt_tokens) / r.prompt_tokens_per_second +
         static_cast<double>(w.max_tokens) / r.generation_tokens_per_second;
}

double queue_seconds(const Replica& r) {
  return static_cast<double>(r.queued_prompt_tokens) / r.prompt_tokens_per_second +
         static_cast<double>(r.queued_generation_tokens) / r.generation_tokens_per_second;
}

}  // namespace

Result<Choice> choose_replica(const std::vector<Replica>& replicas, const Work& work, Objective objective) {
  if (replicas.empty()) return make_error(ErrorCode::kInvalidArgument, "no replica to schedule on");
  if (work.prompt_tokens < 0 || work.max_tokens < 0) {
    return make_error(ErrorCode::kInvalidArgument, "work must not be negative");
  }
  std::vector<Choice> choices;
  for (size_t i = 0; i < replicas.size(); ++i) {
    const Replica& r = replicas[i];
    if (!(r.prompt_tokens_per_second > 0) || !(r.generation_tokens_per_second > 0)) {
      return make_error(ErrorCode::kInvalidArgument, "replica on " + r.device + " has no measured throughput");
    }
    const double own = own_seconds(r, work);
    choices.push_back({i, queue_seconds(r) + own, r.watts > 0 ? own * r.watts : 0, ""});
  }
  const bool by_energy = objective == Objective::kLeastEnergy &&
                         std::any_of(replicas.begin(), replicas.end(), [](const auto& r) { return r.watts > 0; });
  auto better = [&](const Choice& a, const Choice& b) {
    if (by_energy) {
      const bool a_known = replicas[a.replica].watts > 0, b_known = replicas[b.replica].watts > 0;
      if (a_known != b_known) return a_known;
      if (a.expected_joules != b.expected_joules) return a.expected_joules < b.expected_joules;
    }
    return a.expected_seconds < b.expected_seconds;
  };
  Choice best = *std::min_element(choices.begin(), choices.end(), better);
  const Replica& r = replicas[best.replica];
  if (by_energy) {
    best.reason = fmt::format("{} is expected to use the least energy: {:.1f} J ({:.0f} W, done in {:.2f} s)", r.device,
                              best.expected_joules, r.watts, best.expected_seconds);
  } else {
    best.reason = fmt::format("{} is expected to finish first: in {:.2f} s ({:.2f} s of queue ahead){}", r.device,
                              best.expected_seconds, queue_seconds(r),
                              objective == Objective::kLeastEnergy ? "; no replica has a power figure" : "");
  }
  return best;
}

Result<Ticket> Scheduler::acquire(const Work& work, Objective objective) {
  std::lock_guard lock(mutex_);
  auto choice = choose_replica(replicas_, work, objective);
  if (!choice) return choice.error();
  Replica& r = replicas_[choice->replica];
  r.queued_prompt_tokens += work.prompt_tokens;
  r.queued_generation_tokens += work.max_tokens;
  return Ticket{choice->replica, work, std::move(*choice)};
}

void Scheduler::release(const Ticket& ticket) {
  std::lock_guard lock(mutex_);
  Replica& r = replicas_.at(ticket.replica);
  r.queued_prompt_tokens = std::max<int64_t>(0, r.queued_prompt_tokens - ticket.work.prompt_tokens);
  r.queued_generation_tokens = std::max<int64_t>(0, r.queued_generation_tokens - ticket.work.max_tokens);
}

void Scheduler::observe(size_t replica, double prompt_tokens_per_second, double generation_tokens_per_second) {
  constexpr double kWeight = 0.2;
  auto blend = [](double& figure, double measured) {
    if (measured > 0) figure += kWeight * (measured - figure);
  };
  std::lock_guard lock(mutex_);
  Replica& r = replicas_.at(replica);
  blend(r.prompt_tokens_per_second, prompt_tokens_per_second);
  blend(r.generation_tokens_per_second, generation_tokens_per_second);
}

std::vector<Replica> Scheduler::replicas() const {
  std::lock_guard lock(mutex_);
  return replicas_;
}

}  // namespace tandem::devices
