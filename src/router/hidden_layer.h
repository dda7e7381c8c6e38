// A one-hidden-layer ReLU network over a dense input (the sentence embedding), trained in C++ to
// a minimum of the L2-regularised mean cross-entropy with full-batch L-BFGS from a seeded He
// initialisation. It sees interactions between embedding dimensions that the linear head cannot;
// the router adds its logits to the linear head's.
// Thread-safety: train() uses `options.threads` worker threads of its own; a trained network is
// immutable and add_logits() may run on any thread.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "router/softmax_regression.h"

namespace tandem::router {

class HiddenLayerNetwork {
 public:
  HiddenLayerNetwork() = default;
  // Weights drawn from `seed`, so training is deterministic.
  HiddenLayerNetwork(int32_t inputs, int32_t hidden, int32_t classes, uint64_t seed);

  // `inputs[i]` has inputs() values. Returns the iterations run.
  int32_t train(const std::vector<std::vector<float>>& inputs, const std::vector<int32_t>& labels,
                const TrainingOptions& options);
  // Adds the network's logits to `out` (one per class).
  void add_logits(std::span<const float> input, std::span<float> out) const;

  int32_t inputs() const { return inputs_; }
  int32_t hidden() const { return hidden_; }
  int32_t classes() const { return classes_; }
  bool empty() const { return hidden_ == 0; }
  // [inputs][hidden] weights, [hidden] biases, [hidden][classes] weights, [classes] biases.
  const std::vector<float>& parameters() const { return parameters_; }
  static size_t parameter_count(int32_t inputs, int32_t hidden, int32_t classes);
  void set_parameters(std::vector<float> parameters) { parameters_ = std::move(parameters); }

 private:
  int32_t inputs_ = 0;
  int32_t hidden_ = 0;
  int32_t classes_ = 0;
  std::vector<float> parameters_;
};

}  // namespace tandem::router
