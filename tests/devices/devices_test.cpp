#include "devices/devices.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

namespace tandem::devices {
namespace {

bool contains(const std::vector<std::string>& list, std::string_view item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

std::string read_text(const char* path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(DeviceKindName, NamesEveryKind) {
  EXPECT_EQ(device_kind_name(DeviceKind::kCpu), "cpu");
  EXPECT_EQ(device_kind_name(DeviceKind::kGpu), "gpu");
  EXPECT_EQ(device_kind_name(DeviceKind::kIntegratedGpu), "igpu");
  EXPECT_EQ(device_kind_name(DeviceKind::kAccelerator), "accel");
}

TEST(DiscoverDevices, ListsTheCpuFirstWithMemoryAndFeatures) {
  const auto devices = discover_devices();
  ASSERT_FALSE(devices.empty());
  const Device& cpu = devices.front();
  EXPECT_EQ(cpu.kind, DeviceKind::kCpu);
  EXPECT_EQ(cpu.backend, "CPU");
  EXPECT_FALSE(cpu.name.empty());
  EXPECT_GT(cpu.memory_total, 0u);
  EXPECT_GT(cpu.memory_free, 0u);
  EXPECT_LE(cpu.memory_free, cpu.memory_total);
  EXPECT_FALSE(cpu.features.empty());
  for (size_t i = 1; i < devices.size(); ++i) EXPECT_NE(devices[i].kind, DeviceKind::kCpu) << devices[i].name;
}

// ggml is built with -march=native (cmake/llama.cmake): it has what this CPU has, and reports no
// more than the CPU has.
TEST(DiscoverDevices, CpuFeaturesMatchProcCpuinfo) {
  const auto flags = cpuinfo_flags(read_text("/proc/cpuinfo"));
  if (flags.empty()) GTEST_SKIP() << "no x86 flags line in /proc/cpuinfo";
  const auto features = discover_devices().front().features;
  EXPECT_EQ(contains(features, "SSE4.2"), contains(flags, "sse4_2"));
  EXPECT_EQ(contains(features, "AVX2"), contains(flags, "avx2"));
}

TEST(MemAvailableBytes, ReadsKibibytesAsBytes) {
  const std::string meminfo =
      "MemTotal:       16318256 kB\n"
      "MemFree:         1203440 kB\n"
      "MemAvailable:    9876543 kB\n"
      "Buffers:          123456 kB\n";
  EXPECT_EQ(mem_available_bytes(meminfo), uint64_t{9876543} * 1024);
}

TEST(MemAvailableBytes, MissingLineIsNullopt) {
  EXPECT_EQ(mem_available_bytes("MemTotal:       16318256 kB\nMemFree:         1203440 kB\n"), std::nullopt);
  EXPECT_EQ(mem_available_bytes(""), std::nullopt);
}

TEST(MemAvailableBytes, MalformedNumberIsNullopt) {
  EXPECT_EQ(mem_available_bytes("MemAvailable:    12x45 kB\n"), std::nullopt);
  EXPECT_EQ(mem_available_bytes("MemAvailable:    -5 kB\n"), std::nullopt);
  EXPECT_EQ(mem_available_bytes("MemAvailable:\n"), std::nullopt);
  EXPECT_EQ(mem_available_bytes("MemAvailable:    99999999999999999999999 kB\n"), std::nullopt);
  EXPECT_EQ(mem_available_bytes("MemAvailable:    18014398509481984 kB\n"), std::nullopt);  // 2^54 KiB overflows
}

TEST(CpuinfoFlags, SplitsTheFirstFlagsLine) {
  const std::string cpuinfo =
      "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu sse4_2 avx2\n\n"
      "processor\t: 1\nflags\t\t: fpu sse4_2 avx2\n";
  EXPECT_EQ(cpuinfo_flags(cpuinfo), (std::vector<std::string>{"fpu", "sse4_2", "avx2"}));
}

TEST(CpuinfoFlags, ArmFeaturesLineGivesNoFlags) {
  EXPECT_TRUE(cpuinfo_flags("processor\t: 0\nFeatures\t: fp asimd evtstrm\n").empty());
}

}  // namespace
}  // namespace tandem::devices
