// Energy meters: how many joules the CPU or the GPUs have used since the meter started, and how
// that figure was obtained. A measured counter (RAPL, NVML) and a model-based estimate are not
// equally trustworthy, so every sample says which it is (`method`) and what it covers (`scope`),
// and reports show both next to the number.
//
//   std::string why;
//   std::unique_ptr<EnergyMeter> cpu = best_cpu_meter(/*tdp_watts=*/65, &why);   // meters.h
//   ... run the workload ...
//   auto sample = cpu->read();
//   if (!sample) return sample.error();
//   report(sample->joules, energy_method_name(sample->method), sample->scope);  // 812.5 "rapl" "cpu package 0"
//
// Implementations: RaplMeter (rapl_meter.h), NvmlMeter (nvml_meter.h), CpuEstimateMeter
// (cpu_estimate_meter.h).
// Thread-safety: read() may be called from any number of threads; method() and scope() are
// constant after construction.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "core/status.h"

namespace tandem::energy {

enum class EnergyMethod {
  kRapl,      // the CPU's own energy counters, through /sys/class/powercap
  kNvml,      // NVIDIA's driver: the GPU's energy counter, or its power readings integrated over time
  kEstimate,  // a model (TDP x utilisation), not a measurement
};

// "rapl", "nvml", "estimate": the names used in reports and metrics.
std::string_view energy_method_name(EnergyMethod method);

struct EnergySample {
  double joules = 0;  // cumulative since the meter started
  EnergyMethod method = EnergyMethod::kEstimate;
  std::string scope{};  // what the joules cover: "cpu package 0+1", "gpu 0", "cpu: TDP 65 W x ..."
};

// Cumulative joules since the meter was created: monotonic and never wrapping, whatever the
// hardware counters underneath do.
class EnergyMeter {
 public:
  virtual ~EnergyMeter() = default;

  // The energy used since the meter was created. kUnavailable when the source can no longer be
  // read (a zone or a GPU went away); the next successful read still counts from the start.
  virtual Result<EnergySample> read() = 0;
  virtual EnergyMethod method() const = 0;
  virtual std::string scope() const = 0;
};

// Meters that integrate over time take the clock as a parameter so that tests can move a fake one.
using SteadyNow = std::function<std::chrono::steady_clock::time_point()>;

}  // namespace tandem::energy
