// convert_bert_to_gguf on the real all-MiniLM-L6-v2 folder: the output loads and embeds, F16/BF16
// inputs and outputs give the same vectors as F32, and every kind of broken input is refused
// without leaving a file.
#include "engine/bert_converter.h"

#include <gtest/gtest.h>

#include <gguf.h>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "engine/engine.h"
#include "support/test_support.h"

namespace tandem::engine {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using tandem::testing::TempDir;

EmbedderOptions options_for(const std::string& path) {
  EmbedderOptions options;
  options.model_path = path;
  return options;
}

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_file(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A safetensors file split into its JSON header and data section, to be edited and written back.
struct Safetensors {
  json header;
  std::string data;

  static Safetensors read(const fs::path& path) {
    const std::string bytes = read_file(path);
    uint64_t header_size = 0;
    std::memcpy(&header_size, bytes.data(), 8);
    return {json::parse(bytes.substr(8, header_size)), bytes.substr(8 + header_size)};
  }

  void write(const fs::path& path) const {
    const std::string text = header.dump();
    const uint64_t size = text.size();
    std::string bytes(reinterpret_cast<const char*>(&size), 8);
    write_file(path, bytes + text + data);
  }
};

uint16_t f32_to_f16(float value) {
  // Round-to-nearest for the normal range the weights live in; tiny values flush to zero.
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  const uint32_t sign = (bits >> 16) & 0x8000;
  const int32_t exponent = static_cast<int32_t>((bits >> 23) & 0xff) - 127 + 15;
  const uint32_t mantissa = bits & 0x7fffff;
  if (exponent <= 0) return static_cast<uint16_t>(sign);
  if (exponent >= 31) return static_cast<uint16_t>(sign | 0x7c00);
  uint32_t half = sign | (static_cast<uint32_t>(exponent) << 10) | (mantissa >> 13);
  if (mantissa & 0x1000) ++half;
  return static_cast<uint16_t>(half);
}

uint16_t f32_to_bf16(float value) {
  const uint32_t bits = std::bit_cast<uint32_t>(value);
  return static_cast<uint16_t>((bits + 0x7fff + ((bits >> 16) & 1)) >> 16);
}

// Rewrites every F32 tensor as `dtype` (F16 or BF16), with fresh offsets.
Safetensors with_dtype(const Safetensors& source, const std::string& dtype) {
  Safetensors out{json::object(), {}};
  for (auto& [name, entry] : source.header.items()) {
    if (name == "__metadata__" || entry["dtype"] != "F32") {
      out.header[name] = entry;
      if (name == "__metadata__") continue;
      const auto begin = entry["data_offsets"][0].get<size_t>(), end = entry["data_offsets"][1].get<size_t>();
      out.header[name]["data_offsets"] = {out.data.size(), out.data.size() + end - begin};
      out.data += source.data.substr(begin, end - begin);
      continue;
    }
    const auto begin = entry["data_offsets"][0].get<size_t>(), end = entry["data_offsets"][1].get<size_t>();
    std::string converted((end - begin) / 2, '\0');
    for (size_t i = 0; i < (end - begin) / 4; ++i) {
      float value;
      std::memcpy(&value, source.data.data() + begin + i * 4, 4);
      const uint16_t half = dtype == "F16" ? f32_to_f16(value) : f32_to_bf16(value);
      std::memcpy(converted.data() + i * 2, &half, 2);
    }
    out.header[name] = {{"dtype", dtype},
                        {"shape", entry["shape"]},
                        {"data_offsets", {out.data.size(), out.data.size() + converted.size()}}};
    out.data += converted;
  }
  return out;
}

// Each tensor's ggml type, as the GGUF file records it.
std::map<std::string, ggml_type> tensor_types(const std::string& path) {
  std::map<std::string, ggml_type> types;
  gguf_init_params params{/*no_alloc=*/true, /*ctx=*/nullptr};
  gguf_context* gguf = gguf_init_from_file(path.c_str(), params);
  if (!gguf) return types;
  for (int64_t i = 0; i < gguf_get_n_tensors(gguf); ++i)
    types[gguf_get_tensor_name(gguf, i)] = gguf_get_tensor_type(gguf, i);
  gguf_free(gguf);
  return types;
}

ConvertOptions with_type(WeightType type) {
  ConvertOptions options;
  options.matrix_type = type;
  return options;
}

float cosine(const std::vector<float>& a, const std::vector<float>& b) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return static_cast<float>(dot / std::sqrt(na * nb));
}

const std::vector<std::string> kSentences = {"The quick brown fox jumps over the lazy dog.",
                                             "A tokenizer splits text into word pieces.",
                                             "Unbelievably, the café reopened on Tuesday!"};

class BertConverterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(source_ / "model.safetensors"))
        << source_ << " is missing: run scripts/setup.sh (or set TANDEM_TEST_EMBEDDING_SOURCE)";
  }

  // A copy of the model folder whose model.safetensors the test then breaks or rewrites.
  fs::path copy_source(const std::string& name) const {
    const fs::path dir = temp_.path() / name;
    fs::create_directories(dir);
    for (const auto& entry : fs::recursive_directory_iterator(source_)) {
      const auto relative = fs::relative(entry.path(), source_);
      if (entry.is_directory()) fs::create_directories(dir / relative);
      if (entry.is_regular_file() && relative != "model.safetensors") fs::copy_file(entry.path(), dir / relative);
    }
    return dir;
  }

  std::vector<std::vector<float>> embed_with(const std::string& gguf) const {
    auto embedder = Embedder::load(options_for(gguf));
    EXPECT_TRUE(embedder) << embedder.error().to_string();
    if (!embedder) return {};
    auto result = (*embedder)->embed(kSentences);
    EXPECT_TRUE(result) << result.error().to_string();
    return result ? result->vectors : std::vector<std::vector<float>>{};
  }

  // The conversion must fail with `code`, mention `needle`, and leave nothing behind.
  void expect_refused(const fs::path& dir, ErrorCode code, const std::string& needle) const {
    const std::string out = temp_.file("refused.gguf");
    auto st = convert_bert_to_gguf(dir.string(), out);
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error().code, code) << st.error().to_string();
    EXPECT_NE(st.error().message.find(needle), std::string::npos) << st.error().message;
    EXPECT_FALSE(fs::exists(out));
    EXPECT_FALSE(fs::exists(out + ".partial"));
  }

  const fs::path source_ = tandem::testing::embedding_source_dir();
  TempDir temp_;
};

