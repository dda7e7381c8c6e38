// `tandem energy meter | report`: which energy meters this machine allows (RAPL, NVML, or the
// labelled TDP x utilisation estimate) and what they measure now; and what the answers served so
// far cost by route, next to what sending them all to the cloud would have cost.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/commands.h"
#include "cli/keyring_setup.h"
#include "energy/meters.h"
#include "energy/nvml_meter.h"
#include "energy/usage_ledger.h"

namespace tandem::cli {
namespace {

struct EnergyArgs {
  double seconds = 1.0;
  bool json = false;
};

nlohmann::ordered_json totals_json(const energy::UsageTotals& t) {
  return {{"answers", t.answers},
          {"tokens", t.tokens},
          {"energy_wh", t.energy_wh},
          {"co2_g", t.co2_g},
          {"cost_usd", t.cost_usd}};
}

// One row of bars per day: each route's share of the day's Wh, scaled to the busiest day.
void print_daily_chart(const energy::UsageReport& report) {
  double busiest = 0;
  for (const auto& [day, routes] : report.energy_wh_by_day) {
    double sum = 0;
    for (const auto& [route, wh] : routes) sum += wh;
    busiest = std::max(busiest, sum);
  }
  if (busiest <= 0) return;
  constexpr int kWidth = 40;
  fmt::print("\nEnergy by day (L local, K knowledge, C cloud)\n");
  for (const auto& [day, routes] : report.energy_wh_by_day) {
    std::string bar;
    double sum = 0;
    for (const auto& [route, wh] : routes) {
      sum += wh;
      const char mark = route == "cloud" ? 'C' : route == "knowledge" ? 'K' : 'L';
      bar += std::string(static_cast<size_t>(wh / busiest * kWidth + 0.5), mark);
    }
    fmt::print("{}  {:<{}} {:.4f} Wh\n", day, bar, kWidth, sum);
  }
}

int run_report(const Config& config, const EnergyArgs& args) {
  auto key = data_key(config, kUsageKey);
  if (!key) {
    std::cerr << "tandem energy report: " << key.error().message << "\n";
    return 1;
  }
  auto records = energy::read_usage(config.energy_usage_log, *key);
  if (!records) {
    std::cerr << "tandem energy report: " << records.error().message << "\n";
    return 1;
  }
  const auto report = energy::summarize_usage(*records, energy::cloud_baseline(config));
  if (args.json) {
    nlohmann::ordered_json out = {{"usage_log", config.energy_usage_log}};
    for (const auto& [route, totals] : report.by_route) out["by_route"][route] = totals_json(totals);
    out["total"] = totals_json(report.total);
    out["all_cloud"] = totals_json(report.all_cloud);
    out["saved"] = {{"energy_wh", report.all_cloud.energy_wh - report.total.energy_wh},
                    {"co2_g", report.all_cloud.co2_g - report.total.co2_g},
                    {"cost_usd", report.all_cloud.cost_usd - report.total.cost_usd}};
    out["energy_wh_by_day"] = report.energy_wh_by_day;
    out["answers_by_energy_method"] = report.answers_by_method;
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  if (records->empty()) {
    fmt::print("No answers recorded yet in {} (tandem serve records every answer).\n", config.energy_usage_log);
    return 0;
  }
  fmt::print("{:<12} {:>8} {:>10} {:>12} {:>10} {:>10}\n", "route", "answers", "tokens", "energy Wh", "CO2 g",
             "cost USD");
  auto row = [](std::string_view name, const energy::UsageTotals& t) {
    fmt::print("{:<12} {:>8} {:>10} {:>12.4f} {:>10.3f} {:>10.4f}\n", name, t.answers, t.tokens, t.energy_wh, t.co2_g,
               t.cost_usd);
  };
  for (const auto& [route, totals] : report.by_route) row(route, totals);
  row("total", report.total);
  row("all-cloud", report.all_cloud);
  fmt::print("saved by routing: {:.4f} Wh, {:.3f} g CO2, {:.4f} USD\n",
             report.all_cloud.energy_wh - report.total.energy_wh, report.all_cloud.co2_g - report.total.co2_g,
             report.all_cloud.cost_usd - report.total.cost_usd);
  std::string methods;
  for (const auto& [method, n] : report.answers_by_method) methods += fmt::format(" {} ({})", method, n);
  fmt::print("energy figures:{}; the all-cloud line estimates local answers at {} Wh per 1k tokens\n", methods,
             config.energy_cloud_wh_per_1k_tokens);
  print_daily_chart(report);
  return 0;
}

// One meter's reading over the interval, as JSON; the error when it could not be read.
nlohmann::ordered_json measure(energy::EnergyMeter& meter, double seconds) {
  // The clock starts before the first read and stops after the second, so the interval holds the
  // meter's own (a TDP-bound estimate then never shows more than the TDP).
  const auto start = std::chrono::steady_clock::now();
  auto before = meter.read();
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
  auto* energy = app.add_subcommand("energy", "Energy: the meters this machine allows, and what the answers cost");
  energy->require_subcommand(1);
  auto* meter = energy->add_subcommand("meter", "Measure power for a moment with every meter available");
  meter->add_option("--seconds", args->seconds, "how long to measure (default 1)")->check(CLI::Range(0.1, 60.0));
  meter->add_flag("--json", args->json, "one JSON array");
  meter->callback([&global, &exit_code, args] {
    auto config = global.load();
    exit_code = config ? run_meter(*config, *args) : 2;
  });
  auto* report = energy->add_subcommand("report", "Energy, CO2 and cost by route, and what routing saved vs all-cloud");
  report->add_flag("--json", args->json, "one JSON object");
  report->callback([&global, &exit_code, args] {
    auto config = global.load();
    exit_code = config ? run_report(*config, *args) : 2;
  });
}

}  // namespace tandem::cli
