// BERT safetensors -> GGUF. The metadata, tensor names and vocabulary follow llama.cpp's
// conversion/bert.py (class BertModel) and gguf-py's SpecialVocab for a BertTokenizer folder.
//
// Steps: read config/tokenizer/pooling JSON, map model.safetensors (parsed here: 8-byte length,
// JSON header, raw data), check every tensor against the shapes config.json implies, build the
// GGUF metadata with ggml's gguf API, then stream the tensor data after it ourselves so that large
// models never need a second copy in memory and progress can be reported per tensor.
#include "engine/bert_converter.h"

#include <fcntl.h>
#include <ggml.h>
#include <gguf.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <vector>

#include "core/log.h"
#include "engine/engine.h"

namespace tandem::engine {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// gguf-py's TokenType values.
constexpr int32_t kTokenNormal = 1;
constexpr int32_t kTokenControl = 3;
constexpr int32_t kTokenUnused = 5;

// llama.cpp's LLAMA_POOLING_TYPE_* values.
constexpr uint32_t kPoolingMean = 1;
constexpr uint32_t kPoolingCls = 2;
constexpr uint32_t kPoolingLast = 3;

// llama.cpp's LLAMA_FTYPE_* values: what most of the file's weights are.
uint32_t file_type(WeightType matrices) {
  switch (matrices) {
    case WeightType::kF32:
      return 0;  // LLAMA_FTYPE_ALL_F32
    case WeightType::kF16:
      return 1;  // LLAMA_FTYPE_MOSTLY_F16
    case WeightType::kBF16:
      return 32;  // LLAMA_FTYPE_MOSTLY_BF16
  }
  return 0;
}

ggml_type ggml_type_of(WeightType type) {
  switch (type) {
    case WeightType::kF32:
      return GGML_TYPE_F32;
    case WeightType::kF16:
      return GGML_TYPE_F16;
    case WeightType::kBF16:
      return GGML_TYPE_BF16;
  }
  return GGML_TYPE_F32;
}

Error not_found(const std::string& what) { return make_error(ErrorCode::kNotFound, what); }
Error data_loss(const std::string& what) { return make_error(ErrorCode::kDataLoss, what); }
Error invalid(const std::string& what) { return make_error(ErrorCode::kInvalidArgument, what); }

// A read-only mapping of a whole file; the safetensors data is used in place.
class MappedFile {
 public:
  static Result<std::unique_ptr<MappedFile>> open(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return not_found("cannot open " + path + ": " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      ::close(fd);
      return data_loss("cannot stat " + path + ": " + std::strerror(errno));
    }
    auto file = std::unique_ptr<MappedFile>(new MappedFile());
    file->size_ = static_cast<size_t>(st.st_size);
    if (file->size_ > 0) {
      void* data = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (data == MAP_FAILED) {
        ::close(fd);
        return data_loss("cannot map " + path + ": " + std::strerror(errno));
      }
      file->data_ = static_cast<const uint8_t*>(data);
    }
    ::close(fd);  // the mapping stays valid
    return file;
  }

