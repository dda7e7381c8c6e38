// CPU energy from RAPL (Running Average Power Limit) counters, read through the Linux powercap
// interface: each zone /sys/class/powercap/<type>:<N> has `name`, `energy_uj` (a microjoule counter
// that wraps at `max_energy_range_uj`) and subzones <type>:<N>:<M> for parts of it. Intel's driver
// names the type `intel-rapl` (also on AMD Zen), newer kernels may add `intel-rapl-mmio` (the same
// package domain through another interface) and other names; zones are therefore recognised by
// their `name` file, not their directory name.
//
//   auto meter = RaplMeter::open();           // or a fake tree in tests: RaplMeter::open(dir)
//   if (!meter) return meter.error();          // kNotFound (no RAPL), kUnavailable (not readable)
//   auto sample = (*meter)->read();            // {joules since open, kRapl, "cpu package 0+1"}
//
// What is summed: only top-level zones, because subzones (core, uncore, dram) are parts of their
// package and adding them would count that energy twice. If a `psys` (platform) zone exists it
// covers the whole SoC, packages included, so it is used alone; otherwise every `package-*` zone is
// summed. A domain exposed twice under the same name (intel-rapl:0 and intel-rapl-mmio:0 are both
// "package-0") is counted once, from the first interface in directory-name order after
// preferring non-mmio ones. Other top-level domains are ignored.
//
// Wraparound: a counter that went down since the last read wrapped once at max_energy_range_uj.
// At typical ranges (about 262 kJ) that takes over half an hour at 100 W per zone; read at least
// that often, since two wraps between reads cannot be told from one.
//
// Since Linux 5.10 energy_uj is readable by root only (a power side channel, CVE-2020-8694), so on
// most machines an unprivileged process gets kUnavailable with a message saying how to allow it.
//
// Thread-safety: read() takes a mutex; one RaplMeter may be shared.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "energy/meter.h"

namespace tandem::energy {

class RaplMeter final : public EnergyMeter {
 public:
  // Finds the zones to sum under `powercap_root` and takes their counters as the starting point.
  // kNotFound "no RAPL zones under ..." when there are none; kUnavailable when a counter cannot be
  // read (permission: see above); kDataLoss when a counter file holds something other than a number.
  static Result<std::unique_ptr<EnergyMeter>> open(const std::string& powercap_root = "/sys/class/powercap");

  // kUnavailable when a zone has disappeared or become unreadable since open().
  Result<EnergySample> read() override;
  EnergyMethod method() const override { return EnergyMethod::kRapl; }
  std::string scope() const override { return scope_; }

 private:
  struct Zone {
    std::string directory;  // e.g. /sys/class/powercap/intel-rapl:0
    std::string name;       // its `name` file: "package-0", "psys"
    uint64_t max_energy_range_uj = 0;
    uint64_t last_energy_uj = 0;  // the counter at the previous read
  };

  RaplMeter(std::vector<Zone> zones, std::string scope);

  const std::string scope_;

  std::mutex mutex_;  // guards everything below
  std::vector<Zone> zones_;
  uint64_t total_uj_ = 0;  // 2^64 uJ is 18 TJ: it does not overflow
};

}  // namespace tandem::energy
