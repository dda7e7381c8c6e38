#include "energy/meter.h"

namespace tandem::energy {

std::string_view energy_method_name(EnergyMethod method) {
  switch (method) {
    case EnergyMethod::kRapl:
      return "rapl";
    case EnergyMethod::kNvml:
      return "nvml";
    case EnergyMethod::kEstimate:
      return "estimate";
  }
  return "estimate";
}

}  // namespace tandem::energy