  ~MappedFile() {
    if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  MappedFile() = default;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

struct SafetensorsTensor {
  std::string dtype;
  std::vector<int64_t> shape;  // outermost dimension first, as PyTorch writes it
  const uint8_t* data = nullptr;
  size_t size = 0;
};

std::optional<size_t> dtype_size(const std::string& dtype) {
  static const std::map<std::string, size_t> sizes = {
      {"F64", 8}, {"F32", 4}, {"F16", 2},  {"BF16", 2}, {"I64", 8},     {"I32", 4},     {"I16", 2},
      {"I8", 1},  {"U64", 8}, {"U32", 4},  {"U16", 2},  {"U8", 1},      {"BOOL", 1},    {"F8_E4M3", 1},
      {"F8_E5M2", 1}};
  auto it = sizes.find(dtype);
  if (it == sizes.end()) return std::nullopt;
  return it->second;
}

// Validates the header against the file: every tensor's byte range lies inside the data section
// and matches its shape and dtype. Unknown dtypes are accepted here (only their range is checked)
// because the tensors we skip may use them; the ones we convert are checked later.
Result<std::map<std::string, SafetensorsTensor>> parse_safetensors(const MappedFile& file, const std::string& path) {
  if (file.size() < 8) return data_loss(path + " is truncated: " + std::to_string(file.size()) + " bytes, no header");
  uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | file.data()[i];  // little-endian
  if (header_size > file.size() - 8) {
    return data_loss(path + " is truncated or corrupt: header length " + std::to_string(header_size) +
                     " exceeds the file size " + std::to_string(file.size()));
  }
  const auto* header_begin = reinterpret_cast<const char*>(file.data() + 8);
  const uint8_t* data_begin = file.data() + 8 + header_size;
  const size_t data_size = file.size() - 8 - header_size;

  json header = json::parse(header_begin, header_begin + header_size, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object()) return data_loss(path + ": the safetensors header is not valid JSON");

  std::map<std::string, SafetensorsTensor> tensors;
  try {
    for (const auto& [name, entry] : header.items()) {
      if (name == "__metadata__") continue;
      const auto bad = [&](const std::string& why) { return data_loss(path + ": tensor '" + name + "' " + why); };
      if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") || !entry.contains("data_offsets")) {
        return bad("lacks dtype, shape or data_offsets");
      }
      SafetensorsTensor tensor;
      tensor.dtype = entry.at("dtype").get<std::string>();
      const auto& offsets = entry.at("data_offsets");
      if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
          !offsets[1].is_number_unsigned()) {
        return bad("has malformed data_offsets");
      }
      const auto begin = offsets[0].get<uint64_t>();
      const auto end = offsets[1].get<uint64_t>();
      if (begin > end || end > data_size) {
        return bad("has data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                   ") outside the data section of " + std::to_string(data_size) + " bytes (truncated file?)");
      }
      uint64_t elements = 1;
      for (const auto& dim : entry.at("shape")) {
        if (!dim.is_number_unsigned()) return bad("has a malformed shape");
        tensor.shape.push_back(dim.get<int64_t>());
        elements *= dim.get<uint64_t>();
      }
      if (auto element_size = dtype_size(tensor.dtype); element_size && elements * *element_size != end - begin) {
        return bad("holds " + std::to_string(end - begin) + " bytes but its shape and dtype need " +
                   std::to_string(elements * *element_size));
      }
      tensor.data = data_begin + begin;
      tensor.size = end - begin;
      tensors.emplace(name, std::move(tensor));
    }
  } catch (const json::exception& e) {
    return data_loss(path + ": malformed safetensors header: " + e.what());
  }
  return tensors;
}

// Never throws: a file we cannot even stat counts as absent.
bool file_exists(const fs::path& path) {
  std::error_code ec;
  return fs::is_regular_file(path, ec);
}

Result<json> read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return not_found("missing " + path.string());
  json value = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return data_loss(path.string() + " is not valid JSON");
  return value;
}

struct BertConfig {
  int64_t hidden = 0;
  int64_t intermediate = 0;
  int64_t heads = 0;
  int64_t layers = 0;
  int64_t max_positions = 0;
  int64_t type_vocab = 0;
  int64_t vocab = 0;
  float layer_norm_eps = 1e-12f;
};

