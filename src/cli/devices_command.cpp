// `tandem devices [--json]`: every device ggml can run on (the CPU with its SIMD features, GPUs,
// accelerators), with free and total memory, to see where a model would fit.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "cli/placement_setup.h"
#include "devices/devices.h"

namespace tandem::cli {
namespace {

double gib(uint64_t bytes) {
  return static_cast<double>(bytes) / (uint64_t{1} << 30);
}

void print_table(const std::vector<devices::Device>& found) {
  constexpr std::string_view kRow = "{:<12} {:<6} {:<8} {:>16}  {}\n";
  std::cout << fmt::format(kRow, "name", "kind", "backend", "free/total GiB", "description");
  for (const auto& d : found) {
    std::cout << fmt::format(kRow, d.name, devices::device_kind_name(d.kind), d.backend,
                             fmt::format("{:.1f} / {:.1f}", gib(d.memory_free), gib(d.memory_total)), d.description);
    if (d.kind == devices::DeviceKind::kCpu && !d.features.empty()) {
      std::cout << fmt::format("{:<12} features: {}\n", "", fmt::join(d.features, " "));
    }
  }
}

nlohmann::ordered_json to_json(const std::vector<devices::Device>& found) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& d : found) {
    out.push_back({{"name", d.name},
                   {"kind", devices::device_kind_name(d.kind)},
                   {"backend", d.backend},
                   {"description", d.description},
                   {"memory_free", d.memory_free},
                   {"memory_total", d.memory_total},
                   {"features", d.features}});
  }
  return out;
}

}  // namespace

// The config only adds devices.rpc_servers to what ggml finds by itself.
void add_devices_command(CLI::App& app, GlobalOptions& global, int& exit_code) {
  auto as_json = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("devices", "List the CPU, GPUs and accelerators with free memory and features");
  cmd->add_flag("--json", *as_json, "print JSON");
  cmd->callback([&global, &exit_code, as_json] {
    auto config = global.load();
    if (!config) {
      exit_code = 2;
      return;
    }
    if (auto st = add_configured_rpc_servers(*config); !st) {
      std::cerr << "tandem devices: " << st.error().message << "\n";
      exit_code = 2;
      return;
    }
    const auto found = devices::discover_devices();
    if (*as_json) {
      std::cout << to_json(found).dump() << "\n";
    } else {
      print_table(found);
    }
    exit_code = 0;
  });
}

}  // namespace tandem::cli
