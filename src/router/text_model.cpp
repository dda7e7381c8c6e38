#include "router/text_model.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <random>

#include "router/calibration.h"

namespace tandem::router {
namespace {

namespace fs = std::filesystem;

constexpr const char* kFormat = "tandem-router/1";
constexpr char kWeightsMagic[8] = {'T', 'N', 'D', 'M', 'R', 'W', '0', '1'};
constexpr char kNetworkMagic[8] = {'T', 'N', 'D', 'M', 'R', 'N', '0', '1'};
constexpr size_t kScriptCheckBytes = 4096;

// The embeddings of the texts `model` embeds, in batches; a zero vector for each of the others.
Result<std::vector<std::vector<float>>> embed_all(const TextModel& model, const std::vector<std::string>& texts,
                                                  size_t batch_size, const ProgressCallback& progress) {
  std::vector<std::vector<float>> vectors(texts.size(),
                                          std::vector<float>(static_cast<size_t>(model.embedder->dimensions()), 0.0F));
  std::vector<size_t> embedded;
  for (size_t i = 0; i < texts.size(); ++i) {
    if (model.embeds(texts[i])) embedded.push_back(i);
  }
  for (size_t first = 0; first < embedded.size(); first += batch_size) {
    const size_t end = std::min(embedded.size(), first + batch_size);
    std::vector<std::string> batch;
    for (size_t k = first; k < end; ++k) batch.push_back(texts[embedded[k]]);
    auto result = model.embedder->embed(batch);
    if (!result) {
      return make_error(result.error().code, "embedding text " + std::to_string(embedded[first] + 1) + "-" +
                                                 std::to_string(embedded[end - 1] + 1) + ": " + result.error().message);
    }
    for (size_t k = first; k < end; ++k) vectors[embedded[k]] = std::move(result->vectors[k - first]);
    if (progress) progress("embedding", end, embedded.size());
  }
  return vectors;
}

// A deterministic `fraction` of each label's examples (none from labels with fewer than five).
std::vector<char> choose_held_out(const std::vector<int32_t>& label_ids, size_t labels, double fraction,
                                  uint64_t seed) {
  std::vector<std::vector<size_t>> by_label(labels);
  for (size_t i = 0; i < label_ids.size(); ++i) by_label[static_cast<size_t>(label_ids[i])].push_back(i);
  std::vector<char> held_out(label_ids.size(), 0);
  std::mt19937_64 rng(seed);
  for (auto& members : by_label) {
    if (members.size() < 5) continue;
    std::shuffle(members.begin(), members.end(), rng);
    const auto take = static_cast<size_t>(fraction * static_cast<double>(members.size()));
    for (size_t i = 0; i < take; ++i) held_out[members[i]] = 1;
  }
  return held_out;
}

Status write_file_atomically(const fs::path& path, const std::string& bytes) {
  const fs::path temp = path.string() + ".tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) return make_error(ErrorCode::kUnavailable, "cannot write " + temp.string() + " (disk full?)");
  }
  std::error_code ec;
  fs::rename(temp, path, ec);
  if (ec) return make_error(ErrorCode::kUnavailable, "cannot write " + path.string() + ": " + ec.message());
  return {};
}

template <typename T>
void append_raw(std::string& out, const T* data, size_t count) {
  out.append(reinterpret_cast<const char*>(data), count * sizeof(T));
}

Result<HiddenLayerNetwork> read_network(const fs::path& path, int32_t inputs, int32_t hidden, int32_t classes) {
  std::ifstream in(path, std::ios::binary);
  char magic[sizeof(kNetworkMagic)] = {};
  uint64_t shape[3] = {};
  in.read(magic, sizeof(magic));
  in.read(reinterpret_cast<char*>(shape), sizeof(shape));
  if (!in || std::memcmp(magic, kNetworkMagic, sizeof(magic)) != 0 || shape[0] != static_cast<uint64_t>(inputs) ||
      shape[1] != static_cast<uint64_t>(hidden) || shape[2] != static_cast<uint64_t>(classes)) {
    return make_error(ErrorCode::kDataLoss, path.string() + " is missing, corrupt or does not match model.json");
  }
  HiddenLayerNetwork network(inputs, hidden, classes, 0);
  std::vector<float> parameters(HiddenLayerNetwork::parameter_count(inputs, hidden, classes));
  in.read(reinterpret_cast<char*>(parameters.data()), static_cast<std::streamsize>(parameters.size() * sizeof(float)));
  if (!in || in.peek() != std::char_traits<char>::eof()) {
    return make_error(ErrorCode::kDataLoss, path.string() + " is truncated or has trailing bytes");
  }
  network.set_parameters(std::move(parameters));
  return network;
}

}  // namespace

