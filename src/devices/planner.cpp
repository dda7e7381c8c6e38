#include "devices/planner.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <optional>

namespace tandem::devices {
namespace {

bool holds_layers(const DeviceCapacity& d) {
  return d.kind == DeviceKind::kGpu || d.kind == DeviceKind::kIntegratedGpu;
}

bool is_cpu_name(std::string_view name) {
  return name.size() == 3 && (name[0] | 0x20) == 'c' && (name[1] | 0x20) == 'p' && (name[2] | 0x20) == 'u';
}

uint64_t usable_bytes(uint64_t free) {
  const auto headroom =
      std::max(kHeadroomMinBytes, static_cast<uint64_t>(static_cast<double>(free) * kHeadroomFraction));
  return free > headroom ? free - headroom : 0;
}

// How many of `n` offloaded layers each device gets, by llama.cpp's own rule
// (llama_model::load_tensors): layer j goes to the first device whose cumulative ratio exceeds j / n.
std::vector<int32_t> layers_per_device(int32_t n, const std::vector<double>& ratios) {
  std::vector<int32_t> counts(ratios.size(), 0);
  if (n <= 0 || ratios.empty()) return counts;
  const double sum = std::accumulate(ratios.begin(), ratios.end(), 0.0);
  std::vector<float> splits(ratios.size());
  float running = 0;
  for (size_t i = 0; i < ratios.size(); ++i) {
    running += static_cast<float>(ratios[i]);
    splits[i] = running / static_cast<float>(sum);
  }
  for (int32_t j = 0; j < n; ++j) {
    const auto it = std::upper_bound(splits.begin(), splits.end(), static_cast<float>(j) / static_cast<float>(n));
    counts[std::min<size_t>(it - splits.begin(), counts.size() - 1)]++;
  }
  return counts;
}

// One way to place a model: which devices (indexes into the device list) get how many layers.
struct Candidate {
  std::vector<size_t> devices;
  std::vector<double> ratios;
  std::vector<int32_t> counts;
  int32_t gpu_layers = 0;
  double seconds_per_token = 0;  // relative: sum of share / throughput
};

class Planner {
 public:
  explicit Planner(const std::vector<DeviceCapacity>& devices) : devices_(devices) {
    for (const auto& d : devices_) remaining_.push_back(usable_bytes(d.memory_free));
    for (size_t i = 0; i < devices_.size(); ++i) {
      if (devices_[i].kind == DeviceKind::kCpu && !cpu_) cpu_ = i;
    }
  }

  Result<Placement> place(const ModelDemand& model) {
    if (model.layers <= 0) {
      return make_error(ErrorCode::kInvalidArgument, fmt::format("{}: the model reports no layers", model.label));
    }
    Placement placement;
    placement.model = model.name;
    placement.total_layers = model.layers + 1;
    placement.bytes = model.weights_bytes + model.kv_bytes;
    per_layer_ = (placement.bytes + placement.total_layers - 1) / placement.total_layers;
    total_units_ = placement.total_layers;

    auto chosen = model.pin.devices.empty() ? choose(model, placement) : pinned(model, placement);
    if (!chosen) return chosen.error();
    commit(*chosen, placement);
    if (model.role == ModelRole::kChat && chosen->gpu_layers > 0) chat_uses_gpu_ = true;
    return placement;
  }

 private:
  double throughput(size_t i) const { return devices_[i].throughput > 0 ? devices_[i].throughput : 1.0; }
  double cpu_throughput() const { return cpu_ ? throughput(*cpu_) : 1.0; }
  int32_t units() const { return total_units_; }

  // Fills counts and the cost for `ratios` over `devices`, with as many layers as fit (or exactly
  // `wanted` when >= 0; nullopt when that does not fit).
  std::optional<Candidate> fit(std::vector<size_t> devices, std::vector<double> ratios, int32_t wanted) const {
    Candidate c{std::move(devices), std::move(ratios), {}, 0, 0};
    auto fits = [&](int32_t n) {
      const auto counts = layers_per_device(n, c.ratios);
      for (size_t k = 0; k < c.devices.size(); ++k) {
        if (static_cast<uint64_t>(counts[k]) * per_layer_ > remaining_[c.devices[k]]) return false;
      }
      return true;
    };
    int32_t n = wanted >= 0 ? wanted : total_units_;
    if (wanted >= 0) {
      if (!fits(n)) return std::nullopt;
    } else {
      while (n > 0 && !fits(n)) --n;
    }
    c.gpu_layers = n;
    c.counts = layers_per_device(n, c.ratios);
    const double total = total_units_;
    c.seconds_per_token = (total - n) / total / cpu_throughput();
    for (size_t k = 0; k < c.devices.size(); ++k) c.seconds_per_token += c.counts[k] / total / throughput(c.devices[k]);
    return c;
  }

