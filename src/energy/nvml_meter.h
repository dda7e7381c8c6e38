// GPU energy from NVIDIA's management library (NVML), loaded at run time with dlopen so that
// Tandem builds and runs on machines without the NVIDIA driver; there it reports kNotFound.
//
//   auto gpus = NvmlMeter::open();          // every GPU NVML sees
//   if (!gpus) return gpus.error();         // kNotFound: no driver or no GPU; kUnavailable: NVML failed
//   auto sample = (*gpus)->read();          // {joules since open, kNvml, "gpu 0+1"}
//
// Per GPU, the energy counter (nvmlDeviceGetTotalEnergyConsumption, millijoules since the driver
// loaded; Volta and newer) is used when the GPU supports it. Older GPUs only report instantaneous
// power (nvmlDeviceGetPowerUsage, milliwatts): their energy is integrated between reads with the
// trapezoid rule, which is only as good as the read rate (about once a second or more often during
// a workload), and the scope says so: "gpu 0+1", "gpu 0, gpu 1 (power x time)". A GPU that reports
// neither (or that NVML cannot open) is left out of the sum and of the scope.
//
// Thread-safety: read() takes a mutex; one NvmlMeter may be shared. Several meters may coexist
// (NVML counts its initialisations).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "energy/meter.h"

namespace tandem::energy {

class NvmlMeter final : public EnergyMeter {
 public:
  // Loads `library`, initialises NVML and takes every usable GPU's reading as the starting point.
  // kNotFound when the library cannot be loaded or there is no usable GPU; kUnavailable with the
  // NVML error code when NVML fails (driver not loaded, version mismatch) or lacks a function.
  // `now` is injectable for the power x time integration in tests.
  static Result<std::unique_ptr<EnergyMeter>> open(const std::string& library = "libnvidia-ml.so.1",
                                                   SteadyNow now = std::chrono::steady_clock::now);
  ~NvmlMeter() override;  // shuts NVML down and unloads the library

  NvmlMeter(const NvmlMeter&) = delete;
  NvmlMeter& operator=(const NvmlMeter&) = delete;

  // kUnavailable when a GPU stops answering (fallen off the bus, driver reset).
  Result<EnergySample> read() override;
  EnergyMethod method() const override { return EnergyMethod::kNvml; }
  std::string scope() const override { return scope_; }

 private:
  struct Library;  // the loaded library and the functions used (nvml_meter.cpp)
  struct Gpu;      // a device handle and its previous reading

  NvmlMeter(std::unique_ptr<Library> library, std::vector<Gpu> gpus, std::string scope, SteadyNow now);

  const std::unique_ptr<Library> library_;
  const std::string scope_;
  const SteadyNow now_;

  std::mutex mutex_;  // guards everything below
  std::vector<Gpu> gpus_;
  std::chrono::steady_clock::time_point last_read_at_;
  double joules_ = 0;
};

}  // namespace tandem::energy
