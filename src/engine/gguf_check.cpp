// check_gguf_file: a cheap look at a GGUF file's header and tensor table, so that a missing,
// truncated or foreign file gets a precise error instead of a generic load failure.
#include <gguf.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "engine/engine.h"

namespace tandem::engine {

Status check_gguf_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return make_error(ErrorCode::kNotFound, "model file not found: " + path);
  }
  const auto file_size = std::filesystem::file_size(path, ec);
  char magic[4] = {};
  std::ifstream in(path, std::ios::binary);
  if (!in.read(magic, sizeof(magic))) {
    return make_error(ErrorCode::kDataLoss, path + " is not a GGUF file (" + std::to_string(file_size) + " bytes)");
  }
  if (std::memcmp(magic, "GGUF", 4) != 0) return make_error(ErrorCode::kDataLoss, path + " is not a GGUF file (bad magic)");

  gguf_init_params params{/*no_alloc=*/true, /*ctx=*/nullptr};
  gguf_context* gguf = gguf_init_from_file(path.c_str(), params);
  if (!gguf) return make_error(ErrorCode::kDataLoss, path + ": the GGUF header or metadata is corrupt or truncated");
  size_t data_end = gguf_get_data_offset(gguf);
  for (int64_t i = 0; i < gguf_get_n_tensors(gguf); ++i) {
    data_end = std::max(data_end, gguf_get_data_offset(gguf) + gguf_get_tensor_offset(gguf, i) +
                                      gguf_get_tensor_size(gguf, i));
  }
  gguf_free(gguf);
  if (data_end > file_size) {
    return make_error(ErrorCode::kDataLoss, path + " is truncated: tensors need " + std::to_string(data_end) +
                                                " bytes, the file has " + std::to_string(file_size));
  }
  return {};
}

}  // namespace tandem::engine
