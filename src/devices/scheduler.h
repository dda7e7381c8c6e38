// Runtime scheduling across replicas: when a model is loaded on several devices, each request
// goes to the replica expected to finish it soonest (queued tokens / measured tokens per second,
// plus its own), or to the one expected to spend the fewest joules on it when the caller asks.
//
//   Scheduler scheduler({{.device = "CUDA0", .prompt_tokens_per_second = 9000,
//                         .generation_tokens_per_second = 300, .watts = 350},
//                        {.device = "CPU", .prompt_tokens_per_second = 400,
//                         .generation_tokens_per_second = 40, .watts = 65}});
//   auto ticket = scheduler.acquire({.prompt_tokens = 120, .max_tokens = 256}, Objective::kFastest);
//   if (!ticket) return ticket.error();
//   run_on(ticket->replica);  ...  scheduler.release(*ticket);  // when the request is done
//
// The figures start as configured guesses and follow what the replicas really do: observe() feeds
// each finished request's measured rates back (devices/replicated_chat.h does it for the chat model).
// Thread-safety: Scheduler's methods may be called from any thread (one mutex); choose_replica
// is pure.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "core/status.h"

namespace tandem::devices {

enum class Objective { kFastest, kLeastEnergy };

struct Replica {
  std::string device;
  double prompt_tokens_per_second = 0;      // measured; > 0
  double generation_tokens_per_second = 0;  // measured; > 0
  double watts = 0;                         // power while it works; 0: unknown
  int64_t queued_prompt_tokens = 0;         // accepted and not yet processed
  int64_t queued_generation_tokens = 0;
};

struct Work {
  int64_t prompt_tokens = 0;
  int64_t max_tokens = 0;  // generation is counted at its bound: the cost of the worst case
};

struct Choice {
  size_t replica = 0;
  double expected_seconds = 0;  // until this request is done, the queue ahead of it included
  double expected_joules = 0;   // this request's own work x watts; 0 when the power is unknown
  std::string reason;
};

// kInvalidArgument for no replicas, a replica without positive throughput, or negative work.
// Least energy needs watts: replicas without are passed over, and with none known the fastest
// is chosen and the reason says so.
Result<Choice> choose_replica(const std::vector<Replica>& replicas, const Work& work, Objective objective);

struct Ticket {
  size_t replica = 0;
  Work work;
  Choice choice;
};

class Scheduler {
 public:
  explicit Scheduler(std::vector<Replica> replicas) : replicas_(std::move(replicas)) {}

  // Chooses a replica and counts the work into its queue until release().
  Result<Ticket> acquire(const Work& work, Objective objective);
  void release(const Ticket& ticket);
  // A finished request's measured rates (tokens per second; <= 0: not measured) move the replica's
  // figures a fifth of the way towards them, so one odd request does not swing every choice.
  void observe(size_t replica, double prompt_tokens_per_second, double generation_tokens_per_second);
  std::vector<Replica> replicas() const;  // a snapshot, queues included

 private:
  mutable std::mutex mutex_;
  std::vector<Replica> replicas_;
};

}  // namespace tandem::devices
