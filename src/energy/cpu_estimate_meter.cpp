#include "energy/cpu_estimate_meter.h"

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <vector>

#include "core/file_io.h"

namespace tandem::energy {
namespace {

std::string estimate_scope(double tdp_watts, const std::string& proc_stat_path) {
  char watts[32];
  std::snprintf(watts, sizeof watts, "%g", tdp_watts);  // 65 -> "65", 12.5 -> "12.5"
  return std::string("cpu: TDP ") + watts + " W x utilisation from " + proc_stat_path + " (estimate)";
}

}  // namespace

CpuEstimateMeter::CpuEstimateMeter(double tdp_watts, std::string proc_stat_path, SteadyNow now)
    : tdp_watts_(tdp_watts),
      proc_stat_path_(std::move(proc_stat_path)),
      now_(std::move(now)),
      scope_(estimate_scope(tdp_watts_, proc_stat_path_)) {
  assert(tdp_watts_ > 0);
  if (auto times = read_cpu_times()) {
    last_times_ = *times;
    last_read_at_ = now_();
  }
}

Result<CpuEstimateMeter::CpuTimes> CpuEstimateMeter::read_cpu_times() const {
  std::ifstream file(proc_stat_path_);
  if (!file) return make_error(ErrorCode::kUnavailable, io_error("cannot read", proc_stat_path_, errno));
  std::string line;
  while (std::getline(file, line)) {
    if (line.rfind("cpu ", 0) != 0) continue;
    // user nice system idle iowait irq softirq steal guest guest_nice; kernels before 2.6 stop after
    // idle. guest and guest_nice are already inside user and nice, so only the first 8 are summed.
    std::istringstream fields(line.substr(4));
    std::vector<uint64_t> jiffies;
    uint64_t value = 0;
    while (jiffies.size() < 8 && fields >> value) jiffies.push_back(value);
    if (jiffies.size() < 4 || (!fields && !fields.eof())) break;
    CpuTimes times;
    for (uint64_t j : jiffies) times.total += j;
    const uint64_t idle = jiffies[3] + (jiffies.size() > 4 ? jiffies[4] : 0);
    times.busy = times.total - idle;
    return times;
  }
  return make_error(ErrorCode::kDataLoss, "no well-formed aggregate `cpu` line in " + proc_stat_path_);
}

Result<EnergySample> CpuEstimateMeter::read() {
  std::lock_guard lock(mutex_);
  auto times = read_cpu_times();
  if (!times) return times.error();
  const auto read_at = now_();
  if (last_times_) {
    // Signed differences: iowait may go backwards (proc(5)), which can make busy jump either way.
    const double busy = static_cast<double>(static_cast<int64_t>(times->busy - last_times_->busy));
    const double total = static_cast<double>(times->total - last_times_->total);
    const double utilisation = total > 0 ? std::clamp(busy / total, 0.0, 1.0) : 0.0;
    joules_ += tdp_watts_ * utilisation * std::chrono::duration<double>(read_at - last_read_at_).count();
  }
  last_times_ = *times;
  last_read_at_ = read_at;
  return EnergySample{joules_, EnergyMethod::kEstimate, scope_};
}

}  // namespace tandem::energy