Result<BertConfig> read_bert_config(const fs::path& dir) {
  auto config = read_json(dir / "config.json");
  if (!config) return config.error();
  const std::string path = (dir / "config.json").string();
  try {
    const auto model_type = config->value("model_type", std::string());
    if (model_type != "bert") return invalid(path + ": model_type '" + model_type + "' is not 'bert'");
    if (config->value("position_embedding_type", std::string("absolute")) != "absolute") {
      return invalid(path + ": only absolute position embeddings are supported");
    }
    BertConfig c;
    c.hidden = config->at("hidden_size").get<int64_t>();
    c.intermediate = config->at("intermediate_size").get<int64_t>();
    c.heads = config->at("num_attention_heads").get<int64_t>();
    c.layers = config->at("num_hidden_layers").get<int64_t>();
    c.max_positions = config->at("max_position_embeddings").get<int64_t>();
    c.type_vocab = config->value("type_vocab_size", int64_t{2});
    c.vocab = config->at("vocab_size").get<int64_t>();
    c.layer_norm_eps = config->value("layer_norm_eps", 1e-12f);
    if (c.hidden <= 0 || c.intermediate <= 0 || c.heads <= 0 || c.hidden % c.heads != 0 || c.layers <= 0 ||
        c.max_positions <= 0 || c.type_vocab <= 0 || c.vocab <= 0) {
      return invalid(path + ": inconsistent sizes (hidden_size, heads, layers, vocab_size must be positive)");
    }
    return c;
  } catch (const json::exception& e) {
    return invalid(path + ": " + e.what());
  }
}

// sentence-transformers names its pooling module in modules.json; older folders just have
// 1_Pooling/. No pooling information: leave the key out and llama.cpp uses its default.
Result<std::optional<uint32_t>> read_pooling_type(const fs::path& dir) {
  fs::path pooling_dir = dir / "1_Pooling";
  if (file_exists(dir / "modules.json")) {
    auto modules = read_json(dir / "modules.json");
    if (!modules) return modules.error();
    try {
      for (const auto& module : *modules) {
        if (module.value("type", std::string()).ends_with("Pooling")) pooling_dir = dir / module.value("path", "");
      }
    } catch (const json::exception& e) {
      return data_loss((dir / "modules.json").string() + ": " + e.what());
    }
  }
  const fs::path pooling_path = pooling_dir / "config.json";
  if (!file_exists(pooling_path)) return std::optional<uint32_t>();
  auto pooling = read_json(pooling_path);
  if (!pooling) return pooling.error();
  try {
    if (pooling->value("pooling_mode_mean_tokens", false)) return std::optional<uint32_t>(kPoolingMean);
    if (pooling->value("pooling_mode_cls_token", false)) return std::optional<uint32_t>(kPoolingCls);
    if (pooling->value("pooling_mode_lasttoken", false)) return std::optional<uint32_t>(kPoolingLast);
    const std::string mode = pooling->value("pooling_mode", std::string());  // newer sentence-transformers
    if (mode == "mean") return std::optional<uint32_t>(kPoolingMean);
    if (mode == "cls") return std::optional<uint32_t>(kPoolingCls);
    if (mode == "lasttoken") return std::optional<uint32_t>(kPoolingLast);
  } catch (const json::exception& e) {
    return data_loss(pooling_path.string() + ": " + e.what());
  }
  return invalid(pooling_path.string() + ": unsupported pooling mode (need mean, cls or last token)");
}

struct Vocabulary {
  std::vector<std::string> tokens;  // already in llama.cpp's WPM form
  std::vector<int32_t> types;
  std::map<std::string, uint32_t> special_ids;  // "bos", "eos", "unknown", ... -> id
  bool lowercase = true;
  std::optional<bool> strip_accents;
};

// A special token in tokenizer_config.json is a string or an AddedToken object {"content": ...}.
std::optional<std::string> special_token_text(const json& tokenizer_config, const std::string& key) {
  if (!tokenizer_config.contains(key)) return std::nullopt;
  const auto& value = tokenizer_config.at(key);
  if (value.is_string()) return value.get<std::string>();
  if (value.is_object() && value.contains("content") && value.at("content").is_string()) {
    return value.at("content").get<std::string>();
  }
  return std::nullopt;
}

