// Attributes measured energy to requests: whatever the meter counted between two events (a request
// starting or ending) is split equally among the requests running in that interval, which is the
// device time share when the engine serves them together. A request alone gets all of it.
//
//   energy::EnergyTracker tracker(energy::best_cpu_meter(config.energy_cpu_tdp_w, &why));
//   auto ticket = tracker.begin();
//   generate(..., on_first_token = [&] { tracker.first_token(ticket); });
//   energy::Attribution used = tracker.end(ticket);   // joules, method ("rapl"/"estimate"), scope
//   used.prompt_joules;                                 // what the meter counted up to the first token
//
// The meter counts the whole CPU package (or the TDP x utilisation estimate of the whole CPU),
// idle power and other processes included, as CodeCarbon does; the method and scope travel with
// every figure so a reader knows what it is. A meter that fails to read leaves that interval out
// (the figure is then a lower bound, and `complete` says so).
// Thread-safety: begin() and end() may be called from any number of threads.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "energy/meter.h"

namespace tandem::energy {

struct Attribution {
  double joules = 0;
  EnergyMethod method = EnergyMethod::kEstimate;
  std::string scope{};
  bool complete = true;  // false: a meter read failed during the request
  // Prompt processing vs generation: read at the first token when the caller marked it
  // (first_token()), else split by the engine's prompt and generation times (split_by_time()).
  double prompt_joules = 0;
  bool prompt_measured = false;
  double watt_hours() const { return joules / 3600.0; }
  double generation_joules() const { return joules - prompt_joules; }
  // For a request whose first token was not marked: the prompt's share of the joules by time,
  // which assumes the same power in both phases (prefill draws more, so this is a lower bound).
  void split_by_time(double prompt_ms, double generation_ms);
};

class EnergyTracker {
 public:
  explicit EnergyTracker(std::unique_ptr<EnergyMeter> meter);
  uint64_t begin();
  // The request's prompt is processed: reads the meter so the joules so far count as prompt
  // energy. Only the first call per ticket counts.
  void first_token(uint64_t ticket);
  Attribution end(uint64_t ticket);

 private:
  struct Share {
    double joules = 0;
    bool complete = true;
    double prompt_joules = -1;  // < 0: first token not marked yet
  };
  // Reads the meter and splits what it counted since the last read among the running requests.
  void split_since_last_read();

  std::mutex mutex_;
  const std::unique_ptr<EnergyMeter> meter_;
  double last_joules_ = 0;
  bool have_last_ = false;
  uint64_t next_ticket_ = 1;
  std::unordered_map<uint64_t, Share> running_;
};

}  // namespace tandem::energy
