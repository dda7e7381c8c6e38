#include "devices/model_footprint.h"

#include <gguf.h>

#include <filesystem>
#include <memory>
#include <optional>

namespace tandem::devices {
namespace {

using GgufPtr = std::unique_ptr<gguf_context, decltype(&gguf_free)>;

size_t element_size(gguf_type type) {  // the integer types read_uint understands; 0 for others
  switch (type) {
    case GGUF_TYPE_UINT8:
      return 1;
    case GGUF_TYPE_UINT16:
      return 2;
    case GGUF_TYPE_UINT32:
    case GGUF_TYPE_INT32:
      return 4;
    case GGUF_TYPE_UINT64:
      return 8;
    default:
      return 0;
  }
}

// An unsigned metadata value; an array (a per-layer figure such as head_count_kv in some
// architectures) reads as its largest element, the figure the biggest layer needs.
std::optional<uint64_t> read_uint(const gguf_context* gguf, const std::string& key) {
  const int64_t id = gguf_find_key(gguf, key.c_str());
  if (id < 0) return std::nullopt;
  auto scalar = [](gguf_type type, const void* data) -> std::optional<uint64_t> {
    switch (type) {
      case GGUF_TYPE_UINT8:
        return *static_cast<const uint8_t*>(data);
      case GGUF_TYPE_UINT16:
        return *static_cast<const uint16_t*>(data);
      case GGUF_TYPE_UINT32:
        return *static_cast<const uint32_t*>(data);
      case GGUF_TYPE_INT32:
        return static_cast<uint64_t>(std::max(0, *static_cast<const int32_t*>(data)));
      case GGUF_TYPE_UINT64:
        return *static_cast<const uint64_t*>(data);
      default:
        return std::nullopt;
    }
  };
  const gguf_type type = gguf_get_kv_type(gguf, id);
  if (type != GGUF_TYPE_ARRAY) return scalar(type, gguf_get_val_data(gguf, id));
  const gguf_type element = gguf_get_arr_type(gguf, id);
  const size_t size = element_size(element);
  if (size == 0) return std::nullopt;
  const auto* data = static_cast<const char*>(gguf_get_arr_data(gguf, id));
  std::optional<uint64_t> largest;
  for (size_t i = 0; i < gguf_get_arr_n(gguf, id); ++i) {
    auto value = scalar(element, data + i * size);
    if (value && (!largest || *value > *largest)) largest = value;
  }
  return largest;
}

std::string read_string(const gguf_context* gguf, const char* key) {
  const int64_t id = gguf_find_key(gguf, key);
  if (id < 0 || gguf_get_kv_type(gguf, id) != GGUF_TYPE_STRING) return "";
  return gguf_get_val_str(gguf, id);
}

}  // namespace

Result<ModelShape> read_model_shape(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return make_error(ErrorCode::kNotFound, "model file not found: " + path);
  }
  GgufPtr gguf(gguf_init_from_file(path.c_str(), gguf_init_params{/*no_alloc=*/true, /*ctx=*/nullptr}), &gguf_free);
  if (!gguf) return make_error(ErrorCode::kDataLoss, path + " is not a readable GGUF file");

  ModelShape shape;
  shape.architecture = read_string(gguf.get(), "general.architecture");
  shape.name = read_string(gguf.get(), "general.name");
  if (shape.name.empty()) shape.name = std::filesystem::path(path).stem().string();
  shape.file_bytes = std::filesystem::file_size(path, ec);
  const std::string arch = shape.architecture + ".";
  const auto layers = read_uint(gguf.get(), arch + "block_count");
  if (!layers || *layers == 0) {
    return make_error(ErrorCode::kDataLoss, path + ": the GGUF metadata has no " + arch + "block_count");
  }
  shape.layers = static_cast<int32_t>(*layers);
  shape.training_context = static_cast<int32_t>(read_uint(gguf.get(), arch + "context_length").value_or(0));

  const uint64_t embedding = read_uint(gguf.get(), arch + "embedding_length").value_or(0);
  const uint64_t heads = read_uint(gguf.get(), arch + "attention.head_count").value_or(0);
  const uint64_t kv_heads = read_uint(gguf.get(), arch + "attention.head_count_kv").value_or(heads);
  const uint64_t head_size = heads > 0 ? embedding / heads : 0;
  const uint64_t key_length = read_uint(gguf.get(), arch + "attention.key_length").value_or(head_size);
  const uint64_t value_length = read_uint(gguf.get(), arch + "attention.value_length").value_or(head_size);
  constexpr uint64_t kF16Bytes = 2;
  shape.kv_bytes_per_token = *layers * kv_heads * (key_length + value_length) * kF16Bytes;
  return shape;
}

}  // namespace tandem::devices
