// Multinomial logistic regression over sparse features, trained in C++ to the optimum of the
// L2-regularised mean cross-entropy with full-batch L-BFGS. Small, convex and deterministic: the
// router's models are this plus a calibrated temperature.
// Thread-safety: train() uses `threads` worker threads of its own; a trained model is immutable
// and logits() may run on any thread.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "router/lbfgs.h"
#include "router/text_features.h"

namespace tandem::router {

// The optimiser's settings (iterations, tolerance, memory, progress) plus the objective's.
struct TrainingOptions : LbfgsOptions {
  float l2 = 2e-5F;     // on the weights, not the biases; the loss is the mean over examples
  int32_t threads = 1;  // for the gradient, split by examples
};

class SoftmaxRegression {
 public:
  SoftmaxRegression() = default;
  SoftmaxRegression(size_t dimensions, int32_t classes);

  // Starts from the current weights (zero for a new model, or a warm start via set_weights).
  // Returns the iterations run.
  int32_t train(const std::vector<SparseVector>& inputs, const std::vector<int32_t>& labels,
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