Result<TextModel> TextModel::train(const std::vector<std::string>& texts, const std::vector<int32_t>& label_ids,
                                   std::vector<std::string> labels, std::shared_ptr<engine::Embedder> embedder,
                                   const TrainOptions& options, HeldOut& held_out) {
  if (options.hash_bits < 8 || options.hash_bits > 22) {
    return make_error(ErrorCode::kInvalidArgument, "hash bits must be in [8, 22]");
  }
  if (options.max_iterations < 1) return make_error(ErrorCode::kInvalidArgument, "iterations must be >= 1");
  if (!(options.embedding_weight > 0 && options.embedding_weight <= 100)) {
    return make_error(ErrorCode::kInvalidArgument, "the embedding weight must be in (0, 100]");
  }
  if (options.hidden_units < 0 || options.hidden_units > 4096) {
    return make_error(ErrorCode::kInvalidArgument, "hidden units must be in [0, 4096]");
  }
  if (!(options.holdout_fraction >= 0 && options.holdout_fraction < 0.5)) {
    return make_error(ErrorCode::kInvalidArgument, "the held-out fraction must be in [0, 0.5)");
  }
  if (options.embed_batch < 1) return make_error(ErrorCode::kInvalidArgument, "the embedding batch must be >= 1");
  auto scripts = ScriptSet::parse(options.embedding_scripts);
  if (!scripts) return make_error(scripts.error().code, "embedding scripts: " + scripts.error().message);

  TextModel model;
  model.embedder = std::move(embedder);
  model.scripts = std::move(*scripts);
  auto embeddings = embed_all(model, texts, static_cast<size_t>(options.embed_batch), options.progress);
  if (!embeddings) return embeddings.error();
  model.embedding_model = model.embedder->info().name;
  model.features = FeatureSpace(model.embedder->dimensions(), options.hash_bits, options.embedding_weight);
  model.features.fit_idf(texts);
  std::vector<SparseVector> inputs;
  inputs.reserve(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) inputs.push_back(model.features.featurize(texts[i], (*embeddings)[i]));

  TrainingOptions training;
  training.max_iterations = options.max_iterations;
  training.l2 = options.l2;
  training.threads = options.threads;
  const auto classes = static_cast<int32_t>(labels.size());

  // 1. Without the held-out slice, to calibrate on answers the model has not seen.
  const auto is_held_out = choose_held_out(label_ids, labels.size(), options.holdout_fraction, options.seed);
  std::vector<std::vector<float>> held_out_logits;
  held_out.labels.clear();
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (is_held_out[i]) held_out.labels.push_back(label_ids[i]);
  }
  // Progress counts iterations against the most all stages may take; convergence ends earlier.
  const bool with_network = options.hidden_units > 0;
  const int32_t most = (held_out.labels.empty() ? 1 : 2) * (with_network ? 2 : 1) * options.max_iterations;
  int32_t iterations_done = 0;
  training.on_iteration = [&](int32_t, int32_t) {
    if (options.progress) options.progress("training", static_cast<size_t>(++iterations_done), static_cast<size_t>(most));
  };
  TrainingOptions network_training = training;
  network_training.l2 = options.hidden_l2;
  model.regression = SoftmaxRegression(model.features.dimensions(), classes);
  if (with_network) {
    model.network = HiddenLayerNetwork(model.embedder->dimensions(), options.hidden_units, classes, options.seed);
  }
  // Each head is fitted on its own objective and their logits add (a product of experts); the
  // temperature is fitted on the sum, so the pair is calibrated as one model.
  auto fit = [&](const std::vector<size_t>& rows) {
    std::vector<SparseVector> x;
    std::vector<std::vector<float>> dense;
    std::vector<int32_t> y;
    for (size_t i : rows) {
      x.push_back(inputs[i]);
      y.push_back(label_ids[i]);
      if (with_network) dense.push_back((*embeddings)[i]);
    }
    int32_t iterations = model.regression.train(x, y, training);
    if (with_network) iterations += model.network.train(dense, y, network_training);
    return iterations;
  };
  std::vector<size_t> fit_rows;
  std::vector<size_t> all_rows(texts.size());
  std::iota(all_rows.begin(), all_rows.end(), size_t{0});
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!is_held_out[i]) fit_rows.push_back(i);
  }
  int32_t calibration_iterations = 0;
  if (!held_out.labels.empty()) {
    calibration_iterations = fit(fit_rows);
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (is_held_out[i]) held_out_logits.push_back(model.logits(inputs[i], (*embeddings)[i]));
    }
    model.temperature = fit_temperature(held_out_logits, held_out.labels);
    held_out.probabilities = held_out_logits;
    for (auto& p : held_out.probabilities) softmax(p, model.temperature);
  }

  // 2. The final model sees every example and keeps the calibration; it starts from the first
  // model's weights, which are near its optimum, so it converges in fewer iterations.
  const int32_t final_iterations = fit(all_rows);
  model.labels = std::move(labels);
  model.training = {{"examples", texts.size()},
                    {"held_out", held_out.labels.size()},
                    {"optimiser", "L-BFGS"},
                    {"iterations", {{"calibration", calibration_iterations}, {"final", final_iterations}}},
                    {"l2", options.l2},
                    {"max_iterations", options.max_iterations},
                    {"holdout_fraction", options.holdout_fraction},
                    {"seed", options.seed}};
  if (with_network) model.training["hidden_l2"] = options.hidden_l2;
  model.trained_with = options;
  model.trained_with.progress = nullptr;
  return model;
}