Result<Vocabulary> read_vocabulary(const fs::path& dir, int64_t vocab_size) {
  std::ifstream in(dir / "vocab.txt", std::ios::binary);
  if (!in) return not_found("missing " + (dir / "vocab.txt").string());
  std::vector<std::string> words;
  std::map<std::string, uint32_t> word_ids;  // the last duplicate wins, as in BertTokenizer's dict
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    word_ids[line] = static_cast<uint32_t>(words.size());
    words.push_back(std::move(line));
  }
  if (static_cast<int64_t>(words.size()) > vocab_size) {
    return invalid((dir / "vocab.txt").string() + " has " + std::to_string(words.size()) +
                   " entries, more than vocab_size " + std::to_string(vocab_size));
  }

  json tokenizer_config = json::object();
  if (file_exists(dir / "tokenizer_config.json")) {
    auto loaded = read_json(dir / "tokenizer_config.json");
    if (!loaded) return loaded.error();
    if (loaded->is_object()) tokenizer_config = *loaded;
  }

  Vocabulary vocab;
  std::vector<bool> is_control(words.size(), false);
  // gguf-py's SpecialVocab: BERT has no bos/eos of its own, so [CLS] and [SEP] stand in.
  const std::vector<std::tuple<std::string, std::string, std::string, bool>> specials = {
      // gguf key suffix, tokenizer_config key, default text, required
      {"unknown", "unk_token", "[UNK]", true}, {"seperator", "sep_token", "[SEP]", true},
      {"padding", "pad_token", "[PAD]", false}, {"cls", "cls_token", "[CLS]", true},
      {"mask", "mask_token", "[MASK]", false}};
  for (const auto& [gguf_key, config_key, fallback, required] : specials) {
    const std::string text = special_token_text(tokenizer_config, config_key).value_or(fallback);
    auto it = word_ids.find(text);
    if (it == word_ids.end()) {
      if (required) return invalid((dir / "vocab.txt").string() + " lacks the special token " + text);
      continue;
    }
    vocab.special_ids[gguf_key] = it->second;
    is_control[it->second] = true;
  }
  vocab.special_ids["bos"] = vocab.special_ids.at("cls");
  vocab.special_ids["eos"] = vocab.special_ids.at("seperator");

  if (tokenizer_config.contains("do_lower_case") && tokenizer_config.at("do_lower_case").is_boolean()) {
    vocab.lowercase = tokenizer_config.at("do_lower_case").get<bool>();
  }
  if (tokenizer_config.contains("strip_accents") && tokenizer_config.at("strip_accents").is_boolean()) {
    vocab.strip_accents = tokenizer_config.at("strip_accents").get<bool>();
  }

  // llama.cpp's WPM tokenizer works on a "phantom space" vocabulary: word-initial pieces get a
  // leading U+2581, continuation pieces lose their "##"; control tokens stay as they are.
  for (size_t id = 0; id < words.size(); ++id) {
    const std::string& word = words[id];
    if (is_control[id]) {
      vocab.tokens.push_back(word);
      vocab.types.push_back(kTokenControl);
    } else {
      vocab.tokens.push_back(word.starts_with("##") ? word.substr(2) : "\u2581" + word);
      vocab.types.push_back(kTokenNormal);
    }
  }
  for (auto id = static_cast<int64_t>(words.size()); id < vocab_size; ++id) {
    vocab.tokens.push_back("[PAD" + std::to_string(id) + "]");
    vocab.types.push_back(kTokenUnused);
  }
  return vocab;
}

