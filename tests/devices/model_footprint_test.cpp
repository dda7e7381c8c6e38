#include "devices/model_footprint.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/test_support.h"

namespace tandem::devices {
namespace {

// Gemma 3 270M: 18 blocks, one KV head of 256 for keys and values (llama.cpp's load log says
// n_layer = 18, n_head_kv = 1, n_embd_head_k = n_embd_head_v = 256).
TEST(ReadModelShape, ReadsLayersAndKvCacheFromGgufMetadata) {
  const std::string path = testing::chat_model_path();
  auto shape = read_model_shape(path);
  ASSERT_TRUE(shape) << shape.error().to_string();
  EXPECT_EQ(shape->architecture, "gemma3");
  EXPECT_EQ(shape->layers, 18);
  EXPECT_EQ(shape->kv_bytes_per_token, 18u * 1 * (256 + 256) * 2);
  EXPECT_EQ(shape->file_bytes, std::filesystem::file_size(path));
  EXPECT_GT(shape->training_context, 0);
  EXPECT_FALSE(shape->name.empty());
}

TEST(ReadModelShape, AMissingFileIsNotFound) {
  testing::TempDir dir;
  auto shape = read_model_shape(dir.file("absent.gguf"));
  ASSERT_FALSE(shape);
  EXPECT_EQ(shape.error().code, ErrorCode::kNotFound);
}

TEST(ReadModelShape, AFileThatIsNotGgufIsDataLoss) {
  testing::TempDir dir;
  std::ofstream(dir.file("notes.gguf")) << "these are not weights";
  auto shape = read_model_shape(dir.file("notes.gguf"));
  ASSERT_FALSE(shape);
  EXPECT_EQ(shape.error().code, ErrorCode::kDataLoss);
}

}  // namespace
}  // namespace tandem::devices
