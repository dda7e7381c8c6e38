// The placement planner: which device(s) each configured model runs on, how many of its layers
// leave the CPU and in what ratio they are split, and why, in words. A pure function of the
// devices (free memory, a throughput figure), the models (size, layers, KV cache) and the pins
// from the config, so that `tandem plan` shows exactly what the engine will load.
//
//   std::vector<DeviceCapacity> devices = {{.name = "CPU", .kind = DeviceKind::kCpu, ...},
//                                          {.name = "CUDA0", .kind = DeviceKind::kGpu, ...}};
//   std::vector<ModelDemand> models = {{.name = "chat", .role = ModelRole::kChat, ...}};
//   auto plan = plan_placement(devices, models);
//   if (!plan) return plan.error();          // a pin names a missing device, or does not fit
//   for (const auto& p : *plan) print(p.model, p.gpu_layers, p.reasons);
//
// How it decides, per model, the chat model first:
//  - Only GPUs and integrated GPUs (RPC devices count as GPUs) hold layers; accelerators work
//    beside the CPU backend. Each keeps kHeadroomFraction of its free memory (at least
//    kHeadroomMinBytes) for compute buffers.
//  - A model is weights + KV cache, spread evenly over its block layers plus the output layer
//    (llama.cpp's unit for n_gpu_layers: `layers + 1` offloads everything).
//  - Candidates: the CPU alone; each device alone (as many layers as fit, the rest on the CPU);
//    all devices together (layers split in proportion to usable memory x throughput, capped by
//    each one's memory). The one with the lowest expected time per token wins, where a device
//    holding a share s of the model costs s / throughput; ties go to fewer devices.
//  - Embedding and router models stay on the CPU while a chat model uses a GPU; otherwise they
//    may take a device they fit on whole.
//  - Pins (ModelDemand::pin) override any of that; a pin naming a missing device, or an explicit
//    layer count that does not fit, is an error that names the setting.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "devices/devices.h"

namespace tandem::devices {

inline constexpr double kHeadroomFraction = 0.10;
inline constexpr uint64_t kHeadroomMinBytes = uint64_t{256} << 20;

// Relative speed of a device when none was measured (`devices.throughput`): a dedicated GPU
// decodes about 10x faster than a desktop CPU, an integrated GPU about 2x; an RPC device's kind
// is unknown, so it counts as fast as this CPU until measured.
double default_throughput(DeviceKind kind, std::string_view backend);

struct DeviceCapacity {
  std::string name;  // ggml's device name: "CPU", "CUDA0", "RPC0"
  DeviceKind kind = DeviceKind::kCpu;
  std::string backend;  // "CPU", "CUDA", "RPC"
  uint64_t memory_free = 0;
  double throughput = 0;  // tokens per second or any consistent relative figure; > 0
  bool measured = false;  // throughput came from devices.throughput, not default_throughput
};

enum class ModelRole { kChat, kEmbedding, kRouter };
std::string_view model_role_name(ModelRole role);  // "chat", "embedding", "router"

// What the config asks for one model. Devices: empty = auto; {"CPU"} = the CPU only; else the
// devices that hold the offloaded layers, in order.
struct Pin {
  std::vector<std::string> devices;
  int32_t gpu_layers = -1;           // -1: as many as fit; else exactly this many (0..layers+1)
  std::vector<double> tensor_split;  // empty: planned; else one ratio per pinned device
  std::string setting;               // the setting that pinned it, for error messages
};

struct ModelDemand {
  std::string name;   // "chat", "embedding", "router"
  std::string label;  // what the reasons call it, e.g. "gemma-3-270m (241 MiB)"
  ModelRole role = ModelRole::kChat;
  uint64_t weights_bytes = 0;
  int32_t layers = 0;     // transformer blocks (GGUF block_count)
  uint64_t kv_bytes = 0;  // KV cache for the configured context
  Pin pin;
};

struct Placement {
  std::string model;
  std::vector<std::string> devices;        // non-CPU devices holding layers; empty: CPU only
  int32_t gpu_layers = 0;                  // llama.cpp's n_gpu_layers: how many of the last layers leave the CPU
  int32_t total_layers = 0;                // blocks + the output layer
  std::vector<double> tensor_split;        // one ratio per entry of devices, summing to 1
  std::vector<int32_t> layers_per_device;  // as llama.cpp assigns them from the split
  uint64_t bytes = 0;                      // weights + KV cache
  std::vector<std::string> reasons;
};

Result<std::vector<Placement>> plan_placement(const std::vector<DeviceCapacity>& devices,
                                              const std::vector<ModelDemand>& models);

// "241 MiB", "7.8 GiB".
std::string format_bytes(uint64_t bytes);

}  // namespace tandem::devices