bool TextModel::embeds(std::string_view text) const {
  return scripts.covers_every_script() || scripts.mostly_in(text.substr(0, kScriptCheckBytes));
}

Result<std::vector<std::vector<float>>> TextModel::probabilities(const std::vector<std::string>& texts) const {
  auto embeddings = embed_all(*this, texts, static_cast<size_t>(kDefaultEmbedBatch), {});
  if (!embeddings) return embeddings.error();
  std::vector<std::vector<float>> out;
  out.reserve(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) out.push_back(probabilities_of(texts[i], (*embeddings)[i]));
  return out;
}

std::vector<float> TextModel::logits(const SparseVector& features_of_text, std::span<const float> embedding) const {
  std::vector<float> z(static_cast<size_t>(regression.classes()));
  regression.logits(features_of_text, z);
  if (!network.empty()) network.add_logits(embedding, z);
  return z;
}

std::vector<float> TextModel::probabilities_of(const std::string& text, std::span<const float> embedding) const {
  std::vector<float> zeros;
  if (embedding.empty()) {
    zeros.assign(static_cast<size_t>(features.embedding_dimensions()), 0.0F);
    embedding = zeros;
  }
  auto p = logits(features.featurize(text, embedding), embedding);
  softmax(p, temperature);
  return p;
}

Status TextModel::save(const std::string& dir, const std::string& kind, const nlohmann::json& extra) const {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return make_error(ErrorCode::kUnavailable, "cannot create " + dir + ": " + ec.message());

  std::string weights;
  weights.append(kWeightsMagic, sizeof(kWeightsMagic));
  const uint64_t header[3] = {regression.dimensions(), static_cast<uint64_t>(regression.classes()),
                              features.idf().size()};
  append_raw(weights, header, 3);
  append_raw(weights, regression.weights().data(), regression.weights().size());
  append_raw(weights, features.idf().data(), features.idf().size());

  nlohmann::ordered_json meta;
  meta["format"] = kFormat;
  meta["kind"] = kind;
  meta["labels"] = labels;
  meta["temperature"] = temperature;
  meta["hash_bits"] = features.hash_bits();
  meta["embedding_weight"] = features.embedding_weight();
  meta["hidden_units"] = network.hidden();
  meta["embedding_model"] = {{"name", embedding_model}, {"dimensions", features.embedding_dimensions()}};
  meta["embedding_scripts"] = scripts.names();
  meta["training"] = training;
  meta["extra"] = extra;
  if (auto st = write_file_atomically(fs::path(dir) / "weights.bin", weights); !st) return st;
  if (!network.empty()) {
    std::string bytes(kNetworkMagic, sizeof(kNetworkMagic));
    const uint64_t shape[3] = {static_cast<uint64_t>(network.inputs()), static_cast<uint64_t>(network.hidden()),
                               static_cast<uint64_t>(network.classes())};
    append_raw(bytes, shape, 3);
    append_raw(bytes, network.parameters().data(), network.parameters().size());
    if (auto st = write_file_atomically(fs::path(dir) / "network.bin", bytes); !st) return st;
  }
  return write_file_atomically(fs::path(dir) / "model.json", meta.dump(2) + "\n");
}