  // Shares of the model for `devices`: proportional to usable memory x throughput, none above
  // what its memory holds (the excess goes to the others); when even all of them together are
  // too small, each is filled.
  std::vector<double> split_ratios(const std::vector<size_t>& devices, uint64_t bytes) const {
    std::vector<double> cap(devices.size()), weight(devices.size()), share(devices.size(), 0);
    for (size_t k = 0; k < devices.size(); ++k) {
      cap[k] = static_cast<double>(remaining_[devices[k]]) / static_cast<double>(std::max<uint64_t>(bytes, 1));
      weight[k] = static_cast<double>(remaining_[devices[k]]) * throughput(devices[k]);
    }
    if (std::accumulate(cap.begin(), cap.end(), 0.0) <= 1.0) return cap;
    std::vector<bool> fixed(devices.size(), false);
    double left = 1.0;
    for (bool changed = true; changed;) {
      changed = false;
      double open_weight = 0;
      for (size_t k = 0; k < devices.size(); ++k) {
        if (!fixed[k]) open_weight += weight[k];
      }
      for (size_t k = 0; k < devices.size(); ++k) {
        if (fixed[k]) continue;
        share[k] = open_weight > 0 ? left * weight[k] / open_weight : 0;
        if (share[k] > cap[k]) {
          share[k] = cap[k];
          fixed[k] = true;
          left -= cap[k];
          changed = true;
          break;
        }
      }
    }
    return share;
  }

  Result<Candidate> choose(const ModelDemand& model, Placement& placement) {
    std::vector<size_t> offload;
    for (size_t i = 0; i < devices_.size(); ++i) {
      if (holds_layers(devices_[i])) offload.push_back(i);
    }
    Candidate cpu_only = *fit({}, {}, 0);
    if (offload.empty()) {
      placement.reasons.push_back(
          fmt::format("no GPU: all {} layers of {} on the CPU", placement.total_layers, model.label));
      return cpu_only;
    }
    if (model.role != ModelRole::kChat && chat_uses_gpu_) {
      placement.reasons.push_back(fmt::format("the {} stays on the CPU so the chat model keeps the GPU",
                                              model.role == ModelRole::kEmbedding ? "embedder" : "router"));
      return cpu_only;
    }

    std::vector<Candidate> candidates{cpu_only};
    for (size_t i : offload) candidates.push_back(*fit({i}, {1.0}, -1));
    if (offload.size() > 1) candidates.push_back(*fit(offload, split_ratios(offload, placement.bytes), -1));
    if (model.role != ModelRole::kChat) {  // small models move only when they fit whole
      std::erase_if(candidates, [&](const Candidate& c) { return c.gpu_layers != 0 && c.gpu_layers != units(); });
    }
    const Candidate& best = *std::min_element(candidates.begin(), candidates.end(), [](const auto& a, const auto& b) {
      constexpr double kTie = 1e-9;
      if (std::abs(a.seconds_per_token - b.seconds_per_token) >
          kTie * std::max(a.seconds_per_token, b.seconds_per_token)) {
        return a.seconds_per_token < b.seconds_per_token;
      }
      return a.devices.size() < b.devices.size();
    });
    explain(model, best, offload, placement);
    return best;
  }

