#include "devices/devices.h"

#include <ggml-backend.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <limits>
#include <mutex>
#include <set>
#include <sstream>
#include <utility>

namespace tandem::devices {
namespace {

// /proc files report size 0, so read them as a stream rather than by size. Empty when unreadable
// (not Linux, a sandbox without /proc): callers then keep ggml's own figures.
std::string read_proc_file(const char* path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

DeviceKind kind_of(enum ggml_backend_dev_type type) {  // `enum`: a function shares the name
  switch (type) {
    case GGML_BACKEND_DEVICE_TYPE_CPU:
      return DeviceKind::kCpu;
    case GGML_BACKEND_DEVICE_TYPE_GPU:
      return DeviceKind::kGpu;
    case GGML_BACKEND_DEVICE_TYPE_IGPU:
      return DeviceKind::kIntegratedGpu;
    default:  // ACCEL, and any kind a newer ggml adds
      return DeviceKind::kAccelerator;
  }
}

// ggml's x86 feature names and the /proc/cpuinfo flag that says the CPU has each. Names missing
// here (build options such as OPENMP, other architectures) are kept as ggml reports them.
constexpr std::pair<std::string_view, std::string_view> kX86Flags[] = {
    {"SSE3", "pni"},
    {"SSSE3", "ssse3"},
    {"AVX", "avx"},
    {"AVX_VNNI", "avx_vnni"},
    {"AVX2", "avx2"},
    {"F16C", "f16c"},
    {"FMA", "fma"},
    {"BMI2", "bmi2"},
    {"AVX512", "avx512f"},
    {"AVX512_VBMI", "avx512vbmi"},
    {"AVX512_VNNI", "avx512_vnni"},
    {"AVX512_BF16", "avx512_bf16"},
    {"AMX_INT8", "amx_int8"},
};

bool has_flag(const std::vector<std::string>& flags, std::string_view flag) {
  return std::find(flags.begin(), flags.end(), flag) != flags.end();
}

// ggml lists the features it was compiled with. A binary built on another machine may carry some
// this CPU lacks, so keep only those the CPU has too; and add SSE4.2, which ggml does not list but
// every AVX build also enables (-mavx implies -msse4.2).
std::vector<std::string> cpu_features(ggml_backend_reg_t reg, const std::vector<std::string>& cpu_flags) {
  std::vector<std::string> features;
  auto get_features = reinterpret_cast<ggml_backend_get_features_t>(
      ggml_backend_reg_get_proc_address(reg, "ggml_backend_get_features"));
  if (get_features == nullptr) return features;
  for (const ggml_backend_feature* f = get_features(reg); f->name != nullptr; ++f) {
    const std::string_view name = f->name;
    if (!cpu_flags.empty()) {
      auto known =
          std::find_if(std::begin(kX86Flags), std::end(kX86Flags), [&](const auto& p) { return p.first == name; });
      if (known != std::end(kX86Flags) && !has_flag(cpu_flags, known->second)) continue;
    }
    if (name == "AVX" && has_flag(cpu_flags, "sse4_2")) features.emplace_back("SSE4.2");
    features.emplace_back(name);
  }
  return features;
}

std::vector<std::string> capabilities(const ggml_backend_dev_caps& caps) {
  std::vector<std::string> out;
  if (caps.async) out.emplace_back("async");
  if (caps.host_buffer) out.emplace_back("host_buffer");
  if (caps.buffer_from_host_ptr) out.emplace_back("buffer_from_host_ptr");
  if (caps.events) out.emplace_back("events");
  if (caps.mmap_support) out.emplace_back("mmap");
  return out;
}

// Whether something accepts TCP connections at host:port within a second. ggml's RPC client
// aborts the process when it cannot connect, so Tandem asks first.
bool accepts_connections(const std::string& host, const std::string& port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0) return false;
  bool ok = false;
  for (addrinfo* a = found; a != nullptr && !ok; a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK, a->ai_protocol);
    if (fd < 0) continue;
    if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
      ok = true;
    } else if (errno == EINPROGRESS) {
      pollfd p{fd, POLLOUT, 0};
      int error = 0;
      socklen_t length = sizeof(error);
      ok = poll(&p, 1, 1000) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error == 0;
    }
    close(fd);
  }
  freeaddrinfo(found);
  return ok;
}

}  // namespace

std::string_view device_kind_name(DeviceKind kind) {
  switch (kind) {
    case DeviceKind::kCpu:
      return "cpu";
    case DeviceKind::kGpu:
      return "gpu";
    case DeviceKind::kIntegratedGpu:
      return "igpu";
    case DeviceKind::kAccelerator:
      return "accel";
  }
  return "unknown";
}