TEST_F(BertConverterTest, ConvertsMiniLmIntoALoadableBertGguf) {
  const std::string out = temp_.file("models/minilm-bf16.gguf");  // parent folder created on demand
  std::vector<std::pair<int, int>> calls;
  ConvertOptions options;  // the defaults: BF16 matrices
  options.min_similarity = 0.5;
  options.progress = [&](int done, int total) { calls.emplace_back(done, total); };
  auto st = convert_bert_to_gguf(source_.string(), out, options);
  ASSERT_TRUE(st.ok()) << st.error().to_string();

  // 5 embedding tensors + 16 per layer x 6 layers, reported from 0 to the end in steps of one.
  ASSERT_EQ(calls.size(), 102u);
  for (size_t i = 0; i < calls.size(); ++i) EXPECT_EQ(calls[i], std::make_pair(static_cast<int>(i), 101));
  EXPECT_FALSE(fs::exists(out + ".partial"));
  // 22.5M parameters in BF16 matrices (2 bytes), 0.2M in F32 vectors and small embeddings, plus the vocabulary.
  EXPECT_GT(fs::file_size(out), 45'500'000u);
  EXPECT_LT(fs::file_size(out), 47'000'000u);
  EXPECT_TRUE(check_gguf_file(out).ok());
  const auto types = tensor_types(out);
  ASSERT_EQ(types.size(), 101u);
  for (const char* matrix : {"token_embd.weight", "blk.0.attn_q.weight", "blk.5.ffn_down.weight"}) {
    EXPECT_EQ(types.at(matrix), GGML_TYPE_BF16) << matrix;
  }
  for (const char* vector :
       {"position_embd.weight", "token_types.weight", "blk.0.attn_q.bias", "blk.5.layer_output_norm.weight"}) {
    EXPECT_EQ(types.at(vector), GGML_TYPE_F32) << vector;
  }

  auto embedder = Embedder::load(options_for(out));
  ASSERT_TRUE(embedder) << embedder.error().to_string();
  const ModelInfo info = (*embedder)->info();
  EXPECT_EQ((*embedder)->dimensions(), 384);
  EXPECT_EQ(info.training_context, 512);
  EXPECT_NE(info.description.find("bert"), std::string::npos) << info.description;
  EXPECT_NEAR(static_cast<double>(info.parameters), 22.57e6, 0.05e6);  // MiniLM-L6 without the pooler
  ASSERT_TRUE((*embedder)->calibrated_min_similarity().has_value()) << "the GGUF carries " << kMinSimilarityKey;
  EXPECT_NEAR(*(*embedder)->calibrated_min_similarity(), 0.5, 1e-6);

  // [CLS] the quick brown fox jumps over the lazy dog . [SEP]: whole words found in the vocabulary.
  auto result = (*embedder)->embed({kSentences[0]});
  ASSERT_TRUE(result) << result.error().to_string();
  EXPECT_EQ(result->prompt_tokens, 12);
}

