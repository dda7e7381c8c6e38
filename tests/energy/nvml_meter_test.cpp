#include "energy/nvml_meter.h"

#include <dlfcn.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "energy/fake_clock.h"

namespace tandem::energy {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

constexpr int kNvmlErrorNotSupported = 3;
constexpr int kNvmlErrorDriverNotLoaded = 9;
constexpr int kNvmlErrorGpuIsLost = 15;

// tests/energy/fake_nvml.c built as a shared library: TANDEM_FAKE_NVML, else libfake_nvml.so next
// to this test binary.
std::string fake_nvml_path() {
  if (const char* path = std::getenv("TANDEM_FAKE_NVML"); path != nullptr && *path != '\0') return path;
  return (std::filesystem::read_symlink("/proc/self/exe").parent_path() / "libfake_nvml.so").string();
}

// Loads the fake library (the meter's dlopen of the same path then shares its state) and resets it
// to one GPU with an energy counter.
class NvmlMeterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    handle_ = ::dlopen(fake_nvml_path().c_str(), RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(handle_, nullptr) << "build tests/energy/fake_nvml.c and point TANDEM_FAKE_NVML at it: " << ::dlerror();
    reset_ = reinterpret_cast<void (*)(unsigned, int, int)>(::dlsym(handle_, "fake_nvml_reset"));
    set_ = reinterpret_cast<void (*)(unsigned long long, unsigned)>(::dlsym(handle_, "fake_nvml_set"));
    active_inits_ = reinterpret_cast<int (*)()>(::dlsym(handle_, "fake_nvml_active_inits"));
    ASSERT_TRUE(reset_ && set_ && active_inits_);
    reset_(1, 0, 0);
  }
  void TearDown() override {
    if (handle_ != nullptr) ::dlclose(handle_);
  }

  void* handle_ = nullptr;
  void (*reset_)(unsigned devices, int init_result, int energy_result) = nullptr;
  void (*set_)(unsigned long long energy_mj, unsigned power_mw) = nullptr;
  int (*active_inits_)() = nullptr;
};

TEST_F(NvmlMeterTest, SumsEnergyCounters) {
  reset_(2, 0, 0);
  set_(1'000, 0);
  {
    auto meter = NvmlMeter::open(fake_nvml_path());
    ASSERT_TRUE(meter.ok()) << meter.error().to_string();
    EXPECT_EQ((*meter)->method(), EnergyMethod::kNvml);
    EXPECT_EQ((*meter)->scope(), "gpu 0+1");
    EXPECT_EQ(active_inits_(), 1);

    set_(6'000, 0);  // +5 J on each GPU
    auto sample = (*meter)->read();
    ASSERT_TRUE(sample.ok()) << sample.error().to_string();
    EXPECT_DOUBLE_EQ(sample->joules, 10.0);
    EXPECT_EQ(sample->method, EnergyMethod::kNvml);
    EXPECT_EQ(sample->scope, "gpu 0+1");

    set_(6'500, 0);
    sample = (*meter)->read();
    ASSERT_TRUE(sample.ok()) << sample.error().to_string();
    EXPECT_DOUBLE_EQ(sample->joules, 11.0);
  }
  EXPECT_EQ(active_inits_(), 0) << "the meter shuts NVML down when destroyed";
}

TEST_F(NvmlMeterTest, IntegratesPowerWhenThereIsNoEnergyCounter) {
  reset_(1, 0, kNvmlErrorNotSupported);  // pre-Volta
  set_(0, 100'000);                      // 100 W
  FakeClock clock;
  auto meter = NvmlMeter::open(fake_nvml_path(), clock.now());
  ASSERT_TRUE(meter.ok()) << meter.error().to_string();
  EXPECT_EQ((*meter)->scope(), "gpu 0 (power x time)");

  clock.advance(2s);
  set_(0, 200'000);
  auto sample = (*meter)->read();
  ASSERT_TRUE(sample.ok()) << sample.error().to_string();
  EXPECT_DOUBLE_EQ(sample->joules, 300.0);  // (100 W + 200 W) / 2 x 2 s

  clock.advance(1s);
  sample = (*meter)->read();
  ASSERT_TRUE(sample.ok()) << sample.error().to_string();
  EXPECT_DOUBLE_EQ(sample->joules, 500.0);
}

TEST_F(NvmlMeterTest, MissingLibraryIsNotFound) {
  auto meter = NvmlMeter::open("/nonexistent/libnvidia-ml.so.1");
  ASSERT_FALSE(meter.ok());
  EXPECT_EQ(meter.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(meter.error().message, HasSubstr("cannot load NVML"));
}

TEST_F(NvmlMeterTest, InitFailureIsUnavailableWithTheNvmlCode) {
  reset_(1, kNvmlErrorDriverNotLoaded, 0);
  auto meter = NvmlMeter::open(fake_nvml_path());
  ASSERT_FALSE(meter.ok());
  EXPECT_EQ(meter.error().code, ErrorCode::kUnavailable);
  EXPECT_EQ(meter.error().message, "nvmlInit_v2 failed: NVML error 9 (Driver Not Loaded)");
  EXPECT_EQ(active_inits_(), 0);
}

TEST_F(NvmlMeterTest, NoGpuIsNotFoundAndShutsNvmlDown) {
  reset_(0, 0, 0);
  auto meter = NvmlMeter::open(fake_nvml_path());
  ASSERT_FALSE(meter.ok());
  EXPECT_EQ(meter.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(meter.error().message, "NVML sees no GPU");
  EXPECT_EQ(active_inits_(), 0);
}

TEST_F(NvmlMeterTest, LostGpuIsUnavailable) {
  auto meter = NvmlMeter::open(fake_nvml_path());
  ASSERT_TRUE(meter.ok()) << meter.error().to_string();
  reset_(1, 0, kNvmlErrorGpuIsLost);
  auto sample = (*meter)->read();
  ASSERT_FALSE(sample.ok());
  EXPECT_EQ(sample.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(sample.error().message, HasSubstr("nvmlDeviceGetTotalEnergyConsumption on gpu 0 failed: NVML error 15"));
}

}  // namespace
}  // namespace tandem::energy
