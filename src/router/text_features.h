// Turns a text and its sentence embedding into one sparse feature vector for the router's
// linear models: the embedding (meaning, English-strong) next to hashed character and word
// n-grams weighted by TF-IDF (surface forms, and the only signal that works for Chinese, which
// the English embedding model reads poorly).
// Thread-safety: a fitted FeatureSpace is immutable; featurize() may run on any thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::router {

struct SparseFeature {
  uint32_t index;
  float value;
};
using SparseVector = std::vector<SparseFeature>;

class FeatureSpace {
 public:
  // The embedding is unit length and so is the n-gram part; `embedding_weight` > 1 lets the
  // embedding dominate when the two disagree (it generalises to unseen wordings, n-grams do not).
  FeatureSpace(int32_t embedding_dimensions, int32_t hash_bits, float embedding_weight = kDefaultEmbeddingWeight);
  static constexpr float kDefaultEmbeddingWeight = 2.0F;

  // Document frequencies per hash bucket from the training texts.
  void fit_idf(const std::vector<std::string>& texts);
  void set_idf(std::vector<float> idf) { idf_ = std::move(idf); }
  const std::vector<float>& idf() const { return idf_; }

  // Embedding features first (indices [0, embedding_dimensions)), then the hashed n-grams.
  SparseVector featurize(std::string_view text, std::span<const float> embedding) const;

  int32_t embedding_dimensions() const { return embedding_dimensions_; }
  int32_t hash_bits() const { return hash_bits_; }
  float embedding_weight() const { return embedding_weight_; }
  size_t dimensions() const { return static_cast<size_t>(embedding_dimensions_) + idf_.size(); }

 private:
  std::vector<uint32_t> ngram_buckets(std::string_view text) const;

  int32_t embedding_dimensions_;
  int32_t hash_bits_;
  float embedding_weight_;
  std::vector<float> idf_;  // one per bucket
};

}  // namespace tandem::router
