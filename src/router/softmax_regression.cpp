#include "router/softmax_regression.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace tandem::router {

void softmax(std::span<float> values, float temperature) {
  const float max = *std::max_element(values.begin(), values.end());
  double sum = 0;
  for (float& v : values) {
    v = std::exp((v - max) / temperature);
    sum += v;
  }
  for (float& v : values) v = static_cast<float>(v / sum);
}

SoftmaxRegression::SoftmaxRegression(size_t dimensions, int32_t classes)
    : dimensions_(dimensions), classes_(classes), weights_((dimensions + 1) * static_cast<size_t>(classes), 0.0F) {}

void SoftmaxRegression::logits(const SparseVector& input, std::span<float> out) const {
  const auto c = static_cast<size_t>(classes_);
  const float* bias = &weights_[dimensions_ * c];
  std::copy(bias, bias + c, out.begin());
  for (const auto& feature : input) {
    const float* row = &weights_[feature.index * c];
    for (size_t k = 0; k < c; ++k) out[k] += feature.value * row[k];
  }
}

// Gradients are gathered only for the rows a mini-batch touches, so an epoch costs the number of
// non-zero features, not the (large, mostly hashed) dimension.
void SoftmaxRegression::train(const std::vector<SparseVector>& inputs, const std::vector<int32_t>& labels,
                              const TrainingOptions& options) {
  const auto c = static_cast<size_t>(classes_);
  const size_t rows = dimensions_ + 1;
  const auto bias_row = static_cast<uint32_t>(dimensions_);
  std::vector<float> gradient(rows * c, 0.0F);
  std::vector<float> squared_sum(rows * c, 0.0F);
  std::vector<char> touched(rows, 0);
  std::vector<uint32_t> touched_rows;
  std::vector<float> probabilities(c);

  std::vector<size_t> order(inputs.size());
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(options.seed);
  const auto batch = static_cast<size_t>(std::max(1, options.batch));

  auto touch = [&](uint32_t row) {
    if (!touched[row]) {
      touched[row] = 1;
      touched_rows.push_back(row);
    }
  };

  for (int32_t epoch = 0; epoch < options.epochs; ++epoch) {
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t start = 0; start < order.size(); start += batch) {
      const size_t end = std::min(order.size(), start + batch);
      for (size_t i = start; i < end; ++i) {
        const auto& x = inputs[order[i]];
        const auto y = static_cast<size_t>(labels[order[i]]);
        logits(x, probabilities);
        softmax(probabilities);
        probabilities[y] -= 1.0F;  // d(cross-entropy)/d(logits)
        for (const auto& feature : x) {
          touch(feature.index);
          float* row = &gradient[feature.index * c];
          for (size_t k = 0; k < c; ++k) row[k] += feature.value * probabilities[k];
        }
        touch(bias_row);
        float* bias = &gradient[bias_row * c];
        for (size_t k = 0; k < c; ++k) bias[k] += probabilities[k];
      }
      const auto scale = 1.0F / static_cast<float>(end - start);
      for (uint32_t row : touched_rows) {
        float* g = &gradient[row * c];
        float* w = &weights_[row * c];
        float* s = &squared_sum[row * c];
        const float l2 = row == bias_row ? 0.0F : options.l2;
        for (size_t k = 0; k < c; ++k) {
          const float step = g[k] * scale + l2 * w[k];
          s[k] += step * step;
          w[k] -= options.learning_rate * step / (std::sqrt(s[k]) + 1e-8F);
          g[k] = 0.0F;
        }
        touched[row] = 0;
      }
      touched_rows.clear();
    }
    if (options.on_epoch) options.on_epoch(epoch + 1, options.epochs);
  }
}

}  // namespace tandem::router
