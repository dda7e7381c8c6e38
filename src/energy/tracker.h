// Attributes measured energy to requests: whatever the meter counted between two events (a request
// starting or ending) is split equally among the requests running in that interval, which is the
// device time share when the engine serves them together. A request alone gets all of it.
//
//   energy::EnergyTracker tracker(energy::best_cpu_meter(config.energy_cpu_tdp_w, &why));
//   auto ticket = tracker.begin();
//   generate(...);
//   energy::Attribution used = tracker.end(ticket);   // joules, method ("rapl"/"estimate"), scope
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
  double watt_hours() const { return joules / 3600.0; }
};

class EnergyTracker {
 public:
  explicit EnergyTracker(std::unique_ptr<EnergyMeter> meter);
  uint64_t begin();
  Attribution end(uint64_t ticket);

 private:
  struct Share {
    double joules = 0;
    bool complete = true;
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
