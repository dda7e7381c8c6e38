#include <algorithm>
#include <cmath>

#include "router/router.h"
#include "router/text_model.h"

namespace tandem::router {
namespace {

// Class 1 is the quality gap: the large model is right where the small one is wrong. Prompts both
// get right, or both get wrong, gain nothing from the cloud.
constexpr int32_t kNeedsCloud = 1;
const std::vector<std::string> kLabels = {"local_good_enough", "needs_cloud"};

}  // namespace

struct QualityGapModel::Impl {
  TextModel model;
  std::vector<float> score_quantiles;  // 101 points: the 0th, 1st, ... 100th percentile
};

namespace {

// Percentiles of the held-out prompts' scores; with nothing held out, of the training prompts'.
std::vector<float> percentiles(std::vector<float> scores) {
  std::sort(scores.begin(), scores.end());
  std::vector<float> out;
  for (int p = 0; p <= 100; ++p) {
    const auto rank = static_cast<size_t>(std::lround(p / 100.0 * static_cast<double>(scores.size() - 1)));
    out.push_back(scores[rank]);
  }
  return out;
}

}  // namespace

Result<QualityGapModel> QualityGapModel::train(const std::vector<RoutingExample>& examples,
                                               std::shared_ptr<engine::Embedder> embedder,
                                               const TrainOptions& options) {
  std::vector<std::string> prompts;
  std::vector<int32_t> labels;
  size_t gaps = 0;
  for (const auto& e : examples) {
    prompts.push_back(e.prompt);
    const bool gap = e.strong_correct && !e.weak_correct;
    labels.push_back(gap ? kNeedsCloud : 0);
    gaps += gap ? 1 : 0;
  }
  if (gaps == 0 || gaps == examples.size()) {
    return make_error(ErrorCode::kInvalidArgument,
                      "training needs prompts where only the strong model is right and prompts where it is not");
  }
  HeldOut held_out;
  auto model = TextModel::train(prompts, labels, kLabels, std::move(embedder), options, held_out);
  if (!model) return model.error();
  auto impl = std::make_shared<Impl>();
  impl->model = std::move(*model);
  std::vector<float> scores;
  for (const auto& p : held_out.probabilities) scores.push_back(1.0F - p[kNeedsCloud]);
  if (scores.empty()) {
    auto all = impl->model.probabilities(prompts);
    if (!all) return all.error();
    for (const auto& p : *all) scores.push_back(1.0F - p[kNeedsCloud]);
  }
  impl->score_quantiles = percentiles(std::move(scores));
  return QualityGapModel(std::move(impl));
}

Result<QualityGapModel> QualityGapModel::load(const std::string& dir, std::shared_ptr<engine::Embedder> embedder) {
  auto loaded = TextModel::load(dir, "quality-gap", std::move(embedder));
  if (!loaded) return loaded.error();
  if (loaded->first.labels != kLabels) return make_error(ErrorCode::kDataLoss, dir + "/model.json has unexpected labels");
  auto impl = std::make_shared<Impl>();
  impl->model = std::move(loaded->first);
  const auto& quantiles = loaded->second["score_quantiles"];
  if (!quantiles.is_array() || quantiles.size() != 101) {
    return make_error(ErrorCode::kDataLoss, dir + "/model.json lacks the score percentiles");
  }
  impl->score_quantiles = quantiles.get<std::vector<float>>();
  return QualityGapModel(std::move(impl));
}

Status QualityGapModel::save(const std::string& dir) const {
  return impl_->model.save(dir, "quality-gap", {{"score_quantiles", impl_->score_quantiles}});
}

float QualityGapModel::threshold_for_cloud_share(double share) const {
  const double position = std::clamp(share, 0.0, 1.0) * 100.0;
  const auto lo = static_cast<size_t>(std::floor(position));
  const auto hi = std::min<size_t>(100, lo + 1);
  const auto t = static_cast<float>(position - static_cast<double>(lo));
  return impl_->score_quantiles[lo] + t * (impl_->score_quantiles[hi] - impl_->score_quantiles[lo]);
}

Result<std::vector<float>> QualityGapModel::local_good_enough_batch(const std::vector<std::string>& prompts) const {
  auto probabilities = impl_->model.probabilities(prompts);
  if (!probabilities) return probabilities.error();
  std::vector<float> scores;
  scores.reserve(prompts.size());
  for (const auto& p : *probabilities) scores.push_back(1.0F - p[kNeedsCloud]);
  return scores;
}

float QualityGapModel::local_good_enough_embedded(const std::string& prompt, std::span<const float> embedding) const {
  return 1.0F - impl_->model.probabilities_of(prompt, embedding)[kNeedsCloud];
}

bool QualityGapModel::embeds(const std::string& prompt) const {
  return impl_->model.embeds(prompt);
}

const std::string& QualityGapModel::embedding_scripts() const {
  return impl_->model.scripts.names();
}

Result<float> QualityGapModel::local_good_enough(const std::string& prompt) const {
  auto scores = local_good_enough_batch({prompt});
  if (!scores) return scores.error();
  return scores->front();
}

}  // namespace tandem::router