  void explain(const ModelDemand& model, const Candidate& best, const std::vector<size_t>& offload,
               Placement& placement) const {
    const auto total = placement.total_layers;
    if (best.gpu_layers == 0) {
      std::vector<std::string> slower;
      for (size_t i : offload) {
        slower.push_back(
            fmt::format("{} {:.3g}{}", devices_[i].name, throughput(i), devices_[i].measured ? "" : " (default)"));
      }
      bool none_fit = true;
      for (size_t i : offload) none_fit = none_fit && remaining_[i] < per_layer_;
      if (none_fit) {
        placement.reasons.push_back(
            fmt::format("no device has room for even one layer of {} ({} each): all {} on the CPU", model.label,
                        format_bytes(per_layer_), total));
      } else {
        placement.reasons.push_back(fmt::format(
            "no device is expected to be faster than the CPU ({:.3g}{} vs {}): all {} layers of {} on the CPU",
            cpu_throughput(), cpu_ && devices_[*cpu_].measured ? "" : " (default)", fmt::join(slower, ", "), total,
            model.label));
      }
      return;
    }
    if (best.devices.size() == 1) {
      const auto& d = devices_[best.devices[0]];
      if (best.gpu_layers == total) {
        placement.reasons.push_back(fmt::format("{} fits entirely on {} ({} free): all {} layers there", model.label,
                                                d.name, format_bytes(d.memory_free), total));
      } else {
        placement.reasons.push_back(
            fmt::format("{} too small for {} ({} usable): {} of {} layers on {}, the rest on the CPU", d.name,
                        model.label, format_bytes(remaining_[best.devices[0]]), best.gpu_layers, total, d.name));
      }
      return;
    }
    std::vector<std::string> parts;
    for (size_t k = 0; k < best.devices.size(); ++k) {
      parts.push_back(fmt::format("{} on {}", best.counts[k], devices_[best.devices[k]].name));
    }
    placement.reasons.push_back(fmt::format(
        "{} is too large for one device: {} of {} layers split {}{}, by free memory x throughput", model.label,
        best.gpu_layers, total, fmt::join(parts, ", "), best.gpu_layers < total ? ", the rest on the CPU" : ""));
  }

  Result<Candidate> pinned(const ModelDemand& model, Placement& placement) {
    const Pin& pin = model.pin;
    if (pin.devices.size() == 1 && is_cpu_name(pin.devices[0])) {
      if (pin.gpu_layers > 0 || !pin.tensor_split.empty()) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("{} pins the CPU, which takes no offloaded layers or tensor split", pin.setting));
      }
      placement.reasons.push_back(
          fmt::format("pinned to the CPU by {}: all {} layers there", pin.setting, placement.total_layers));
      return *fit({}, {}, 0);
    }
    std::vector<size_t> chosen;
    for (const auto& name : pin.devices) {
      auto it = std::find_if(devices_.begin(), devices_.end(), [&](const auto& d) { return d.name == name; });
      if (it == devices_.end()) {
        std::vector<std::string> known;
        for (const auto& d : devices_) known.push_back(d.name);
        return make_error(
            ErrorCode::kInvalidArgument,
            fmt::format("{} names {}, which is not among this machine's devices ({}); `tandem devices` lists them",
                        pin.setting, name, fmt::join(known, ", ")));
      }
      if (!holds_layers(*it)) {
        return make_error(ErrorCode::kInvalidArgument,
                          fmt::format("{} names {}, a {} device that holds no layers (use \"cpu\" or a GPU)",
                                      pin.setting, name, device_kind_name(it->kind)));
      }
      chosen.push_back(static_cast<size_t>(it - devices_.begin()));
    }
    std::vector<double> ratios = pin.tensor_split;
    if (!ratios.empty() && ratios.size() != chosen.size()) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("{} pins {} devices but the tensor split has {} ratios", pin.setting, chosen.size(),
                                    ratios.size()));
    }
    if (!ratios.empty() && (std::any_of(ratios.begin(), ratios.end(), [](double r) { return !(r >= 0); }) ||
                            std::accumulate(ratios.begin(), ratios.end(), 0.0) <= 0)) {
      return make_error(ErrorCode::kInvalidArgument, "a tensor split needs ratios >= 0 with a positive sum");
    }
    if (ratios.empty()) ratios = chosen.size() == 1 ? std::vector<double>{1.0} : split_ratios(chosen, placement.bytes);
    if (pin.gpu_layers > placement.total_layers) {
      return make_error(ErrorCode::kInvalidArgument,
                        fmt::format("{} has {} layers (blocks + output); {} asks for {}", model.label,
                                    placement.total_layers, pin.setting, pin.gpu_layers));
    }
    auto candidate = fit(chosen, ratios, pin.gpu_layers);
    if (!candidate || candidate->gpu_layers == 0) {
      uint64_t room = 0;
      for (size_t i : chosen) room += remaining_[i];
      const int32_t wanted = pin.gpu_layers >= 0 ? pin.gpu_layers : 1;
      return make_error(ErrorCode::kResourceExhausted,
                        fmt::format("{} pins {} layers of {} to {}, which need {} but {} usable is left there",
                                    pin.setting, wanted, model.label, fmt::join(pin.devices, ", "),
                                    format_bytes(wanted * per_layer_), format_bytes(room)));
    }
    std::vector<std::string> parts;
    for (size_t k = 0; k < chosen.size(); ++k)
      parts.push_back(fmt::format("{} on {}", candidate->counts[k], devices_[chosen[k]].name));
    placement.reasons.push_back(
        fmt::format("pinned by {}: {} of {} layers of {} ({}){}", pin.setting, candidate->gpu_layers,
                    placement.total_layers, model.label, fmt::join(parts, ", "),
                    candidate->gpu_layers < placement.total_layers ? ", the rest on the CPU" : ""));
    return *candidate;
  }

  void commit(const Candidate& c, Placement& placement) {
    for (size_t k = 0; k < c.devices.size(); ++k) {
      placement.devices.push_back(devices_[c.devices[k]].name);
      remaining_[c.devices[k]] -= std::min(remaining_[c.devices[k]], static_cast<uint64_t>(c.counts[k]) * per_layer_);
    }
    const double sum = std::accumulate(c.ratios.begin(), c.ratios.end(), 0.0);
    for (double r : c.ratios) placement.tensor_split.push_back(sum > 0 ? r / sum : 0);
    placement.gpu_layers = c.gpu_layers;
    placement.layers_per_device = c.counts;
    const uint64_t on_cpu = static_cast<uint64_t>(placement.total_layers - c.gpu_layers) * per_layer_;
    if (!cpu_ || on_cpu == 0) return;
    if (on_cpu > remaining_[*cpu_]) {
      placement.reasons.push_back(
          fmt::format("the CPU part ({}) is more than the {} of memory left: the weights are mapped "
                      "from the file and pages will be read from disk",
                      format_bytes(on_cpu), format_bytes(remaining_[*cpu_])));
    }
    remaining_[*cpu_] -= std::min(remaining_[*cpu_], on_cpu);
  }

  const std::vector<DeviceCapacity>& devices_;
  std::vector<uint64_t> remaining_;  // usable bytes per device, after the models placed so far
  std::optional<size_t> cpu_;
  bool chat_uses_gpu_ = false;
  uint64_t per_layer_ = 0;
  int32_t total_units_ = 0;
};

}  // namespace