std::optional<uint64_t> mem_available_bytes(const std::string& meminfo_text) {
  constexpr std::string_view kKey = "MemAvailable:";
  std::istringstream lines(meminfo_text);
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with(kKey)) continue;
    std::string_view rest = std::string_view(line).substr(kKey.size());
    rest.remove_prefix(std::min(rest.find_first_not_of(" \t"), rest.size()));
    uint64_t kib = 0;
    auto [end, error] = std::from_chars(rest.data(), rest.data() + rest.size(), kib);
    if (error != std::errc() || std::string_view(end, rest.data() + rest.size()) != " kB") return std::nullopt;
    if (kib > std::numeric_limits<uint64_t>::max() / 1024) return std::nullopt;
    return kib * 1024;
  }
  return std::nullopt;
}

std::vector<std::string> cpuinfo_flags(const std::string& cpuinfo_text) {
  std::istringstream lines(cpuinfo_text);
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with("flags")) continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::istringstream words(line.substr(colon + 1));
    std::vector<std::string> flags;
    for (std::string word; words >> word;) flags.push_back(std::move(word));
    return flags;
  }
  return {};
}

Status add_rpc_server(const std::string& endpoint) {
  const auto colon = endpoint.rfind(':');
  int port = 0;
  const char* port_end = endpoint.data() + endpoint.size();
  if (colon == std::string::npos || colon == 0 ||
      std::from_chars(endpoint.data() + colon + 1, port_end, port).ptr != port_end || port < 1 || port > 65535) {
    return make_error(ErrorCode::kInvalidArgument, "RPC server '" + endpoint + "' is not host:port");
  }
  static std::mutex mutex;
  static std::set<std::string> added;
  std::lock_guard lock(mutex);
  if (added.contains(endpoint)) return {};
  if (!accepts_connections(endpoint.substr(0, colon), endpoint.substr(colon + 1))) {
    return make_error(ErrorCode::kUnavailable, "no ggml RPC server answers at " + endpoint + " (devices.rpc_servers)");
  }
  if (ggml_backend_reg_count() == 0) ggml_backend_load_all();
  ggml_backend_reg_t rpc = ggml_backend_reg_by_name("RPC");
  if (rpc == nullptr) {
    return make_error(ErrorCode::kUnimplemented, "this build has no RPC backend (GGML_RPC in cmake/llama.cmake)");
  }
  using AddServer = ggml_backend_reg_t (*)(const char* endpoint);
  auto add_server = reinterpret_cast<AddServer>(ggml_backend_reg_get_proc_address(rpc, "ggml_backend_rpc_add_server"));
  if (add_server == nullptr) return make_error(ErrorCode::kUnimplemented, "ggml's RPC backend cannot add servers");
  ggml_backend_reg_t server = add_server(endpoint.c_str());
  if (server == nullptr)
    return make_error(ErrorCode::kUnavailable, "the RPC server at " + endpoint + " has no devices");
  ggml_backend_register(server);
  added.insert(endpoint);
  return {};
}

std::vector<Device> discover_devices() {
  // Tandem links its backends statically, so they are registered already; a build with
  // GGML_BACKEND_DL has to load them from shared libraries first.
  if (ggml_backend_reg_count() == 0) ggml_backend_load_all();

  std::vector<Device> devices;
  for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
    ggml_backend_dev_t dev = ggml_backend_dev_get(i);
    ggml_backend_dev_props props{};
    ggml_backend_dev_get_props(dev, &props);
    // A meta device only groups other devices for tensor parallelism; they are listed themselves.
    if (props.type == GGML_BACKEND_DEVICE_TYPE_META) continue;
    Device device;
    device.name = props.name != nullptr ? props.name : "";
    device.description = props.description != nullptr ? props.description : "";
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(dev);
    device.backend = ggml_backend_reg_name(reg);
    device.kind = kind_of(props.type);
    device.memory_free = props.memory_free;
    device.memory_total = props.memory_total;
    if (device.kind == DeviceKind::kCpu) {
      // ggml reports all of the CPU's memory as free; what the kernel could hand out is MemAvailable.
      if (auto available = mem_available_bytes(read_proc_file("/proc/meminfo"))) {
        device.memory_free = std::min(*available, device.memory_total);
      }
      device.features = cpu_features(reg, cpuinfo_flags(read_proc_file("/proc/cpuinfo")));
    } else {
      device.features = capabilities(props.caps);
    }
    devices.push_back(std::move(device));
  }
  std::stable_partition(devices.begin(), devices.end(), [](const Device& d) { return d.kind == DeviceKind::kCpu; });
  return devices;
}

}  // namespace tandem::devices