// Hugging Face name -> GGUF name, after the renames bert.py applies. nullopt: a tensor BERT
// embeddings do not use (pooler, masked-LM head, position ids), "" : a name we do not know.
std::optional<std::string> gguf_tensor_name(std::string name) {
  if (name.starts_with("bert.")) name = name.substr(5);
  if (name.ends_with(".gamma")) name = name.substr(0, name.size() - 6) + ".weight";
  if (name.ends_with(".beta")) name = name.substr(0, name.size() - 5) + ".bias";
  if (name == "embeddings.position_ids" || name.starts_with("pooler.") || name.starts_with("cls.predictions") ||
      name.starts_with("cls.seq_relationship")) {
    return std::nullopt;
  }
  static const std::map<std::string, std::string> embeddings = {
      {"embeddings.word_embeddings.weight", "token_embd.weight"},
      {"embeddings.token_type_embeddings.weight", "token_types.weight"},
      {"embeddings.position_embeddings.weight", "position_embd.weight"},
      {"embeddings.LayerNorm.weight", "token_embd_norm.weight"},
      {"embeddings.LayerNorm.bias", "token_embd_norm.bias"}};
  if (auto it = embeddings.find(name); it != embeddings.end()) return it->second;

  static const std::map<std::string, std::string> layer_parts = {
      {"attention.self.query", "attn_q"},         {"attention.self.key", "attn_k"},
      {"attention.self.value", "attn_v"},         {"attention.output.dense", "attn_output"},
      {"attention.output.LayerNorm", "attn_output_norm"}, {"intermediate.dense", "ffn_up"},
      {"output.dense", "ffn_down"},               {"output.LayerNorm", "layer_output_norm"}};
  static const std::regex layer_pattern(R"(encoder\.layer\.(\d+)\.(.+)\.(weight|bias))");
  std::smatch match;
  if (std::regex_match(name, match, layer_pattern)) {
    if (auto it = layer_parts.find(match[2].str()); it != layer_parts.end()) {
      return "blk." + match[1].str() + "." + it->second + "." + match[3].str();
    }
  }
  return std::string();
}

struct PlannedTensor {
  std::string gguf_name;
  std::vector<int64_t> shape;  // Hugging Face order
  ggml_type type = GGML_TYPE_F32;  // as written to the GGUF
  const SafetensorsTensor* source = nullptr;
  std::string source_name;
};

