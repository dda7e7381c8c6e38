// Device discovery: every device ggml's backend registry knows (the CPU, GPUs, integrated GPUs,
// accelerators), with its free memory and what it can do, so that `tandem devices` can show
// where a model could run and the engine can later choose one.
//
//   for (const auto& d : tandem::devices::discover_devices()) {
//     fmt::print("{} ({}): {} of {} bytes free\n", d.name, tandem::devices::device_kind_name(d.kind),
//                d.memory_free, d.memory_total);
//   }
//
// Thread-safety: discover_devices() may be called from any thread; ggml builds its registry once,
// behind a function-local static. add_rpc_server is serialized internally but changes the
// registry: call it at start-up, before models load. The parsing helpers are pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace tandem::devices {

enum class DeviceKind {
  kCpu,
  kGpu,            // dedicated memory
  kIntegratedGpu,  // shares the host's memory
  kAccelerator,    // works beside the CPU backend, e.g. BLAS or AMX
};

// "cpu", "gpu", "igpu", "accel".
std::string_view device_kind_name(DeviceKind kind);

struct Device {
  std::string name;         // ggml's name, e.g. "CPU", "CUDA0", "Vulkan0", "RPC[127.0.0.1:50052]"
  std::string description;  // e.g. the CPU model or the GPU's name
  std::string backend;      // the registry's name, e.g. "CPU", "CUDA"
  DeviceKind kind = DeviceKind::kCpu;
  uint64_t memory_free = 0;  // bytes; for the CPU, the system's available memory (MemAvailable)
  uint64_t memory_total = 0;
  // CPU: the features ggml was built with that this CPU also has, SIMD first (SSE3, AVX2, AVX512,
  // F16C, ...) then build options such as OPENMP. Other devices: their capabilities ("async",
  // "host_buffer", "buffer_from_host_ptr", "events", "mmap").
  std::vector<std::string> features;
};

// Every device ggml's registry knows, the CPU first. Never empty in a working build: the CPU
// backend is always compiled in.
std::vector<Device> discover_devices();

// Adds the devices of a ggml RPC server at "host:port" (tools/rpc: `ggml-rpc-server -H 127.0.0.1
// -p PORT`) to ggml's registry, so discover_devices(), the planner and the engine see them as
// RPC0, RPC1, ... Adding an endpoint again changes nothing. kInvalidArgument for an endpoint that
// is not host:port, kUnavailable when no server answers there, kUnimplemented in a build
// without ggml's RPC backend.
Status add_rpc_server(const std::string& endpoint);

// The MemAvailable line of /proc/meminfo's text, in bytes; nullopt when it is missing or malformed
// (kernels before 3.14 lack it).
std::optional<uint64_t> mem_available_bytes(const std::string& meminfo_text);

// The first "flags" line of /proc/cpuinfo's text, split into words ("sse4_2", "avx2", ...); empty
// when there is none (e.g. on ARM, which calls the line "Features").
std::vector<std::string> cpuinfo_flags(const std::string& cpuinfo_text);

}  // namespace tandem::devices
