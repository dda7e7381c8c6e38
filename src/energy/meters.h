// Picks the best CPU energy meter this machine allows: RAPL counters when they can be read, else
// the TDP x utilisation estimate, and says why, so that reports can show how a figure was obtained.
//
//   std::string why;
//   auto cpu = best_cpu_meter(settings.cpu_tdp_watts, &why);
//   TANDEM_LOG(kInfo, "energy", "cpu energy: {}", why);
//   // "RAPL not readable: permission denied on /sys/class/powercap/intel-rapl:0/energy_uj (root
//   //  only since Linux 5.10): ...; estimating instead: cpu: TDP 65 W x utilisation ..."
//
// Thread-safety: the function is; see meter.h for the meters it returns.
#pragma once

#include <memory>
#include <string>

#include "energy/meter.h"

namespace tandem::energy {

// Never null. `tdp_watts` (positive) is used only by the estimate; `why` (may be null) receives a
// sentence on the choice. The paths are the system's by default and fake trees in tests.
std::unique_ptr<EnergyMeter> best_cpu_meter(double tdp_watts, std::string* why,
                                            const std::string& powercap_root = "/sys/class/powercap",
                                            const std::string& proc_stat_path = "/proc/stat");

}  // namespace tandem::energy