// Every tensor llama.cpp's BERT graph loads, with the shape config.json implies and the type it is
// written as: `matrices` for the token embeddings and the layers' matrices, F32 for the rest.
std::vector<PlannedTensor> plan_tensors(const BertConfig& c, WeightType matrices) {
  std::vector<PlannedTensor> plan;
  auto add = [&](std::string gguf_name, std::vector<int64_t> shape) {
    PlannedTensor planned;
    planned.gguf_name = std::move(gguf_name);
    planned.shape = std::move(shape);
    plan.push_back(std::move(planned));
  };
  auto add_matrix = [&](std::string gguf_name, std::vector<int64_t> shape) {
    add(std::move(gguf_name), std::move(shape));
    plan.back().type = ggml_type_of(matrices);
  };
  add_matrix("token_embd.weight", {c.vocab, c.hidden});
  add("token_types.weight", {c.type_vocab, c.hidden});
  add("position_embd.weight", {c.max_positions, c.hidden});
  add("token_embd_norm.weight", {c.hidden});
  add("token_embd_norm.bias", {c.hidden});
  for (int64_t i = 0; i < c.layers; ++i) {
    const std::string blk = "blk." + std::to_string(i) + ".";
    for (const char* part : {"attn_q", "attn_k", "attn_v", "attn_output"}) {
      add_matrix(blk + part + ".weight", {c.hidden, c.hidden});
      add(blk + part + ".bias", {c.hidden});
    }
    add(blk + "attn_output_norm.weight", {c.hidden});
    add(blk + "attn_output_norm.bias", {c.hidden});
    add_matrix(blk + "ffn_up.weight", {c.intermediate, c.hidden});
    add(blk + "ffn_up.bias", {c.intermediate});
    add_matrix(blk + "ffn_down.weight", {c.hidden, c.intermediate});
    add(blk + "ffn_down.bias", {c.hidden});
    add(blk + "layer_output_norm.weight", {c.hidden});
    add(blk + "layer_output_norm.bias", {c.hidden});
  }
  return plan;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

// Matches the safetensors tensors to the plan; refuses unknown, missing, misshapen or
// non-float tensors so that llama.cpp never sees a model it would misread.
Status bind_sources(const std::map<std::string, SafetensorsTensor>& tensors, const std::string& path,
                    std::vector<PlannedTensor>& plan) {
  std::map<std::string, PlannedTensor*> by_name;
  for (auto& planned : plan) by_name[planned.gguf_name] = &planned;
  for (const auto& [name, tensor] : tensors) {
    auto gguf_name = gguf_tensor_name(name);
    if (!gguf_name) continue;
    auto it = by_name.find(*gguf_name);
    if (it == by_name.end()) return invalid(path + ": unknown tensor '" + name + "' (not a plain BERT model?)");
    if (it->second->source) return invalid(path + ": tensors '" + it->second->source_name + "' and '" + name + "' collide");
    it->second->source = &tensor;
    it->second->source_name = name;
  }
  for (const auto& planned : plan) {
    if (!planned.source) return data_loss(path + " lacks the tensor for " + planned.gguf_name);
    const auto& src = *planned.source;
    if (src.shape != planned.shape) {
      return data_loss(path + ": tensor '" + planned.source_name + "' has shape " + shape_text(src.shape) +
                       ", config.json implies " + shape_text(planned.shape));
    }
    if (src.dtype != "F32" && src.dtype != "F16" && src.dtype != "BF16") {
      return invalid(path + ": tensor '" + planned.source_name + "' has unsupported dtype " + src.dtype +
                     " (F32, F16 or BF16 expected)");
    }
  }
  return {};
}

struct GgufDeleter {
  void operator()(gguf_context* ctx) const { gguf_free(ctx); }
};
struct GgmlDeleter {
  void operator()(ggml_context* ctx) const { ggml_free(ctx); }
};

void set_metadata(gguf_context* gguf, const BertConfig& c, std::optional<uint32_t> pooling, const Vocabulary& vocab,
                  const std::string& model_name, WeightType matrices) {
  gguf_set_val_str(gguf, "general.architecture", "bert");
  gguf_set_val_str(gguf, "general.name", model_name.c_str());
  gguf_set_val_u32(gguf, "general.file_type", file_type(matrices));
  gguf_set_val_u32(gguf, "bert.block_count", static_cast<uint32_t>(c.layers));
  gguf_set_val_u32(gguf, "bert.context_length", static_cast<uint32_t>(c.max_positions));
  gguf_set_val_u32(gguf, "bert.embedding_length", static_cast<uint32_t>(c.hidden));
  gguf_set_val_u32(gguf, "bert.feed_forward_length", static_cast<uint32_t>(c.intermediate));
  gguf_set_val_u32(gguf, "bert.attention.head_count", static_cast<uint32_t>(c.heads));
  gguf_set_val_f32(gguf, "bert.attention.layer_norm_epsilon", c.layer_norm_eps);
  gguf_set_val_bool(gguf, "bert.attention.causal", false);
  if (pooling) gguf_set_val_u32(gguf, "bert.pooling_type", *pooling);

  gguf_set_val_u32(gguf, "tokenizer.ggml.token_type_count", static_cast<uint32_t>(c.type_vocab));
  gguf_set_val_str(gguf, "tokenizer.ggml.model", "bert");
  std::vector<const char*> token_texts;
  token_texts.reserve(vocab.tokens.size());
  for (const auto& token : vocab.tokens) token_texts.push_back(token.c_str());
  gguf_set_arr_str(gguf, "tokenizer.ggml.tokens", token_texts.data(), token_texts.size());
  gguf_set_arr_data(gguf, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, vocab.types.data(), vocab.types.size());
  for (const auto& [kind, id] : vocab.special_ids) {
    gguf_set_val_u32(gguf, ("tokenizer.ggml." + kind + "_token_id").c_str(), id);
  }
  // What SpecialVocab reads from BERT's "[CLS] $A [SEP]" post-processor.
  gguf_set_val_bool(gguf, "tokenizer.ggml.add_bos_token", true);
  gguf_set_val_bool(gguf, "tokenizer.ggml.add_eos_token", true);
  gguf_set_val_bool(gguf, "tokenizer.ggml.normalizer.lowercase", vocab.lowercase);
  if (vocab.strip_accents) gguf_set_val_bool(gguf, "tokenizer.ggml.normalizer.strip_accents", *vocab.strip_accents);
}

class OutputFile {
 public:
  explicit OutputFile(std::string path) : path_(std::move(path)), file_(std::fopen(path_.c_str(), "wb")) {}
  ~OutputFile() {
    if (file_) std::fclose(file_);
  }
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  bool is_open() const { return file_ != nullptr; }
  bool write(const void* data, size_t size) {
    written_ += size;
    return std::fwrite(data, 1, size, file_) == size;
  }
  bool pad_to(size_t alignment) {
    static const char zeros[64] = {};
    const size_t padding = (alignment - written_ % alignment) % alignment;
    return padding == 0 || write(zeros, padding);
  }
  // Flushed to disk before the rename, so a crash never leaves a short file under the final name.
  bool close() {
    bool ok = std::fflush(file_) == 0 && ::fsync(::fileno(file_)) == 0;
    ok = std::fclose(file_) == 0 && ok;
    file_ = nullptr;
    return ok;
  }

 private:
  std::string path_;
  FILE* file_;
  size_t written_ = 0;
};

// Writes one tensor as `type` through bounded buffers: the source is read into F32 (exact from
// F16/BF16), then rounded to the output type (ggml rounds to nearest even).
bool write_tensor(OutputFile& out, const SafetensorsTensor& src, ggml_type type) {
  if (src.dtype == "F32" && type == GGML_TYPE_F32) return out.write(src.data, src.size);
  constexpr size_t kChunk = 1 << 16;
  const size_t source_size = src.dtype == "F32" ? sizeof(float) : sizeof(uint16_t);
  const size_t count = src.size / source_size;
  std::vector<uint16_t> halves(kChunk);  // aligned copies: the mapped data may sit at an odd offset
  std::vector<float> floats(kChunk);
  for (size_t done = 0; done < count; done += kChunk) {
    const auto n = static_cast<int64_t>(std::min(kChunk, count - done));
    const uint8_t* chunk = src.data + done * source_size;
    if (src.dtype == "F32") {
      std::memcpy(floats.data(), chunk, n * sizeof(float));
    } else {
      std::memcpy(halves.data(), chunk, n * sizeof(uint16_t));
      if (src.dtype == "F16") {
        ggml_fp16_to_fp32_row(reinterpret_cast<const ggml_fp16_t*>(halves.data()), floats.data(), n);
      } else {
        ggml_bf16_to_fp32_row(reinterpret_cast<const ggml_bf16_t*>(halves.data()), floats.data(), n);
      }
    }
    bool written = false;
    if (type == GGML_TYPE_F32) {
      written = out.write(floats.data(), n * sizeof(float));
    } else {
      if (type == GGML_TYPE_F16) {
        ggml_fp32_to_fp16_row(floats.data(), reinterpret_cast<ggml_fp16_t*>(halves.data()), n);
      } else {
        ggml_fp32_to_bf16_row(floats.data(), reinterpret_cast<ggml_bf16_t*>(halves.data()), n);
      }
      written = out.write(halves.data(), n * sizeof(uint16_t));
    }
    if (!written) return false;
  }
  return true;
}

Status write_gguf(const std::string& out_path, gguf_context* gguf, const std::vector<PlannedTensor>& plan,
                  const std::function<void(int, int)>& progress) {
  const std::string temp_path = out_path + ".partial";
  auto fail = [&](const std::string& what) {
    const std::string reason = std::strerror(errno);
    std::error_code ec;
    fs::remove(temp_path, ec);
    return make_error(ErrorCode::kInternal, what + " " + temp_path + ": " + reason);
  };
  {
    OutputFile out(temp_path);
    if (!out.is_open()) return make_error(ErrorCode::kInvalidArgument, "cannot create " + temp_path + ": " + std::strerror(errno));
    // The metadata block ends padded to the alignment; gguf_add_tensor recorded each tensor's
    // offset as the previous one padded to the same alignment, which the loop reproduces.
    std::vector<uint8_t> meta(gguf_get_meta_size(gguf));
    gguf_get_meta_data(gguf, meta.data());
    if (!out.write(meta.data(), meta.size())) return fail("cannot write");
    const size_t alignment = gguf_get_alignment(gguf);
    const int total = static_cast<int>(plan.size());
    if (progress) progress(0, total);
    for (int i = 0; i < total; ++i) {
      if (!write_tensor(out, *plan[i].source, plan[i].type) || !out.pad_to(alignment)) return fail("cannot write");
      if (progress) progress(i + 1, total);
    }
    if (!out.close()) return fail("cannot flush");
  }
  std::error_code ec;
  fs::rename(temp_path, out_path, ec);
  if (ec) {
    fs::remove(temp_path, ec);
    return make_error(ErrorCode::kInternal, "cannot rename " + temp_path + " to " + out_path + ": " + ec.message());
  }
  return {};
}

}  // namespace

