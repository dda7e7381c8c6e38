#include <algorithm>
#include <filesystem>
#include <optional>
#include <set>

#include "router/calibration.h"
#include "router/router.h"
#include "router/text_model.h"

namespace tandem::router {

struct IntentClassifier::Impl {
  TextModel model;
  std::string oos_label;
  float threshold = 0;
  std::optional<size_t> oos_index;  // set when the oos label was trained as a class
  IntentTrainOptions trained_with;

  IntentPrediction predict(const std::vector<float>& probabilities) const {
    std::vector<size_t> order(probabilities.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    const size_t shown = std::min<size_t>(3, order.size());
    std::partial_sort(order.begin(), order.begin() + static_cast<ptrdiff_t>(shown), order.end(),
                      [&](size_t a, size_t b) { return probabilities[a] > probabilities[b]; });
    IntentPrediction prediction;
    for (size_t i = 0; i < shown; ++i) prediction.ranked.emplace_back(model.labels[order[i]], probabilities[order[i]]);
    prediction.confidence = probabilities[order[0]];
    prediction.out_of_scope = order[0] == oos_index || prediction.confidence < threshold;
    prediction.label = prediction.out_of_scope ? oos_label : model.labels[order[0]];
    return prediction;
  }
};

Result<IntentClassifier> IntentClassifier::train(const std::vector<IntentExample>& examples,
                                                 std::shared_ptr<engine::Embedder> embedder,
                                                 const IntentTrainOptions& options) {
  std::set<std::string> label_set;
  for (const auto& e : examples) label_set.insert(e.label);
  const size_t in_scope_labels = label_set.size() - label_set.count(options.oos_label);
  if (in_scope_labels < 2) {
    return make_error(ErrorCode::kInvalidArgument, "training needs examples of at least two in-scope labels, got " +
                                                       std::to_string(in_scope_labels));
  }
  if (!(options.max_in_scope_loss >= 0 && options.max_in_scope_loss < 1)) {
    return make_error(ErrorCode::kInvalidArgument, "the in-scope loss allowed for out-of-scope detection must be in [0, 1)");
  }
  std::vector<std::string> labels(label_set.begin(), label_set.end());
  std::vector<std::string> texts;
  std::vector<int32_t> label_ids;
  for (const auto& e : examples) {
    texts.push_back(e.text);
    label_ids.push_back(static_cast<int32_t>(std::lower_bound(labels.begin(), labels.end(), e.label) - labels.begin()));
  }

  HeldOut held_out;
  auto model = TextModel::train(texts, label_ids, labels, std::move(embedder), options, held_out);
  if (!model) return model.error();

  auto impl = std::make_shared<Impl>();
  impl->model = std::move(*model);
  impl->oos_label = options.oos_label;
  if (auto it = std::find(labels.begin(), labels.end(), options.oos_label); it != labels.end()) {
    impl->oos_index = static_cast<size_t>(it - labels.begin());
  }
  std::vector<float> correct_confidences;
  size_t in_scope = 0;
  for (size_t i = 0; i < held_out.labels.size(); ++i) {
    const auto truth = static_cast<size_t>(held_out.labels[i]);
    if (truth == impl->oos_index) continue;
    ++in_scope;
    const auto& p = held_out.probabilities[i];
    const auto best = static_cast<size_t>(std::max_element(p.begin(), p.end()) - p.begin());
    if (best == truth) correct_confidences.push_back(p[best]);
  }
  impl->threshold = choose_oos_threshold(std::move(correct_confidences), in_scope, options.max_in_scope_loss);
  impl->model.training["max_in_scope_loss"] = options.max_in_scope_loss;
  impl->model.training["oos_label"] = options.oos_label;
  if (!options.data_files.empty()) impl->model.training["data"] = options.data_files;
  impl->trained_with = options;
  impl->trained_with.progress = nullptr;
  return IntentClassifier(std::move(impl));
}

Result<IntentClassifier> IntentClassifier::load(const std::string& dir, std::shared_ptr<engine::Embedder> embedder) {
  auto loaded = TextModel::load(dir, "intent", std::move(embedder));
  if (!loaded) return loaded.error();
  auto impl = std::make_shared<Impl>();
  impl->model = std::move(loaded->first);
  const auto& extra = loaded->second;
  if (!extra.contains("oos_label") || !extra["oos_label"].is_string() || !extra.contains("oos_threshold") ||
      !extra["oos_threshold"].is_number()) {
    return make_error(ErrorCode::kDataLoss, dir + "/model.json lacks the out-of-scope settings");
  }
  impl->oos_label = extra["oos_label"].get<std::string>();
  impl->threshold = extra["oos_threshold"].get<float>();
  auto& with = impl->trained_with;
  static_cast<TrainOptions&>(with) = impl->model.trained_with;
  with.oos_label = impl->oos_label;
  const auto& training = impl->model.training;
  const auto data = training.find("data");
  const auto loss = training.find("max_in_scope_loss");
  if ((data != training.end() &&
       !(data->is_array() && std::all_of(data->begin(), data->end(), [](const auto& f) { return f.is_string(); }))) ||
      (loss != training.end() && !loss->is_number())) {
    return make_error(ErrorCode::kDataLoss, dir + "/model.json has malformed training settings");
  }
  if (data != training.end()) {
    for (const auto& file : data->get<std::vector<std::string>>()) {
      const std::filesystem::path path(file);
      with.data_files.push_back(path.is_relative() ? (std::filesystem::absolute(dir) / path).string() : file);
    }
  }
  if (loss != training.end()) with.max_in_scope_loss = loss->get<double>();
  const auto& labels = impl->model.labels;
  if (auto it = std::find(labels.begin(), labels.end(), impl->oos_label); it != labels.end()) {
    impl->oos_index = static_cast<size_t>(it - labels.begin());
  }
  return IntentClassifier(std::move(impl));
}

Status IntentClassifier::save(const std::string& dir) const {
  return impl_->model.save(dir, "intent", {{"oos_label", impl_->oos_label}, {"oos_threshold", impl_->threshold}});
}

Result<std::vector<IntentPrediction>> IntentClassifier::classify_batch(const std::vector<std::string>& texts) const {
  auto probabilities = impl_->model.probabilities(texts);
  if (!probabilities) return probabilities.error();
  std::vector<IntentPrediction> predictions;
  predictions.reserve(texts.size());
  for (const auto& p : *probabilities) predictions.push_back(impl_->predict(p));
  return predictions;
}

IntentPrediction IntentClassifier::classify_embedded(const std::string& text, std::span<const float> embedding) const {
  return impl_->predict(impl_->model.probabilities_of(text, embedding));
}

bool IntentClassifier::embeds(const std::string& text) const {
  return impl_->model.embeds(text);
}

const std::string& IntentClassifier::embedding_scripts() const {
  return impl_->model.scripts.names();
}

Result<IntentPrediction> IntentClassifier::classify(const std::string& text) const {
  auto predictions = classify_batch({text});
  if (!predictions) return predictions.error();
  return std::move(predictions->front());
}

const std::vector<std::string>& IntentClassifier::labels() const { return impl_->model.labels; }
const std::string& IntentClassifier::oos_label() const { return impl_->oos_label; }
float IntentClassifier::oos_threshold() const { return impl_->threshold; }
float IntentClassifier::temperature() const { return impl_->model.temperature; }
const IntentTrainOptions& IntentClassifier::training_options() const {
  return impl_->trained_with;
}

}  // namespace tandem::router
