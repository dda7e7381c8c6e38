#include "cli/placement_setup.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <charconv>
#include <filesystem>
#include <map>

#include "devices/model_footprint.h"

namespace tandem::cli {
namespace {

Result<double> parse_number(const std::string& text, const std::string& setting) {
  double value = 0;
  const char* end = text.data() + text.size();
  auto parsed = std::from_chars(text.data(), end, value);
  if (parsed.ec != std::errc() || parsed.ptr != end || !(value >= 0)) {
    return make_error(ErrorCode::kInvalidArgument, setting + ": '" + text + "' is not a number >= 0");
  }
  return value;
}

// devices.throughput and devices.watts: "CPU=30,CUDA0=400", every figure > 0.
Result<std::map<std::string, double>> parse_device_figures(const std::string& text, const std::string& setting) {
  std::map<std::string, double> figures;
  for (const auto& item : split_setting_list(text)) {
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      return make_error(ErrorCode::kInvalidArgument, setting + ": '" + item + "' is not DEVICE=number");
    }
    auto value = parse_number(item.substr(eq + 1), setting);
    if (!value) return value.error();
    if (*value <= 0) return make_error(ErrorCode::kInvalidArgument, setting + ": " + item + " must be > 0");
    figures[item.substr(0, eq)] = *value;
  }
  return figures;
}

// "auto" (or empty): no pin; otherwise the listed devices ("cpu" included).
std::vector<std::string> pinned_devices(const std::string& setting_value) {
  if (setting_value.empty() || setting_value == "auto") return {};
  return split_setting_list(setting_value);
}

Result<std::vector<devices::DeviceCapacity>> configured_devices(const Config& config) {
  if (auto st = add_configured_rpc_servers(config); !st) return st.error();
  auto measured = parse_device_figures(config.devices_throughput, "devices.throughput");
  if (!measured) return measured.error();
  std::vector<devices::DeviceCapacity> out;
  for (const auto& d : devices::discover_devices()) {
    devices::DeviceCapacity c;
    c.name = d.name;
    c.kind = d.kind;
    c.backend = d.backend;
    c.memory_free = d.memory_free;
    auto figure = measured->find(d.name);
    c.measured = figure != measured->end();
    c.throughput = c.measured ? figure->second : devices::default_throughput(d.kind, d.backend);
    out.push_back(std::move(c));
  }
  for (const auto& [name, figure] : *measured) {
    if (std::none_of(out.begin(), out.end(), [&](const auto& d) { return d.name == name; })) {
      return make_error(ErrorCode::kInvalidArgument,
                        "devices.throughput names " + name + ", which is not a device here");
    }
  }
  return out;
}

Result<devices::Pin> chat_pin(const Config& config) {
  devices::Pin pin;
  pin.devices = pinned_devices(config.devices_chat);
  pin.gpu_layers = static_cast<int32_t>(config.devices_chat_gpu_layers);
  pin.setting = "devices.chat";
  for (const auto& ratio : split_setting_list(config.devices_chat_tensor_split)) {
    auto value = parse_number(ratio, "devices.chat_tensor_split");
    if (!value) return value.error();
    pin.tensor_split.push_back(*value);
  }
  if (pin.devices.empty() && (pin.gpu_layers >= 0 || !pin.tensor_split.empty())) {
    return make_error(ErrorCode::kInvalidArgument,
                      "devices.chat_gpu_layers and devices.chat_tensor_split need devices.chat to name the devices");
  }
  return pin;
}

// One pin per copy of the chat model: devices.chat's, or one per entry of devices.chat_replicas.
Result<std::vector<devices::Pin>> chat_pins(const Config& config) {
  const auto replicas = split_setting_list(config.devices_chat_replicas, ';');
  if (replicas.empty()) {
    auto pin = chat_pin(config);
    if (!pin) return pin.error();
    return std::vector<devices::Pin>{std::move(*pin)};
  }
  if (config.devices_chat != "auto" || config.devices_chat_gpu_layers >= 0 || !config.devices_chat_tensor_split.empty()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "devices.chat_replicas places every copy of the chat model: leave devices.chat, "
                      "devices.chat_gpu_layers and devices.chat_tensor_split unset");
  }
  std::vector<devices::Pin> pins;
  for (const auto& entry : replicas) {
    devices::Pin pin;
    pin.devices = pinned_devices(entry);
    if (pin.devices.empty()) {
      return make_error(ErrorCode::kInvalidArgument,
                        "devices.chat_replicas: '" + entry + "' names no device (each copy needs cpu or its devices)");
    }
    pin.setting = "devices.chat_replicas";
    pins.push_back(std::move(pin));
  }
  return pins;
}

}  // namespace

Status add_configured_rpc_servers(const Config& config) {
  for (const auto& endpoint : split_setting_list(config.devices_rpc_servers)) {
    if (auto st = devices::add_rpc_server(endpoint); !st) return st;
  }
  return {};
}