Result<WeightType> parse_weight_type(const std::string& name) {
  if (name == "f32") return WeightType::kF32;
  if (name == "f16") return WeightType::kF16;
  if (name == "bf16") return WeightType::kBF16;
  return invalid("unknown weight type '" + name + "' (f32, f16 or bf16)");
}

Status convert_bert_to_gguf(const std::string& hf_dir, const std::string& out_path, const ConvertOptions& options) {
  if (options.min_similarity && !(*options.min_similarity > 0 && *options.min_similarity < 1)) {
    return make_error(
        ErrorCode::kInvalidArgument,
        fmt::format("the minimum similarity must be a cosine between 0 and 1, not {}", *options.min_similarity));
  }
  const fs::path dir(hf_dir);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return not_found("model folder not found: " + hf_dir);

  auto config = read_bert_config(dir);
  if (!config) return config.error();
  auto pooling = read_pooling_type(dir);
  if (!pooling) return pooling.error();
  auto vocab = read_vocabulary(dir, config->vocab);
  if (!vocab) return vocab.error();

  const std::string weights_path = (dir / "model.safetensors").string();
  if (!file_exists(weights_path)) return not_found("missing " + weights_path);
  auto weights = MappedFile::open(weights_path);
  if (!weights) return weights.error();
  auto tensors = parse_safetensors(**weights, weights_path);
  if (!tensors) return tensors.error();
  auto plan = plan_tensors(*config, options.matrix_type);
  if (auto st = bind_sources(*tensors, weights_path, plan); !st) return st;

  // Tensor descriptions only (no_alloc): the data is streamed from the mapping in write_gguf.
  ggml_init_params params{ggml_tensor_overhead() * plan.size(), nullptr, /*no_alloc=*/true};
  std::unique_ptr<ggml_context, GgmlDeleter> ggml(ggml_init(params));
  std::unique_ptr<gguf_context, GgufDeleter> gguf(gguf_init_empty());
  if (!ggml || !gguf) return make_error(ErrorCode::kInternal, "ggml could not allocate the GGUF context");

  std::string model_name = dir.filename().string();
  if (model_name.empty()) model_name = dir.parent_path().filename().string();
  set_metadata(gguf.get(), *config, *pooling, *vocab, model_name, options.matrix_type);
  if (options.min_similarity) {
    gguf_set_val_f32(gguf.get(), kMinSimilarityKey, static_cast<float>(*options.min_similarity));
  }
  for (const auto& planned : plan) {
    std::vector<int64_t> ne(planned.shape.rbegin(), planned.shape.rend());  // ggml: innermost first
    ggml_tensor* tensor = ggml_new_tensor(ggml.get(), planned.type, static_cast<int>(ne.size()), ne.data());
    ggml_set_name(tensor, planned.gguf_name.c_str());
    gguf_add_tensor(gguf.get(), tensor);
  }

  const fs::path out_dir = fs::path(out_path).parent_path();
  if (!out_dir.empty()) fs::create_directories(out_dir, ec);
  if (auto st = write_gguf(out_path, gguf.get(), plan, options.progress); !st) return st;
  TANDEM_LOG(kInfo, "convert", "wrote {} ({} tensors, {} layers, vocab {})", out_path, plan.size(), config->layers,
             vocab->tokens.size());
  return {};
}

}  // namespace tandem::engine
