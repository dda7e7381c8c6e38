/* A stand-in for libnvidia-ml.so.1 for nvml_meter_test: exports the NVML functions NvmlMeter looks
 * up, answering from state that the test sets through fake_nvml_reset/fake_nvml_set (fetched with
 * dlsym from the same handle the meter loads). Every fake GPU reports the same readings.
 * Build: gcc -shared -fPIC fake_nvml.c -o libfake_nvml.so */
#include <stdint.h>

typedef int nvmlReturn_t;
typedef struct nvmlDevice_st* nvmlDevice_t;

enum { kSuccess = 0, kInvalidArgument = 2, kNotSupported = 3 };

static unsigned device_count = 1;
static nvmlReturn_t init_result = kSuccess;
static nvmlReturn_t energy_result = kSuccess;
static unsigned long long energy_mj = 0;
static unsigned power_mw = 0;
static int active_inits = 0;

void fake_nvml_reset(unsigned devices, nvmlReturn_t init, nvmlReturn_t energy) {
  device_count = devices;
  init_result = init;
  energy_result = energy;
  energy_mj = 0;
  power_mw = 0;
}

void fake_nvml_set(unsigned long long new_energy_mj, unsigned new_power_mw) {
  energy_mj = new_energy_mj;
  power_mw = new_power_mw;
}

/* nvmlInit_v2 calls not yet matched by nvmlShutdown. */
int fake_nvml_active_inits(void) {
  return active_inits;
}

nvmlReturn_t nvmlInit_v2(void) {
  if (init_result == kSuccess) ++active_inits;
  return init_result;
}

nvmlReturn_t nvmlShutdown(void) {
  --active_inits;
  return kSuccess;
}

const char* nvmlErrorString(nvmlReturn_t result) {
  switch (result) {
    case kSuccess:
      return "Success";
    case kNotSupported:
      return "Not Supported";
    case 9:
      return "Driver Not Loaded";
    default:
      return "Unknown Error";
  }
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned* count) {
  *count = device_count;
  return kSuccess;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned index, nvmlDevice_t* device) {
  if (index >= device_count) return kInvalidArgument;
  *device = (nvmlDevice_t)(uintptr_t)(index + 1);
  return kSuccess;
}

nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t device, unsigned long long* millijoules) {
  (void)device;
  if (energy_result == kSuccess) *millijoules = energy_mj;
  return energy_result;
}

nvmlReturn_t nvmlDeviceGetPowerUsage(nvmlDevice_t device, unsigned* milliwatts) {
  (void)device;
  *milliwatts = power_mw;
  return kSuccess;
}
