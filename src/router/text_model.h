// What both router models share: texts -> embedding + n-gram features -> softmax regression (plus,
// optionally, a hidden-layer network over the embedding, logits added) -> calibrated
// probabilities, trained with a held-out slice for calibration, saved to a directory (model.json
// for people, weights.bin and network.bin for the numbers).
// Thread-safety: immutable after train()/load(); probabilities() may run on any thread.
#pragma once

#include <memory>
#include <span>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/words.h"
#include "router/hidden_layer.h"
#include "router/router.h"
#include "router/softmax_regression.h"
#include "router/text_features.h"

namespace tandem::router {

struct HeldOut {
  std::vector<std::vector<float>> probabilities;  // calibrated, from the model trained without them
  std::vector<int32_t> labels;
};

struct TextModel {
  std::shared_ptr<engine::Embedder> embedder;
  std::string embedding_model;
  FeatureSpace features{0, 1};
  SoftmaxRegression regression;
  HiddenLayerNetwork network;  // empty unless trained with hidden_units > 0
  std::vector<std::string> labels;
  // The scripts whose texts are embedded; the others get a zero embedding, in training and after.
  ScriptSet scripts;
  float temperature = 1.0F;
  nlohmann::json training;  // what it was trained on, for model.json
  TrainOptions trained_with;  // the options behind `training` (no progress callback)

  // `label_ids[i]` indexes `labels`. Fills `held_out` with the calibration slice's results.
  static Result<TextModel> train(const std::vector<std::string>& texts, const std::vector<int32_t>& label_ids,
                                 std::vector<std::string> labels, std::shared_ptr<engine::Embedder> embedder,
                                 const TrainOptions& options, HeldOut& held_out);

  // Whether `text` (its first 4 KiB) is mostly in `scripts`: only then is its embedding read.
  bool embeds(std::string_view text) const;

  // One row of calibrated class probabilities per text.
  Result<std::vector<std::vector<float>>> probabilities(const std::vector<std::string>& texts) const;
  // The same for one text whose embedding (by `embedder`) is already known; empty when !embeds(text).
  std::vector<float> probabilities_of(const std::string& text, std::span<const float> embedding) const;
  // Both heads' logits, before calibration.
  std::vector<float> logits(const SparseVector& features_of_text, std::span<const float> embedding) const;

  // `kind` tells the two models' directories apart; `extra` lands in model.json.
  Status save(const std::string& dir, const std::string& kind, const nlohmann::json& extra) const;
  // Returns the model and model.json's `extra`.
  static Result<std::pair<TextModel, nlohmann::json>> load(const std::string& dir, const std::string& kind,
                                                           std::shared_ptr<engine::Embedder> embedder);
};

}  // namespace tandem::router
