#include "energy/rapl_meter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>

#include "energy/meters.h"
#include "support/test_support.h"

namespace tandem::energy {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

constexpr uint64_t kTypicalRangeUj = 262'143'328'850;

// A powercap tree laid out as /sys/class/powercap lists it: the control-type folder and every zone
// and subzone as top-level entries (in sysfs those are symlinks to nested folders).
class FakePowercap {
 public:
  FakePowercap() { fs::create_directories(dir_.path() / "intel-rapl"); }

  void add_zone(const std::string& entry, const std::string& name, uint64_t energy_uj,
                uint64_t max_range_uj = kTypicalRangeUj) {
    fs::create_directories(dir_.path() / entry);
    write(entry, "name", name);
    write(entry, "max_energy_range_uj", std::to_string(max_range_uj));
    set_energy(entry, energy_uj);
  }
  void set_energy(const std::string& entry, uint64_t energy_uj) {
    write(entry, "energy_uj", std::to_string(energy_uj));
  }
  void write(const std::string& entry, const std::string& file, const std::string& text) {
    std::ofstream(dir_.path() / entry / file) << text << "\n";
  }
  fs::path path(const std::string& entry, const std::string& file = "") const { return dir_.path() / entry / file; }
  std::string root() const { return dir_.path().string(); }

