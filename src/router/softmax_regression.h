// Multinomial logistic regression over sparse features, trained in C++ with mini-batch AdaGrad
// and L2 regularisation. Small, convex and fast to train on a laptop: the router's models are
// this plus a calibrated temperature.
// Thread-safety: train() is single-threaded; a trained model is immutable and logits() may run
// on any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "router/text_features.h"

namespace tandem::router {

struct TrainingOptions {
  int32_t epochs = 12;
  int32_t batch = 16;
  float learning_rate = 0.3F;
  float l2 = 1e-5F;
  uint64_t seed = 1;
  std::function<void(int32_t epoch, int32_t epochs)> on_epoch;  // optional progress
};

class SoftmaxRegression {
 public:
  SoftmaxRegression() = default;
  SoftmaxRegression(size_t dimensions, int32_t classes);

  void train(const std::vector<SparseVector>& inputs, const std::vector<int32_t>& labels,
             const TrainingOptions& options);
  // `out` has one entry per class.
  void logits(const SparseVector& input, std::span<float> out) const;

  size_t dimensions() const { return dimensions_; }
  int32_t classes() const { return classes_; }
  // Row-major [dimensions + 1][classes]; the last row is the bias.
  const std::vector<float>& weights() const { return weights_; }
  void set_weights(std::vector<float> weights) { weights_ = std::move(weights); }

 private:
  size_t dimensions_ = 0;
  int32_t classes_ = 0;
  std::vector<float> weights_;
};

// Softmax of logits / temperature, in place.
void softmax(std::span<float> values, float temperature = 1.0F);

}  // namespace tandem::router