TEST_F(BertConverterTest, ReplacesAnExistingOutputAtomically) {
  const std::string out = temp_.file("model.gguf");
  write_file(out, "stale contents");
  ASSERT_TRUE(convert_bert_to_gguf(source_.string(), out).ok());
  EXPECT_TRUE(check_gguf_file(out).ok());
  auto embedder = Embedder::load(options_for(out));
  ASSERT_TRUE(embedder) << embedder.error().to_string();
  EXPECT_FALSE((*embedder)->calibrated_min_similarity().has_value()) << "none given, none stored";
}

TEST_F(BertConverterTest, AMinimumSimilarityOutsideZeroToOneIsRefused) {
  for (const double cosine : {0.0, 1.0, -0.2, 1.5}) {
    const std::string out = temp_.file("refused.gguf");
    ConvertOptions options;
    options.min_similarity = cosine;
    auto st = convert_bert_to_gguf(source_.string(), out, options);
    ASSERT_FALSE(st.ok()) << cosine;
    EXPECT_EQ(st.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(st.error().message.find("between 0 and 1"), std::string::npos) << st.error().message;
    EXPECT_FALSE(fs::exists(out));
  }
}

TEST_F(BertConverterTest, HalfPrecisionInputsGiveTheSameEmbeddings) {
  const std::string f32 = temp_.file("f32.gguf");
  ASSERT_TRUE(convert_bert_to_gguf(source_.string(), f32, with_type(WeightType::kF32)).ok());
  const auto reference = embed_with(f32);
  ASSERT_EQ(reference.size(), kSentences.size());

  const auto original = Safetensors::read(source_ / "model.safetensors");
  for (const std::string dtype : {"F16", "BF16"}) {
    SCOPED_TRACE(dtype);
    const fs::path dir = copy_source(dtype);
    with_dtype(original, dtype).write(dir / "model.safetensors");
    const std::string out = temp_.file(dtype + ".gguf");
    auto st = convert_bert_to_gguf(dir.string(), out, with_type(WeightType::kF32));
    ASSERT_TRUE(st.ok()) << st.error().to_string();
    EXPECT_NEAR(static_cast<double>(fs::file_size(out)), static_cast<double>(fs::file_size(f32)), 1024.0);  // still F32
    const auto vectors = embed_with(out);
    ASSERT_EQ(vectors.size(), reference.size());
    const float floor = dtype == "F16" ? 0.9999f : 0.999f;  // BF16 keeps 8 mantissa bits
    for (size_t i = 0; i < vectors.size(); ++i) EXPECT_GT(cosine(vectors[i], reference[i]), floor) << kSentences[i];
  }
}

TEST_F(BertConverterTest, HalfPrecisionOutputsEmbedLikeF32) {
  const std::string f32 = temp_.file("f32.gguf");
  ASSERT_TRUE(convert_bert_to_gguf(source_.string(), f32, with_type(WeightType::kF32)).ok());
  const auto reference = embed_with(f32);
  ASSERT_EQ(reference.size(), kSentences.size());
  for (const auto& [name, type] : {std::pair{"f16", WeightType::kF16}, std::pair{"bf16", WeightType::kBF16}}) {
    SCOPED_TRACE(name);
    const std::string out = temp_.file(std::string(name) + ".gguf");
    ASSERT_TRUE(convert_bert_to_gguf(source_.string(), out, with_type(type)).ok());
    EXPECT_LT(fs::file_size(out), fs::file_size(f32) * 52 / 100);
    const auto vectors = embed_with(out);
    ASSERT_EQ(vectors.size(), reference.size());
    for (size_t i = 0; i < vectors.size(); ++i) EXPECT_GT(cosine(vectors[i], reference[i]), 0.9999f) << kSentences[i];
  }
}

TEST(WeightTypeTest, NamesParseAndUnknownOnesAreRefused) {
  EXPECT_EQ(*parse_weight_type("f32"), WeightType::kF32);
  EXPECT_EQ(*parse_weight_type("f16"), WeightType::kF16);
  EXPECT_EQ(*parse_weight_type("bf16"), WeightType::kBF16);
  auto unknown = parse_weight_type("q4_0");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(unknown.error().message.find("f32, f16 or bf16"), std::string::npos);
}

TEST_F(BertConverterTest, PoolingModeComesFromThePoolingModule) {
  const std::string mean_model = temp_.file("mean.gguf");
  ASSERT_TRUE(convert_bert_to_gguf(source_.string(), mean_model).ok());
  const fs::path dir = copy_source("cls-pooling");
  fs::copy_file(source_ / "model.safetensors", dir / "model.safetensors");
  auto pooling = json::parse(read_file(dir / "1_Pooling" / "config.json"));
  pooling["pooling_mode_mean_tokens"] = false;
  pooling["pooling_mode_cls_token"] = true;
  write_file(dir / "1_Pooling" / "config.json", pooling.dump());
  const std::string cls_model = temp_.file("cls.gguf");
  ASSERT_TRUE(convert_bert_to_gguf(dir.string(), cls_model).ok());

  const auto mean_vectors = embed_with(mean_model);
  const auto cls_vectors = embed_with(cls_model);
  ASSERT_EQ(cls_vectors.size(), mean_vectors.size());
  for (size_t i = 0; i < cls_vectors.size(); ++i) EXPECT_LT(cosine(cls_vectors[i], mean_vectors[i]), 0.99f);
}

TEST_F(BertConverterTest, MissingFolderOrFilesAreNotFound) {
  expect_refused(temp_.path() / "no-such-model", ErrorCode::kNotFound, "no-such-model");
  const fs::path no_weights = copy_source("no-weights");
  expect_refused(no_weights, ErrorCode::kNotFound, "model.safetensors");
  const fs::path no_vocab = copy_source("no-vocab");
  fs::copy_file(source_ / "model.safetensors", no_vocab / "model.safetensors");
  fs::remove(no_vocab / "vocab.txt");
  expect_refused(no_vocab, ErrorCode::kNotFound, "vocab.txt");
}

TEST_F(BertConverterTest, TruncatedSafetensorsIsDataLoss) {
  const std::string bytes = read_file(source_ / "model.safetensors");
  const fs::path dir = copy_source("truncated");
  write_file(dir / "model.safetensors", bytes.substr(0, bytes.size() / 2));
  expect_refused(dir, ErrorCode::kDataLoss, "outside the data section");

  write_file(dir / "model.safetensors", bytes.substr(0, 5));
  expect_refused(dir, ErrorCode::kDataLoss, "no header");
}

TEST_F(BertConverterTest, CorruptHeaderIsDataLoss) {
  const std::string bytes = read_file(source_ / "model.safetensors");
  const fs::path dir = copy_source("corrupt");

  std::string huge_length = bytes;
  const uint64_t length = uint64_t{1} << 40;
  std::memcpy(huge_length.data(), &length, 8);
  write_file(dir / "model.safetensors", huge_length);
  expect_refused(dir, ErrorCode::kDataLoss, "header length");

  std::string garbage = bytes;
  std::memset(garbage.data() + 8, '#', 64);
  write_file(dir / "model.safetensors", garbage);
  expect_refused(dir, ErrorCode::kDataLoss, "not valid JSON");
}

TEST_F(BertConverterTest, InconsistentTensorsAreRefused) {
  const auto original = Safetensors::read(source_ / "model.safetensors");
  const fs::path dir = copy_source("edited");
  const std::string query = "encoder.layer.0.attention.self.query.weight";

  auto out_of_bounds = original;
  out_of_bounds.header[query]["data_offsets"][1] = original.data.size() + 4;
  out_of_bounds.write(dir / "model.safetensors");
  expect_refused(dir, ErrorCode::kDataLoss, query);

  auto wrong_size = original;
  wrong_size.header[query]["shape"] = {384, 383};
  wrong_size.write(dir / "model.safetensors");
  expect_refused(dir, ErrorCode::kDataLoss, "shape and dtype need");

  auto missing = original;
  missing.header.erase(query);
  missing.write(dir / "model.safetensors");
  expect_refused(dir, ErrorCode::kDataLoss, "blk.0.attn_q.weight");

  auto unsupported = original;
  unsupported.header[query]["dtype"] = "I32";  // same element size: only the dtype check can catch it
  unsupported.write(dir / "model.safetensors");
  expect_refused(dir, ErrorCode::kInvalidArgument, "unsupported dtype I32");

  auto unknown = original;
  unknown.header["encoder.layer.0.attention.self.rotary.weight"] = original.header[query];
  unknown.write(dir / "model.safetensors");
  expect_refused(dir, ErrorCode::kInvalidArgument, "unknown tensor 'encoder.layer.0.attention.self.rotary.weight'");
}

TEST_F(BertConverterTest, NonBertConfigIsInvalidArgument) {
  const fs::path dir = copy_source("not-bert");
  fs::copy_file(source_ / "model.safetensors", dir / "model.safetensors");
  auto config = json::parse(read_file(dir / "config.json"));
  config["model_type"] = "roberta";
  write_file(dir / "config.json", config.dump());
  expect_refused(dir, ErrorCode::kInvalidArgument, "roberta");
}

}  // namespace
}  // namespace tandem::engine