 private:
  testing::TempDir dir_;
};

// Two sockets, each package with core and dram subzones.
void add_two_packages(FakePowercap& tree) {
  tree.add_zone("intel-rapl:0", "package-0", 1'000'000);
  tree.add_zone("intel-rapl:0:0", "core", 500'000);
  tree.add_zone("intel-rapl:0:1", "dram", 300'000);
  tree.add_zone("intel-rapl:1", "package-1", 2'000'000);
  tree.add_zone("intel-rapl:1:0", "core", 700'000);
}

TEST(RaplMeter, SumsTopLevelPackagesOnly) {
  FakePowercap tree;
  add_two_packages(tree);
  auto meter = RaplMeter::open(tree.root());
  ASSERT_TRUE(meter.ok()) << meter.error().to_string();
  EXPECT_EQ((*meter)->method(), EnergyMethod::kRapl);
  EXPECT_EQ((*meter)->scope(), "cpu package 0+1");

  tree.set_energy("intel-rapl:0", 4'000'000);    // +3 J
  tree.set_energy("intel-rapl:0:0", 9'000'000);  // inside package 0: not added again
  tree.set_energy("intel-rapl:0:1", 9'000'000);
  tree.set_energy("intel-rapl:1", 3'000'000);  // +1 J
  auto sample = (*meter)->read();
  ASSERT_TRUE(sample.ok()) << sample.error().to_string();
  EXPECT_DOUBLE_EQ(sample->joules, 4.0);
  EXPECT_EQ(sample->method, EnergyMethod::kRapl);
  EXPECT_EQ(sample->scope, "cpu package 0+1");

  tree.set_energy("intel-rapl:1", 3'500'000);
  sample = (*meter)->read();
  ASSERT_TRUE(sample.ok()) << sample.error().to_string();
  EXPECT_DOUBLE_EQ(sample->joules, 4.5);  // cumulative
}

TEST(RaplMeter, PrefersPsysAloneWhenPresent) {
  FakePowercap tree;
  add_two_packages(tree);
  tree.add_zone("intel-rapl:2", "psys", 10'000'000);
  auto meter = RaplMeter::open(tree.root());
  ASSERT_TRUE(meter.ok()) << meter.error().to_string();
  EXPECT_EQ((*meter)->scope(), "platform psys (whole SoC)");

  tree.set_energy("intel-rapl:0", 8'000'000);  // inside psys already
  tree.set_energy("intel-rapl:2", 12'000'000);
  auto sample = (*meter)->read();
  ASSERT_TRUE(sample.ok()) << sample.error().to_string();
  EXPECT_DOUBLE_EQ(sample->joules, 2.0);
}

TEST(RaplMeter, CountsADomainSeenThroughTwoInterfacesOnce) {
  FakePowercap tree;
  tree.add_zone("intel-rapl:0", "package-0", 1'000'000);
  tree.add_zone("intel-rapl-mmio:0", "package-0", 1'000'000);
  auto meter = RaplMeter::open(tree.root());
  ASSERT_TRUE(meter.ok()) << meter.error().to_string();
  EXPECT_EQ((*meter)->scope(), "cpu package 0");

  tree.set_energy("intel-rapl:0", 2'000'000);
  tree.set_energy("intel-rapl-mmio:0", 2'000'000);
  auto sample = (*meter)->read();
  ASSERT_TRUE(sample.ok()) << sample.error().to_string();
  EXPECT_DOUBLE_EQ(sample->joules, 1.0);
}

TEST(RaplMeter, RecognisesZonesByTheirNameFile) {
  FakePowercap tree;
  tree.add_zone("amd-rapl:0", "package-0", 0);
  tree.add_zone("dtpm:0", "package-0", 0);  // not a RAPL control type
  auto meter = RaplMeter::open(tree.root());
  ASSERT_TRUE(meter.ok()) << meter.error().to_string();
  EXPECT_EQ((*meter)->scope(), "cpu package 0");
}

TEST(RaplMeter, AddsTheRangeWhenACounterWraps) {
  FakePowercap tree;
  tree.add_zone("intel-rapl:0", "package-0", 999'000'000, /*max_range_uj=*/1'000'000'000);
  auto meter = RaplMeter::open(tree.root());
  ASSERT_TRUE(meter.ok()) << meter.error().to_string();

  tree.set_energy("intel-rapl:0", 500'000);  // wrapped: 1 J to the top, 1 uJ to 0, 0.5 J after
  auto sample = (*meter)->read();
  ASSERT_TRUE(sample.ok()) << sample.error().to_string();
  EXPECT_DOUBLE_EQ(sample->joules, 1.500001);

  tree.set_energy("intel-rapl:0", 1'500'000);
  sample = (*meter)->read();
  ASSERT_TRUE(sample.ok()) << sample.error().to_string();
  EXPECT_DOUBLE_EQ(sample->joules, 2.500001);
}

TEST(RaplMeter, NoZonesIsNotFound) {
  // The control-type folder and a subzone, which alone is no package.
  FakePowercap tree;
  tree.add_zone("intel-rapl:0:0", "core", 0);
  auto meter = RaplMeter::open(tree.root());
  ASSERT_FALSE(meter.ok());
  EXPECT_EQ(meter.error().code, ErrorCode::kNotFound);
  EXPECT_EQ(meter.error().message, "no RAPL zones under " + tree.root());

  meter = RaplMeter::open(tree.root() + "/absent");
  ASSERT_FALSE(meter.ok());
  EXPECT_EQ(meter.error().code, ErrorCode::kNotFound);
  EXPECT_THAT(meter.error().message, HasSubstr("no RAPL zones under " + tree.root() + "/absent"));
}

TEST(RaplMeter, MissingEnergyFileIsUnavailable) {
  FakePowercap tree;
  add_two_packages(tree);
  fs::remove(tree.path("intel-rapl:1", "energy_uj"));
  auto meter = RaplMeter::open(tree.root());
  ASSERT_FALSE(meter.ok());
  EXPECT_EQ(meter.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(meter.error().message, HasSubstr(tree.path("intel-rapl:1", "energy_uj").string()));
}

TEST(RaplMeter, MalformedCounterIsDataLoss) {
  FakePowercap tree;
  tree.add_zone("intel-rapl:0", "package-0", 0);
  tree.write("intel-rapl:0", "energy_uj", "12abc");
  auto meter = RaplMeter::open(tree.root());
  ASSERT_FALSE(meter.ok());
  EXPECT_EQ(meter.error().code, ErrorCode::kDataLoss);
}

TEST(RaplMeter, UnreadableCounterIsUnavailable) {
  // A folder in place of the file fails the read whoever we are (chmod 000 does not stop root).
  FakePowercap tree;
  tree.add_zone("intel-rapl:0", "package-0", 0);
  fs::remove(tree.path("intel-rapl:0", "energy_uj"));
  fs::create_directory(tree.path("intel-rapl:0", "energy_uj"));
  auto meter = RaplMeter::open(tree.root());
  ASSERT_FALSE(meter.ok());
  EXPECT_EQ(meter.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(meter.error().message, HasSubstr("cannot read " + tree.path("intel-rapl:0", "energy_uj").string()));
}

// Opens a meter on `root` as an unprivileged user and returns its error as text; nullopt when this
// process is root and cannot drop privileges (then mode 000 does not stop it reading).
std::optional<std::string> open_error_without_root(const std::string& root) {
  auto describe = [&] {
    auto meter = RaplMeter::open(root);
    return meter.ok() ? std::string("opened") : meter.error().to_string();
  };
  if (::geteuid() != 0) return describe();
  int fds[2];
  if (::pipe(fds) != 0) return std::nullopt;
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(fds[0]);
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(77);  // nobody
    const std::string text = describe();
    const bool written = ::write(fds[1], text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ::_exit(written ? 0 : 1);
  }
  ::close(fds[1]);
  std::string text;
  char buffer[512];
  for (ssize_t n; (n = ::read(fds[0], buffer, sizeof buffer)) > 0;) text.append(buffer, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  return text;
}

TEST(RaplMeter, PermissionDeniedSaysWhyAndWhatToDo) {
  FakePowercap tree;
  tree.add_zone("intel-rapl:0", "package-0", 0);
  // Everything readable by others except the counter, as on Linux 5.10 and later.
  fs::permissions(tree.root(), fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                   fs::perms::others_read | fs::perms::others_exec);
  fs::permissions(tree.path("intel-rapl:0"), fs::perms::owner_all | fs::perms::others_read | fs::perms::others_exec);
  fs::permissions(tree.path("intel-rapl:0", "name"), fs::perms::owner_read | fs::perms::others_read);
  fs::permissions(tree.path("intel-rapl:0", "max_energy_range_uj"), fs::perms::owner_read | fs::perms::others_read);
  fs::permissions(tree.path("intel-rapl:0", "energy_uj"), fs::perms::owner_read);

  auto error = open_error_without_root(tree.root());
  if (!error) GTEST_SKIP() << "running as root without the right to drop privileges: mode 0400 does not stop root";
  EXPECT_THAT(*error, HasSubstr("unavailable: permission denied on " + tree.path("intel-rapl:0", "energy_uj").string() +
                                " (root only since Linux 5.10)"));
  EXPECT_THAT(*error, HasSubstr("chmod a+r"));
}

TEST(RaplMeter, ZoneRemovedMidRunIsUnavailable) {
  FakePowercap tree;
  add_two_packages(tree);
  auto meter = RaplMeter::open(tree.root());
  ASSERT_TRUE(meter.ok()) << meter.error().to_string();

  tree.set_energy("intel-rapl:0", 2'000'000);
  fs::remove_all(tree.path("intel-rapl:1"));
  auto sample = (*meter)->read();
  ASSERT_FALSE(sample.ok());
  EXPECT_EQ(sample.error().code, ErrorCode::kUnavailable);
  EXPECT_THAT(sample.error().message, HasSubstr("RAPL zone package-1 can no longer be read"));

  // The failed read changed nothing: once the zone is back, the total counts from the start.
  tree.add_zone("intel-rapl:1", "package-1", 2'000'000);
  sample = (*meter)->read();
  ASSERT_TRUE(sample.ok()) << sample.error().to_string();
  EXPECT_DOUBLE_EQ(sample->joules, 1.0);
}

TEST(BestCpuMeter, UsesRaplWhenReadable) {
  FakePowercap tree;
  add_two_packages(tree);
  std::string why;
  auto meter = best_cpu_meter(65, &why, tree.root());
  ASSERT_NE(meter, nullptr);
  EXPECT_EQ(meter->method(), EnergyMethod::kRapl);
  EXPECT_EQ(why, "RAPL readable: measuring cpu package 0+1");
}

TEST(BestCpuMeter, EstimatesAndSaysWhyWhenRaplIsNotReadable) {
  FakePowercap tree;
  std::string why;
  auto meter = best_cpu_meter(65, &why, tree.root());
  ASSERT_NE(meter, nullptr);
  EXPECT_EQ(meter->method(), EnergyMethod::kEstimate);
  EXPECT_EQ(why, "RAPL not readable: no RAPL zones under " + tree.root() +
                     "; estimating instead: cpu: TDP 65 W x utilisation from /proc/stat (estimate)");
}

}  // namespace
}  // namespace tandem::energy