double default_throughput(DeviceKind kind, std::string_view backend) {
  if (backend == "RPC") return 1.0;
  switch (kind) {
    case DeviceKind::kGpu:
      return 10.0;
    case DeviceKind::kIntegratedGpu:
      return 2.0;
    case DeviceKind::kCpu:
    case DeviceKind::kAccelerator:
      return 1.0;
  }
  return 1.0;
}

std::string_view model_role_name(ModelRole role) {
  switch (role) {
    case ModelRole::kChat:
      return "chat";
    case ModelRole::kEmbedding:
      return "embedding";
    case ModelRole::kRouter:
      return "router";
  }
  return "unknown";
}

std::string format_bytes(uint64_t bytes) {
  constexpr double kMiB = 1 << 20;
  const double mib = static_cast<double>(bytes) / kMiB;
  if (mib < 1024) return fmt::format("{:.0f} MiB", mib);
  return fmt::format("{:.1f} GiB", mib / 1024);
}

Result<std::vector<Placement>> plan_placement(const std::vector<DeviceCapacity>& devices,
                                              const std::vector<ModelDemand>& models) {
  // Chat models first: they are the ones that need a GPU; the small ones take what is left.
  std::vector<const ModelDemand*> order;
  for (const auto& m : models) order.push_back(&m);
  std::stable_sort(order.begin(), order.end(), [](const auto* a, const auto* b) {
    return (a->role == ModelRole::kChat) > (b->role == ModelRole::kChat);
  });
  Planner planner(devices);
  std::vector<Placement> placements(models.size());
  for (const ModelDemand* m : order) {
    auto placement = planner.place(*m);
    if (!placement) return placement.error();
    placements[static_cast<size_t>(m - models.data())] = std::move(*placement);
  }
  return placements;
}

}  // namespace tandem::devices
