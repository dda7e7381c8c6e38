#include "energy/rapl_meter.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <filesystem>
#include <optional>
#include <set>
#include <tuple>

#include "core/file_io.h"

namespace tandem::energy {
namespace {

// Reads a small sysfs attribute whole, without the trailing newline. 0 or the errno of the failure,
// which callers need to tell "no permission" from "gone".
int read_attribute(const std::string& path, std::string& text) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno;
  char buffer[64];  // counters have at most 20 digits, zone names are short
  ssize_t n = 0;
  do {
    n = ::read(fd, buffer, sizeof buffer);
  } while (n < 0 && errno == EINTR);
  const int error_number = n < 0 ? errno : 0;
  ::close(fd);
  if (error_number != 0) return error_number;
  text.assign(buffer, static_cast<size_t>(n));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return 0;
}

Error unreadable(const std::string& path, int error_number) {
  if (error_number == EACCES || error_number == EPERM) {
    return make_error(ErrorCode::kUnavailable,
                      "permission denied on " + path +
                          " (root only since Linux 5.10): run as root, or allow reading until the next boot with "
                          "`sudo chmod a+r /sys/class/powercap/*/energy_uj` (a udev rule makes it permanent)");
  }
  return make_error(ErrorCode::kUnavailable, io_error("cannot read", path, error_number));
}

Result<uint64_t> read_counter(const std::string& path) {
  std::string text;
  if (const int error_number = read_attribute(path, text); error_number != 0) return unreadable(path, error_number);
  uint64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [stop, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || stop != end) {
    return make_error(ErrorCode::kDataLoss, "not a counter in " + path + ": \"" + text + "\"");
  }
  return value;
}

// A top-level zone folder such as "intel-rapl:1" or "intel-rapl-mmio:0". Subzones ("intel-rapl:0:2")
// and the control-type folder ("intel-rapl") do not match; neither do other powercap types (dtpm).
struct TopLevelZone {
  std::string directory;
  std::string name;  // from its `name` file
  bool via_mmio = false;
  std::string type;
  unsigned index = 0;
};

std::optional<TopLevelZone> parse_zone_folder(const std::filesystem::path& folder) {
  const std::string entry = folder.filename().string();
  const size_t colon = entry.find(':');
  if (colon == std::string::npos || entry.substr(0, colon).find("rapl") == std::string::npos) return std::nullopt;
  TopLevelZone zone;
  const char* first = entry.data() + colon + 1;
  const char* end = entry.data() + entry.size();
  const auto [stop, ec] = std::from_chars(first, end, zone.index);
  if (first == end || ec != std::errc() || stop != end) return std::nullopt;
  zone.directory = folder.string();
  zone.type = entry.substr(0, colon);
  zone.via_mmio = zone.type.find("mmio") != std::string::npos;
  return zone;
}

bool is_package(const std::string& name) {
  return name.rfind("package", 0) == 0;
}

// "package-1" -> "1", for scopes such as "cpu package 0+1".
std::string package_label(const std::string& name) {
  const std::string prefix = "package-";
  return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
}

}  // namespace

RaplMeter::RaplMeter(std::vector<Zone> zones, std::string scope) : scope_(std::move(scope)), zones_(std::move(zones)) {}

Result<std::unique_ptr<EnergyMeter>> RaplMeter::open(const std::string& powercap_root) {
  std::error_code ec;
  std::vector<TopLevelZone> found;
  for (std::filesystem::directory_iterator it(powercap_root, ec), end; !ec && it != end; it.increment(ec)) {
    auto zone = parse_zone_folder(it->path());
    if (!zone || read_attribute(zone->directory + "/name", zone->name) != 0) continue;
    if (zone->name == "psys" || is_package(zone->name)) found.push_back(std::move(*zone));
  }
  if (ec) return make_error(ErrorCode::kNotFound, "no RAPL zones under " + powercap_root + ": " + ec.message());

  std::sort(found.begin(), found.end(), [](const TopLevelZone& a, const TopLevelZone& b) {
    return std::tie(a.via_mmio, a.type, a.index) < std::tie(b.via_mmio, b.type, b.index);
  });
  const bool has_psys = std::any_of(found.begin(), found.end(), [](const auto& z) { return z.name == "psys"; });
  std::vector<Zone> zones;
  std::set<std::string> counted_names;
  std::string packages;
  for (const TopLevelZone& candidate : found) {
    if ((candidate.name == "psys") != has_psys || !counted_names.insert(candidate.name).second) continue;
    Zone zone{candidate.directory, candidate.name};
    auto range = read_counter(zone.directory + "/max_energy_range_uj");
    if (!range) return range.error();
    if (*range == 0) return make_error(ErrorCode::kDataLoss, "max_energy_range_uj is 0 in " + zone.directory);
    auto counter = read_counter(zone.directory + "/energy_uj");
    if (!counter) return counter.error();
    zone.max_energy_range_uj = *range;
    zone.last_energy_uj = *counter;
    zones.push_back(std::move(zone));
    if (!has_psys) packages += (packages.empty() ? "" : "+") + package_label(candidate.name);
  }
  if (zones.empty()) return make_error(ErrorCode::kNotFound, "no RAPL zones under " + powercap_root);
  std::string scope = has_psys ? "platform psys (whole SoC)" : "cpu package " + packages;
  return std::unique_ptr<EnergyMeter>(new RaplMeter(std::move(zones), std::move(scope)));
}

Result<EnergySample> RaplMeter::read() {
  std::lock_guard lock(mutex_);
  // Every counter is read before any is used, so that a failed read leaves the state unchanged.
  std::vector<uint64_t> counters;
  counters.reserve(zones_.size());
  for (const Zone& zone : zones_) {
    auto counter = read_counter(zone.directory + "/energy_uj");
    if (!counter) {
      return make_error(counter.error().code,
                        "RAPL zone " + zone.name + " can no longer be read: " + counter.error().message);
    }
    counters.push_back(*counter);
  }
  for (size_t i = 0; i < zones_.size(); ++i) {
    Zone& zone = zones_[i];
    const uint64_t counter = counters[i];
    total_uj_ += counter >= zone.last_energy_uj
                     ? counter - zone.last_energy_uj
                     : zone.max_energy_range_uj - zone.last_energy_uj + counter + 1;  // wrapped
    zone.last_energy_uj = counter;
  }
  return EnergySample{static_cast<double>(total_uj_) / 1e6, EnergyMethod::kRapl, scope_};
}

}  // namespace tandem::energy
