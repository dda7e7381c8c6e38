#include "energy/meters.h"

#include "energy/cpu_estimate_meter.h"
#include "energy/rapl_meter.h"

namespace tandem::energy {

std::unique_ptr<EnergyMeter> best_cpu_meter(double tdp_watts, std::string* why, const std::string& powercap_root,
                                            const std::string& proc_stat_path) {
  auto rapl = RaplMeter::open(powercap_root);
  if (rapl) {
    if (why != nullptr) *why = "RAPL readable: measuring " + (*rapl)->scope();
    return std::move(*rapl);
  }
  auto estimate = std::make_unique<CpuEstimateMeter>(tdp_watts, proc_stat_path);
  if (why != nullptr)
    *why = "RAPL not readable: " + rapl.error().message + "; estimating instead: " + estimate->scope();
  return estimate;
}

}  // namespace tandem::energy
