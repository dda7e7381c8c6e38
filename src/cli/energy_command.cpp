// `tandem energy meter`: which energy meters this machine allows (RAPL, NVML, or the labelled
// TDP x utilisation estimate), and what they measure over a short interval.
#include <fmt/format.h>

#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/commands.h"
#include "energy/meters.h"
#include "energy/nvml_meter.h"

namespace tandem::cli {
namespace {

struct EnergyArgs {
  double seconds = 1.0;
  bool json = false;
};

// One meter's reading over the interval, as JSON; the error when it could not be read.
nlohmann::ordered_json measure(energy::EnergyMeter& meter, double seconds) {
  auto before = meter.read();
  const auto start = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  auto after = meter.read();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  nlohmann::ordered_json out = {{"method", energy::energy_method_name(meter.method())}, {"scope", meter.scope()}};
  if (!before || !after) {
    out["error"] = (before ? after.error() : before.error()).message;
    return out;
  }
  const double joules = after->joules - before->joules;
  out["joules"] = joules;
  out["seconds"] = elapsed;
  out["watts"] = elapsed > 0 ? joules / elapsed : 0.0;
  return out;
}

int run_meter(const Config& config, const EnergyArgs& args) {
  std::string why;
  auto cpu = energy::best_cpu_meter(config.energy_cpu_tdp_w, &why);
  nlohmann::ordered_json meters = nlohmann::ordered_json::array();
  auto cpu_reading = measure(*cpu, args.seconds);
  cpu_reading["why"] = why;
  meters.push_back(cpu_reading);
  auto gpu = energy::NvmlMeter::open();
  if (gpu) {
    meters.push_back(measure(**gpu, args.seconds));
  } else {
    meters.push_back({{"method", "nvml"}, {"error", gpu.error().message}});
  }
  if (args.json) {
    std::cout << meters.dump(2) << "\n";
    return 0;
  }
  for (const auto& m : meters) {
    if (m.contains("error")) {
      fmt::print("{:<9} not available: {}\n", m["method"].get<std::string>(), m["error"].get<std::string>());
      continue;
    }
    fmt::print("{:<9} {:8.2f} W  over {:.1f} s  ({})\n", m["method"].get<std::string>(), m["watts"].get<double>(),
               m["seconds"].get<double>(), m["scope"].get<std::string>());
    if (m.contains("why")) fmt::print("          {}\n", m["why"].get<std::string>());
  }
  return 0;
}

}  // namespace

void add_energy_command(CLI::App& app, GlobalOptions& global, int& exit_code) {
  auto args = std::make_shared<EnergyArgs>();
  auto* energy = app.add_subcommand("energy", "Energy: which meters this machine allows and what they read");
  energy->require_subcommand(1);
  auto* meter = energy->add_subcommand("meter", "Measure power for a moment with every meter available");
  meter->add_option("--seconds", args->seconds, "how long to measure (default 1)")->check(CLI::Range(0.1, 60.0));
  meter->add_flag("--json", args->json, "one JSON array");
  meter->callback([&global, &exit_code, args] {
    auto config = global.load();
    exit_code = config ? run_meter(*config, *args) : 2;
  });
}

}  // namespace tandem::cli