Result<std::pair<TextModel, nlohmann::json>> TextModel::load(const std::string& dir, const std::string& kind,
                                                             std::shared_ptr<engine::Embedder> embedder) {
  const fs::path meta_path = fs::path(dir) / "model.json";
  std::ifstream meta_in(meta_path);
  if (!meta_in) return make_error(ErrorCode::kNotFound, "no router model at " + dir + " (model.json missing)");
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(meta_in);
    if (meta.value("format", "") != kFormat) {
      return make_error(ErrorCode::kDataLoss, meta_path.string() + " is not a " + std::string(kFormat) + " model");
    }
    if (meta.value("kind", "") != kind) {
      return make_error(ErrorCode::kInvalidArgument,
                        dir + " holds a " + meta.value("kind", "?") + " model, not a " + kind + " model");
    }
    const auto dims = meta.at("embedding_model").at("dimensions").get<int32_t>();
    const auto name = meta.at("embedding_model").at("name").get<std::string>();
    if (dims != embedder->dimensions() || name != embedder->info().name) {
      return make_error(ErrorCode::kInvalidArgument, dir + " was trained with the embedding model " + name + " (" +
                                                         std::to_string(dims) + " dimensions), not " +
                                                         embedder->info().name + ": train it again with this one");
    }
    TextModel model;
    model.embedding_model = name;
    model.labels = meta.at("labels").get<std::vector<std::string>>();
    model.temperature = meta.at("temperature").get<float>();
    model.training = meta.value("training", nlohmann::json::object());
    const auto hash_bits = meta.at("hash_bits").get<int32_t>();
    if (hash_bits < 8 || hash_bits > 22 || model.labels.size() < 2 || !(model.temperature > 0)) {
      return make_error(ErrorCode::kDataLoss, meta_path.string() + " has out-of-range values");
    }
    // Models from before the weight was a setting were trained at the default.
    const auto embedding_weight = meta.value("embedding_weight", FeatureSpace::kDefaultEmbeddingWeight);
    if (!(embedding_weight > 0 && embedding_weight <= 100)) {
      return make_error(ErrorCode::kDataLoss, meta_path.string() + " has out-of-range values");
    }
    model.features = FeatureSpace(dims, hash_bits, embedding_weight);
    // Models from before this setting embedded every text.
    auto scripts = ScriptSet::parse(meta.value("embedding_scripts", "all"));
    if (!scripts) return make_error(ErrorCode::kDataLoss, meta_path.string() + ": " + scripts.error().message);
    model.scripts = std::move(*scripts);

    const fs::path weights_path = fs::path(dir) / "weights.bin";
    std::ifstream in(weights_path, std::ios::binary);
    char magic[sizeof(kWeightsMagic)] = {};
    uint64_t header[3] = {};
    in.read(magic, sizeof(magic));
    in.read(reinterpret_cast<char*>(header), sizeof(header));
    const size_t rows = static_cast<size_t>(dims) + (size_t{1} << hash_bits);
    if (!in || std::memcmp(magic, kWeightsMagic, sizeof(magic)) != 0 || header[0] != rows ||
        header[1] != model.labels.size() || header[2] != (uint64_t{1} << hash_bits)) {
      return make_error(ErrorCode::kDataLoss, weights_path.string() + " is missing, corrupt or does not match model.json");
    }
    std::vector<float> weights((rows + 1) * model.labels.size());
    std::vector<float> idf(size_t{1} << hash_bits);
    in.read(reinterpret_cast<char*>(weights.data()), static_cast<std::streamsize>(weights.size() * sizeof(float)));
    in.read(reinterpret_cast<char*>(idf.data()), static_cast<std::streamsize>(idf.size() * sizeof(float)));
    if (!in || in.peek() != std::char_traits<char>::eof()) {
      return make_error(ErrorCode::kDataLoss, weights_path.string() + " is truncated or has trailing bytes");
    }
    model.regression = SoftmaxRegression(rows, static_cast<int32_t>(model.labels.size()));
    model.regression.set_weights(std::move(weights));
    model.features.set_idf(std::move(idf));
    // Models from before the hidden layer have no "hidden_units": the linear head alone.
    const auto hidden = meta.value("hidden_units", 0);
    if (hidden < 0 || hidden > 4096) return make_error(ErrorCode::kDataLoss, meta_path.string() + " has out-of-range values");
    if (hidden > 0) {
      auto network = read_network(fs::path(dir) / "network.bin", dims, hidden, static_cast<int32_t>(model.labels.size()));
      if (!network) return network.error();
      model.network = std::move(*network);
    }
    // What training recorded; models from before a setting was recorded were trained at its default.
    auto& with = model.trained_with;
    with.max_iterations = model.training.value("max_iterations", with.max_iterations);
    with.l2 = model.training.value("l2", with.l2);
    with.hash_bits = hash_bits;
    with.embedding_weight = embedding_weight;
    with.embedding_scripts = model.scripts.names();
    with.holdout_fraction = model.training.value("holdout_fraction", with.holdout_fraction);
    with.seed = model.training.value("seed", with.seed);
    with.hidden_units = hidden;
    with.hidden_l2 = model.training.value("hidden_l2", with.hidden_l2);
    model.embedder = std::move(embedder);
    return std::make_pair(std::move(model), meta.value("extra", nlohmann::json::object()));
  } catch (const nlohmann::json::exception& e) {
    return make_error(ErrorCode::kDataLoss, meta_path.string() + " is malformed: " + e.what());
  }
}

}  // namespace tandem::router
