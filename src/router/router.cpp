#include "router/router.h"

namespace tandem::router {

Router::Router(std::shared_ptr<engine::Embedder> embedder, std::shared_ptr<const IntentClassifier> intents,
               std::shared_ptr<const QualityGapModel> quality)
    : embedder_(std::move(embedder)), intents_(std::move(intents)), quality_(std::move(quality)) {}

Result<Understanding> Router::understand(const std::string& text) const {
  Understanding understanding;
  if (empty()) return understanding;
  auto embedded = embedder_->embed({text});
  if (!embedded) return embedded.error();
  const auto& embedding = embedded->vectors.front();
  if (intents_) understanding.intent = intents_->classify_embedded(text, embedding);
  if (quality_) understanding.local_good_enough = quality_->local_good_enough_embedded(text, embedding);
  return understanding;
}

}  // namespace tandem::router
