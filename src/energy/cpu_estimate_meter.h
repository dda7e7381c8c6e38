// A labelled estimate of CPU energy where nothing can be measured (no RAPL, or no permission to
// read it): the CPU's TDP times its utilisation, integrated over time, as CodeCarbon does. The
// figure is a model, not a measurement: it carries EnergyMethod::kEstimate and a scope that says so.
//
//   CpuEstimateMeter meter(/*tdp_watts=*/65);
//   ... run the workload ...
//   auto sample = meter.read();  // {joules, kEstimate, "cpu: TDP 65 W x utilisation from /proc/stat (estimate)"}
//
// Between two reads: joules += TDP x utilisation x elapsed seconds, where utilisation is the share
// of the aggregate `cpu` line's time that was busy (total - idle - iowait). It covers every process
// on the machine, not only this one, and assumes power is proportional to load with nothing drawn
// at idle, whereas real CPUs draw a fair share of TDP when idle and can exceed it in bursts.
// Utilisation is measured over the whole interval between reads, so reading more often does not
// change the total much.
//
// Thread-safety: read() takes a mutex; one meter may be shared.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>

#include "energy/meter.h"

namespace tandem::energy {

class CpuEstimateMeter final : public EnergyMeter {
 public:
  // `tdp_watts` must be positive (the setting is validated at start-up). The starting point is
  // taken here; if `proc_stat_path` cannot be read yet, the first successful read() becomes it.
  explicit CpuEstimateMeter(double tdp_watts, std::string proc_stat_path = "/proc/stat",
                            SteadyNow now = std::chrono::steady_clock::now);

  // kUnavailable when the file cannot be read, kDataLoss when it has no well-formed `cpu` line.
  Result<EnergySample> read() override;
  EnergyMethod method() const override { return EnergyMethod::kEstimate; }
  std::string scope() const override { return scope_; }

 private:
  // Jiffies summed over all CPUs since boot.
  struct CpuTimes {
    uint64_t busy = 0;
    uint64_t total = 0;
  };

  Result<CpuTimes> read_cpu_times() const;

  const double tdp_watts_;
  const std::string proc_stat_path_;
  const SteadyNow now_;
  const std::string scope_;

  std::mutex mutex_;  // guards everything below
  // Empty until the file was read once.
  std::optional<CpuTimes> last_times_;
  std::chrono::steady_clock::time_point last_read_at_;
  double joules_ = 0;
};

}  // namespace tandem::energy
