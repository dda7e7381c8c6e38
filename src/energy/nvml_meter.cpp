#include "energy/nvml_meter.h"

#include <dlfcn.h>

namespace tandem::energy {
namespace {

// The few NVML declarations used here, from NVIDIA's nvml.h (not installed on most machines): an
// opaque device handle and an int result code, 0 meaning success.
using nvmlReturn_t = int;
using nvmlDevice_t = struct nvmlDevice_st*;
constexpr nvmlReturn_t kNvmlSuccess = 0;

template <typename Function>
bool find_symbol(void* handle, const char* name, Function*& function) {
  function = reinterpret_cast<Function*>(::dlsym(handle, name));
  return function != nullptr;
}

}  // namespace

struct NvmlMeter::Library {
  void* handle = nullptr;
  bool initialised = false;  // nvmlInit_v2 succeeded: the destructor must shut NVML down
  nvmlReturn_t (*init)() = nullptr;
  nvmlReturn_t (*shutdown)() = nullptr;
  nvmlReturn_t (*device_count)(unsigned*) = nullptr;
  nvmlReturn_t (*device_by_index)(unsigned, nvmlDevice_t*) = nullptr;
  nvmlReturn_t (*total_energy_mj)(nvmlDevice_t, unsigned long long*) = nullptr;  // null in old drivers
  nvmlReturn_t (*power_mw)(nvmlDevice_t, unsigned*) = nullptr;
  const char* (*error_string)(nvmlReturn_t) = nullptr;  // optional, only for messages

  ~Library() {
    if (initialised) shutdown();
    ::dlclose(handle);
  }

  // "nvmlInit_v2 failed: NVML error 9 (Driver Not Loaded)"
  std::string failure(const std::string& call, nvmlReturn_t code) const {
    std::string message = call + " failed: NVML error " + std::to_string(code);
    if (error_string != nullptr) message += std::string(" (") + error_string(code) + ")";
    return message;
  }

  static Result<std::unique_ptr<Library>> load(const std::string& path) {
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) return make_error(ErrorCode::kNotFound, std::string("cannot load NVML: ") + ::dlerror());
    auto library = std::make_unique<Library>();
    library->handle = handle;
    const char* missing = nullptr;
    auto require = [&](auto& function, const char* name) {
      if (!find_symbol(handle, name, function) && missing == nullptr) missing = name;
    };
    require(library->init, "nvmlInit_v2");
    require(library->shutdown, "nvmlShutdown");
    require(library->device_count, "nvmlDeviceGetCount_v2");
    require(library->device_by_index, "nvmlDeviceGetHandleByIndex_v2");
    require(library->power_mw, "nvmlDeviceGetPowerUsage");
    if (missing != nullptr)
      return make_error(ErrorCode::kUnavailable, path + " has no " + missing + " (driver too old?)");
    find_symbol(handle, "nvmlDeviceGetTotalEnergyConsumption", library->total_energy_mj);
    find_symbol(handle, "nvmlErrorString", library->error_string);
    return library;
  }
};

struct NvmlMeter::Gpu {
  unsigned index = 0;
  nvmlDevice_t device = nullptr;
  bool has_energy_counter = false;
  unsigned long long last_energy_mj = 0;  // with an energy counter
  double last_power_w = 0;                // without one
};

NvmlMeter::NvmlMeter(std::unique_ptr<Library> library, std::vector<Gpu> gpus, std::string scope, SteadyNow now)
    : library_(std::move(library)), scope_(std::move(scope)), now_(std::move(now)), gpus_(std::move(gpus)) {
  last_read_at_ = now_();
}

NvmlMeter::~NvmlMeter() = default;

