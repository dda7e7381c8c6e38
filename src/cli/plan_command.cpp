// `tandem plan [--json]`: where each configured model will run (devices, layers offloaded,
// split ratios) and why, from the real devices (devices.rpc_servers included) and the model
// files: the same plan every command that loads a model applies.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/placement_setup.h"

namespace tandem::cli {
namespace {

// "CPU 19" or "RPC0 10 + CPU 9": layers per device, the CPU's share last.
std::string where(const devices::Placement& p) {
  std::vector<std::string> parts;
  for (size_t k = 0; k < p.devices.size(); ++k)
    parts.push_back(fmt::format("{} {}", p.devices[k], p.layers_per_device[k]));
  if (p.gpu_layers < p.total_layers) parts.push_back(fmt::format("CPU {}", p.total_layers - p.gpu_layers));
  return fmt::format("{}", fmt::join(parts, " + "));
}

void print_table(const ModelPlan& plan) {
  constexpr std::string_view kDeviceRow = "{:<10} {:<6} {:>10}  {}\n";
  std::cout << fmt::format(kDeviceRow, "device", "kind", "free", "throughput");
  for (const auto& d : plan.devices) {
    std::cout << fmt::format(kDeviceRow, d.name, devices::device_kind_name(d.kind),
                             devices::format_bytes(d.memory_free),
                             fmt::format("{:.3g}{}", d.throughput, d.measured ? " (measured)" : " (default)"));
  }
  std::cout << "\n";
  constexpr std::string_view kModelRow = "{:<10} {:<36} {:>10} {:>7}  {:<24} {}\n";
  std::cout << fmt::format(kModelRow, "model", "file", "memory", "layers", "where", "split");
  for (size_t i = 0; i < plan.models.size(); ++i) {
    const auto& m = plan.models[i];
    const auto& p = plan.placements[i];
    std::string split = p.tensor_split.size() > 1 ? fmt::format("{:.2f}", fmt::join(p.tensor_split, "/")) : "-";
    std::cout << fmt::format(kModelRow, m.name, m.label, devices::format_bytes(p.bytes), p.total_layers, where(p),
                             split);
  }
  for (const auto& problem : plan.unplaced) std::cout << fmt::format("not placed: {}\n", problem);
  std::cout << "\nwhy:\n";
  for (const auto& p : plan.placements) {
    for (const auto& reason : p.reasons) std::cout << fmt::format("  {}: {}\n", p.model, reason);
  }
}

nlohmann::ordered_json to_json(const ModelPlan& plan) {
  nlohmann::ordered_json out;
  out["devices"] = nlohmann::ordered_json::array();
  for (const auto& d : plan.devices) {
    out["devices"].push_back({{"name", d.name},
                              {"kind", devices::device_kind_name(d.kind)},
                              {"backend", d.backend},
                              {"memory_free", d.memory_free},
                              {"throughput", d.throughput},
                              {"measured", d.measured}});
  }
  out["models"] = nlohmann::ordered_json::array();
  for (size_t i = 0; i < plan.models.size(); ++i) {
    const auto& m = plan.models[i];
    const auto& p = plan.placements[i];
    out["models"].push_back({{"model", m.name},
                             {"role", devices::model_role_name(m.role)},
                             {"file", m.label},
                             {"bytes", p.bytes},
                             {"total_layers", p.total_layers},
                             {"gpu_layers", p.gpu_layers},
                             {"devices", p.devices},
                             {"layers_per_device", p.layers_per_device},
                             {"tensor_split", p.tensor_split},
                             {"reasons", p.reasons}});
  }
  out["unplaced"] = plan.unplaced;
  return out;
}

}  // namespace

void add_plan_command(CLI::App& app, GlobalOptions& global, int& exit_code) {
  auto as_json = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("plan", "Show where each configured model will run (devices, layers, split) and why");
  cmd->add_flag("--json", *as_json, "print JSON");
  cmd->callback([&global, &exit_code, as_json] {
    auto config = global.load();
    if (!config) {
      exit_code = 2;
      return;
    }
    auto plan = plan_models(*config);
    if (!plan) {
      std::cerr << "tandem plan: " << plan.error().message << "\n";
      exit_code = 2;
      return;
    }
    if (*as_json) {
      std::cout << to_json(*plan).dump() << "\n";
    } else {
      print_table(*plan);
    }
    exit_code = 0;
  });
}

}  // namespace tandem::cli
