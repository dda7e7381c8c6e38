#include "energy/cpu_estimate_meter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "support/test_support.h"
#include "energy/fake_clock.h"

namespace tandem::energy {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

// A /proc/stat whose aggregate line is `cpu_fields` (user nice system idle iowait irq softirq steal
// guest guest_nice), followed by lines that must be ignored.
void write_proc_stat(const std::string& path, const std::string& cpu_fields) {
  std::ofstream(path) << "cpu  " << cpu_fields << "\n"
                      << "cpu0 1 2 3 4 5 6 7 8 9 10\n"
                      << "intr 12345 0 0\nctxt 999\nbtime 1700000000\n";
}

TEST(CpuEstimateMeter, TdpTimesUtilisationTimesElapsed) {
  testing::TempDir dir;
  const std::string stat = dir.file("stat");
  write_proc_stat(stat, "100 0 100 700 100 0 0 0 0 0");  // total 1000, busy 200
  FakeClock clock;
  CpuEstimateMeter meter(10, stat, clock.now());
  EXPECT_EQ(meter.method(), EnergyMethod::kEstimate);
  EXPECT_EQ(meter.scope(), "cpu: TDP 10 W x utilisation from " + stat + " (estimate)");

  // +400 jiffies, 200 of them busy (idle and iowait +100 each). The guest time is already inside
  // user's, so counting it again would make this 40%.
  clock.advance(2s);
  write_proc_stat(stat, "250 0 150 800 200 0 0 0 100 0");
  auto sample = meter.read();
  ASSERT_TRUE(sample.ok()) << sample.error().to_string();
  EXPECT_DOUBLE_EQ(sample->joules, 10.0);  // 10 W x 50% x 2 s
  EXPECT_EQ(sample->method, EnergyMethod::kEstimate);
  EXPECT_EQ(sample->scope, meter.scope());

  clock.advance(1s);  // no jiffies passed: nothing added
  sample = meter.read();
  ASSERT_TRUE(sample.ok()) << sample.error().to_string();
  EXPECT_DOUBLE_EQ(sample->joules, 10.0);

  clock.advance(3s);
  write_proc_stat(stat, "450 0 150 800 200 0 0 0 100 0");  // fully busy
  sample = meter.read();
  ASSERT_TRUE(sample.ok()) << sample.error().to_string();
  EXPECT_DOUBLE_EQ(sample->joules, 40.0);
}

TEST(CpuEstimateMeter, ReadsOldKernelsFourFieldLine) {
  testing::TempDir dir;
  const std::string stat = dir.file("stat");
  write_proc_stat(stat, "0 0 0 0");
  FakeClock clock;
  CpuEstimateMeter meter(20, stat, clock.now());
  clock.advance(1s);
  write_proc_stat(stat, "25 0 0 75");
  auto sample = meter.read();
  ASSERT_TRUE(sample.ok()) << sample.error().to_string();
  EXPECT_DOUBLE_EQ(sample->joules, 5.0);
}

TEST(CpuEstimateMeter, MalformedFileIsDataLoss) {
  testing::TempDir dir;
  const std::string stat = dir.file("stat");
  write_proc_stat(stat, "1 2 x 4 5");
  CpuEstimateMeter meter(10, stat);
  auto sample = meter.read();
  ASSERT_FALSE(sample.ok());
  EXPECT_EQ(sample.error().code, ErrorCode::kDataLoss);
  EXPECT_THAT(sample.error().message, HasSubstr(stat));

  std::ofstream(stat) << "intr 1 2 3\n";  // no aggregate line at all
  sample = meter.read();
  ASSERT_FALSE(sample.ok());
  EXPECT_EQ(sample.error().code, ErrorCode::kDataLoss);
}

TEST(CpuEstimateMeter, UnreadableFileIsUnavailableAndTheFirstGoodReadStarts) {
  testing::TempDir dir;
  const std::string stat = dir.file("stat");
  FakeClock clock;
  CpuEstimateMeter meter(10, stat, clock.now());  // no file yet
  auto sample = meter.read();
  ASSERT_FALSE(sample.ok());
  EXPECT_EQ(sample.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(sample.error().message, HasSubstr("cannot read " + stat));

  write_proc_stat(stat, "0 0 0 0 0 0 0 0 0 0");
  sample = meter.read();
  ASSERT_TRUE(sample.ok()) << sample.error().to_string();
  EXPECT_DOUBLE_EQ(sample->joules, 0.0);

  clock.advance(4s);
  write_proc_stat(stat, "100 0 0 100 0 0 0 0 0 0");
  sample = meter.read();
  ASSERT_TRUE(sample.ok()) << sample.error().to_string();
  EXPECT_DOUBLE_EQ(sample->joules, 20.0);  // 10 W x 50% x 4 s
}

}  // namespace
}  // namespace tandem::energy