Result<ModelPlan> plan_models(const Config& config) {
  ModelPlan plan;
  auto found = configured_devices(config);
  if (!found) return found.error();
  plan.devices = std::move(*found);

  auto chat = chat_pins(config);
  if (!chat) return chat.error();
  devices::Pin embedding_pin;
  embedding_pin.devices = pinned_devices(config.devices_embedding);
  embedding_pin.setting = "devices.embedding";
  const bool router =
      std::filesystem::exists(config.router_intent_model + "/model.json") || !config.router_quality_model.empty();

  struct Wanted {
    devices::ModelRole role;
    std::string path;
    int64_t context;  // 0: the model's training context
    devices::Pin pin;
  };
  std::vector<Wanted> wanted;
  for (const auto& pin : *chat) wanted.push_back({devices::ModelRole::kChat, config.engine_model, config.engine_context, pin});
  wanted.push_back({devices::ModelRole::kEmbedding, config.engine_embedding_model, 0, embedding_pin});
  if (router) wanted.push_back({devices::ModelRole::kRouter, config.engine_embedding_model, 0, embedding_pin});

  for (size_t i = 0; i < wanted.size(); ++i) {
    const Wanted& w = wanted[i];
    std::string name(devices::model_role_name(w.role));
    if (w.role == devices::ModelRole::kChat && i > 0) name += fmt::format(" {}", i + 1);  // "chat 2": a replica
    auto shape = devices::read_model_shape(w.path);
    if (!shape) {  // loading it will say what is wrong with the file, in the command's own words
      plan.unplaced.push_back(name + ": " + shape.error().message);
      continue;
    }
    const auto context = static_cast<uint64_t>(w.context > 0 ? w.context : shape->training_context);
    plan.models.push_back({.name = name,
                           .label = fmt::format("{} ({})", shape->name, devices::format_bytes(shape->file_bytes)),
                           .role = w.role,
                           .weights_bytes = shape->file_bytes,
                           .layers = shape->layers,
                           .kv_bytes = shape->kv_bytes_per_token * context,
                           .pin = w.pin});
  }
  auto placements = devices::plan_placement(plan.devices, plan.models);
  if (!placements) return placements.error();
  plan.placements = std::move(*placements);
  return plan;
}

namespace {

engine::DevicePlacement engine_placement(const devices::Placement& p) {
  engine::DevicePlacement placement;
  placement.devices = p.devices;
  placement.gpu_layers = p.gpu_layers;
  for (double r : p.tensor_split) placement.tensor_split.push_back(static_cast<float>(r));
  return placement;
}

// Where a replica starts before anything is measured, for the device holding most of its layers:
// devices.throughput's figure, else a nominal rate scaled by the planner's default for its kind.
// Prompts are read about ten times faster than tokens are generated on every device we measured.
devices::Replica starting_figures(const devices::Placement& p, const ModelPlan& plan,
                                  const std::map<std::string, double>& watts, double cpu_watts) {
  constexpr double kNominalTokensPerSecond = 20;
  constexpr double kPromptToGeneration = 10;
  const bool mostly_cpu = p.devices.empty() || p.gpu_layers * 2 < p.total_layers;
  const std::string main_device = mostly_cpu ? "CPU" : p.devices.front();
  auto device = std::find_if(plan.devices.begin(), plan.devices.end(), [&](const auto& d) { return d.name == main_device; });
  devices::Replica r;
  r.device = p.devices.empty() ? "CPU" : fmt::format("{}", fmt::join(p.devices, ","));
  if (device == plan.devices.end()) {
    r.generation_tokens_per_second = kNominalTokensPerSecond;
  } else {
    r.generation_tokens_per_second = device->measured ? device->throughput : device->throughput * kNominalTokensPerSecond;
  }
  r.prompt_tokens_per_second = r.generation_tokens_per_second * kPromptToGeneration;
  auto w = watts.find(main_device);
  r.watts = w != watts.end() ? w->second : mostly_cpu ? cpu_watts : 0;
  return r;
}

}  // namespace

Result<engine::DevicePlacement> placement_for(const Config& config, devices::ModelRole role) {
  auto plan = plan_models(config);
  if (!plan) return plan.error();
  for (size_t i = 0; i < plan->models.size(); ++i) {
    if (plan->models[i].role == role) return engine_placement(plan->placements[i]);
  }
  return engine::DevicePlacement{};
}

Result<std::vector<ChatReplicaPlan>> chat_replica_plans(const Config& config) {
  auto plan = plan_models(config);
  if (!plan) return plan.error();
  auto watts = parse_device_figures(config.devices_watts, "devices.watts");
  if (!watts) return watts.error();
  std::vector<ChatReplicaPlan> out;
  for (size_t i = 0; i < plan->models.size(); ++i) {
    if (plan->models[i].role != devices::ModelRole::kChat) continue;
    const auto& p = plan->placements[i];
    out.push_back({engine_placement(p), starting_figures(p, *plan, *watts, config.energy_cpu_tdp_w)});
  }
  if (out.empty()) {  // the model file is missing or unreadable: loading it says so
    out.push_back({engine::DevicePlacement{}, starting_figures(devices::Placement{}, *plan, *watts, config.energy_cpu_tdp_w)});
  }
  return out;
}

}  // namespace tandem::cli
