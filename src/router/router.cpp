#include "router/router.h"

namespace tandem::router {

Router::Router(std::shared_ptr<engine::Embedder> embedder, std::shared_ptr<const IntentClassifier> intents,
               std::shared_ptr<const QualityGapModel> quality)
    : embedder_(std::move(embedder)), intents_(std::move(intents)), quality_(std::move(quality)) {}

std::shared_ptr<const Router> Router::with_intents(std::shared_ptr<const IntentClassifier> intents) const {
  return std::make_shared<const Router>(embedder_, std::move(intents), quality_);
}

Result<Understanding> Router::understand(const std::string& text) const {
  Understanding understanding;
  if (empty()) return understanding;
  const bool intent_embeds = intents_ && intents_->embeds(text);
  // Both models usually read the same scripts: the text is then segmented once.
  const bool same_scripts = intents_ && quality_ && intents_->embedding_scripts() == quality_->embedding_scripts();
  const bool quality_embeds = quality_ && (same_scripts ? intent_embeds : quality_->embeds(text));
  std::vector<float> embedding;
  if (intent_embeds || quality_embeds) {
    auto embedded = embedder_->embed({text});
    if (!embedded) return embedded.error();
    embedding = std::move(embedded->vectors.front());
  }
  const std::span<const float> none;
  if (intents_) understanding.intent = intents_->classify_embedded(text, intent_embeds ? embedding : none);
  if (quality_) {
    understanding.local_good_enough = quality_->local_good_enough_embedded(text, quality_embeds ? embedding : none);
  }
  return understanding;
}

}  // namespace tandem::router