Result<std::unique_ptr<EnergyMeter>> NvmlMeter::open(const std::string& library_path, SteadyNow now) {
  auto loaded = Library::load(library_path);
  if (!loaded) return loaded.error();
  std::unique_ptr<Library> library = std::move(*loaded);
  if (const nvmlReturn_t code = library->init(); code != kNvmlSuccess) {
    return make_error(ErrorCode::kUnavailable, library->failure("nvmlInit_v2", code));
  }
  library->initialised = true;
  unsigned count = 0;
  if (const nvmlReturn_t code = library->device_count(&count); code != kNvmlSuccess) {
    return make_error(ErrorCode::kUnavailable, library->failure("nvmlDeviceGetCount_v2", code));
  }

  std::vector<Gpu> gpus;
  std::string counted, integrated;  // "0+1": GPUs with an energy counter, GPUs integrated from power
  for (unsigned index = 0; index < count; ++index) {
    Gpu gpu{index};
    unsigned power_mw = 0;
    if (library->device_by_index(index, &gpu.device) != kNvmlSuccess) continue;
    if (library->total_energy_mj != nullptr &&
        library->total_energy_mj(gpu.device, &gpu.last_energy_mj) == kNvmlSuccess) {
      gpu.has_energy_counter = true;
      counted += (counted.empty() ? "" : "+") + std::to_string(index);
    } else if (library->power_mw(gpu.device, &power_mw) == kNvmlSuccess) {
      gpu.last_power_w = power_mw / 1000.0;
      integrated += (integrated.empty() ? "" : "+") + std::to_string(index);
    } else {
      continue;
    }
    gpus.push_back(gpu);
  }
  if (gpus.empty()) {
    return make_error(ErrorCode::kNotFound,
                      count == 0 ? "NVML sees no GPU" : "no GPU reports energy or power through NVML");
  }
  std::string scope = counted.empty() ? "" : "gpu " + counted;
  if (!integrated.empty()) scope += (scope.empty() ? "gpu " : ", gpu ") + integrated + " (power x time)";
  return std::unique_ptr<EnergyMeter>(
      new NvmlMeter(std::move(library), std::move(gpus), std::move(scope), std::move(now)));
}

Result<EnergySample> NvmlMeter::read() {
  std::lock_guard lock(mutex_);
  // Every GPU is read before any reading is used, so that a failed read leaves the state unchanged.
  struct Reading {
    unsigned long long energy_mj = 0;
    double power_w = 0;
  };
  std::vector<Reading> readings(gpus_.size());
  for (size_t i = 0; i < gpus_.size(); ++i) {
    const Gpu& gpu = gpus_[i];
    unsigned power_mw = 0;
    const nvmlReturn_t code = gpu.has_energy_counter ? library_->total_energy_mj(gpu.device, &readings[i].energy_mj)
                                                     : library_->power_mw(gpu.device, &power_mw);
    if (code != kNvmlSuccess) {
      const char* call = gpu.has_energy_counter ? "nvmlDeviceGetTotalEnergyConsumption" : "nvmlDeviceGetPowerUsage";
      return make_error(ErrorCode::kUnavailable,
                        library_->failure(std::string(call) + " on gpu " + std::to_string(gpu.index), code));
    }
    readings[i].power_w = power_mw / 1000.0;
  }
  const auto read_at = now_();
  const double seconds = std::chrono::duration<double>(read_at - last_read_at_).count();
  for (size_t i = 0; i < gpus_.size(); ++i) {
    Gpu& gpu = gpus_[i];
    if (gpu.has_energy_counter) {
      // A counter below the last reading restarted from 0 (the driver was reloaded).
      const unsigned long long counter = readings[i].energy_mj;
      joules_ += (counter >= gpu.last_energy_mj ? counter - gpu.last_energy_mj : counter) / 1000.0;
      gpu.last_energy_mj = counter;
    } else {
      joules_ += (gpu.last_power_w + readings[i].power_w) / 2 * seconds;  // trapezoid
      gpu.last_power_w = readings[i].power_w;
    }
  }
  last_read_at_ = read_at;
  return EnergySample{joules_, EnergyMethod::kNvml, scope_};
}

}  // namespace tandem::energy
