#include "router/hidden_layer.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "router/lbfgs.h"

namespace tandem::router {
namespace {

// Where each block of the flat parameter vector starts.
struct Layout {
  size_t inputs, hidden, classes;
  size_t first_bias() const { return inputs * hidden; }
  size_t second_weights() const { return first_bias() + hidden; }
  size_t second_bias() const { return second_weights() + hidden * classes; }
  size_t size() const { return second_bias() + classes; }
};

// The hidden activations (ReLU) and the logits of one input.
void forward(const Layout& layout, const float* w, std::span<const float> x, std::vector<float>& activation,
             std::span<float> logits) {
  const float* first_bias = w + layout.first_bias();
  std::copy_n(first_bias, layout.hidden, activation.begin());
  for (size_t i = 0; i < layout.inputs; ++i) {
    const float xi = x[i];
    const float* row = w + i * layout.hidden;
    for (size_t j = 0; j < layout.hidden; ++j) activation[j] += xi * row[j];
  }
  for (float& a : activation) a = std::max(a, 0.0F);
  const float* second = w + layout.second_weights();
  for (size_t j = 0; j < layout.hidden; ++j) {
    const float a = activation[j];
    if (a == 0.0F) continue;
    const float* row = second + j * layout.classes;
    for (size_t k = 0; k < layout.classes; ++k) logits[k] += a * row[k];
  }
  const float* second_bias = w + layout.second_bias();
  for (size_t k = 0; k < layout.classes; ++k) logits[k] += second_bias[k];
}

// The mean cross-entropy plus l2/2 * |weights|^2 (not the biases), and its gradient.
class NetworkLoss {
 public:
  NetworkLoss(const Layout& layout, const std::vector<std::vector<float>>& inputs, const std::vector<int32_t>& labels,
              const TrainingOptions& options)
      : layout_(layout),
        inputs_(inputs),
        labels_(labels),
        l2_(options.l2),
        threads_(static_cast<size_t>(std::clamp<int32_t>(options.threads, 1, 64))) {}

  double operator()(const std::vector<float>& w, std::vector<float>& gradient) const {
    const size_t n = inputs_.size();
    double loss = sum_over_examples(
        n, threads_, [&](size_t begin, size_t end, std::vector<float>& g) { return accumulate(w, begin, end, g); },
        gradient);
    const auto scale = static_cast<float>(1.0 / static_cast<double>(n));
    double squared = 0;
    for (size_t i = 0; i < gradient.size(); ++i) {
      gradient[i] *= scale;
      const bool weight = i < layout_.first_bias() || (i >= layout_.second_weights() && i < layout_.second_bias());
      if (weight) {
        gradient[i] += l2_ * w[i];
        squared += static_cast<double>(w[i]) * w[i];
      }
    }
    return loss / static_cast<double>(n) + 0.5 * l2_ * squared;
  }

 private:
  double accumulate(const std::vector<float>& w, size_t begin, size_t end, std::vector<float>& gradient) const {
    const Layout& l = layout_;
    std::vector<float> activation(l.hidden);
    std::vector<float> hidden_error(l.hidden);
    std::vector<float> z(l.classes);
    double loss = 0;
    for (size_t e = begin; e < end; ++e) {
      const auto& x = inputs_[e];
      std::fill(z.begin(), z.end(), 0.0F);
      forward(l, w.data(), x, activation, z);
      loss += softmax_cross_entropy(z, static_cast<size_t>(labels_[e]));  // z: now d(loss)/d(logits)

      const float* second = w.data() + l.second_weights();
      float* second_gradient = gradient.data() + l.second_weights();
      for (size_t j = 0; j < l.hidden; ++j) {
        hidden_error[j] = 0.0F;
        if (activation[j] == 0.0F) continue;  // ReLU: no gradient through an inactive unit
        const float* row = second + j * l.classes;
        float* grow = second_gradient + j * l.classes;
        float back = 0.0F;
        for (size_t k = 0; k < l.classes; ++k) {
          grow[k] += activation[j] * z[k];
          back += row[k] * z[k];
        }
        hidden_error[j] = back;
      }
      float* second_bias = gradient.data() + l.second_bias();
      for (size_t k = 0; k < l.classes; ++k) second_bias[k] += z[k];
      for (size_t i = 0; i < l.inputs; ++i) {
        const float xi = x[i];
        float* grow = gradient.data() + i * l.hidden;
        for (size_t j = 0; j < l.hidden; ++j) grow[j] += xi * hidden_error[j];
      }
      float* first_bias = gradient.data() + l.first_bias();
      for (size_t j = 0; j < l.hidden; ++j) first_bias[j] += hidden_error[j];
    }
    return loss;
  }

  Layout layout_;
  const std::vector<std::vector<float>>& inputs_;
  const std::vector<int32_t>& labels_;
  float l2_;
  size_t threads_;
};

Layout layout_of(int32_t inputs, int32_t hidden, int32_t classes) {
  return {static_cast<size_t>(inputs), static_cast<size_t>(hidden), static_cast<size_t>(classes)};
}

}  // namespace

size_t HiddenLayerNetwork::parameter_count(int32_t inputs, int32_t hidden, int32_t classes) {
  return layout_of(inputs, hidden, classes).size();
}

HiddenLayerNetwork::HiddenLayerNetwork(int32_t inputs, int32_t hidden, int32_t classes, uint64_t seed)
    : inputs_(inputs), hidden_(hidden), classes_(classes), parameters_(parameter_count(inputs, hidden, classes), 0.0F) {
  // He initialisation for the ReLU layer, 1/sqrt(fan-in) for the output layer; biases at zero.
  const Layout l = layout_of(inputs, hidden, classes);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> first(0.0F, std::sqrt(2.0F / static_cast<float>(inputs)));
  std::normal_distribution<float> second(0.0F, std::sqrt(1.0F / static_cast<float>(hidden)));
  for (size_t i = 0; i < l.first_bias(); ++i) parameters_[i] = first(rng);
  for (size_t i = l.second_weights(); i < l.second_bias(); ++i) parameters_[i] = second(rng);
}

int32_t HiddenLayerNetwork::train(const std::vector<std::vector<float>>& inputs, const std::vector<int32_t>& labels,
                                  const TrainingOptions& options) {
  const NetworkLoss loss(layout_of(inputs_, hidden_, classes_), inputs, labels, options);
  return minimise_lbfgs([&](const std::vector<float>& w, std::vector<float>& gradient) { return loss(w, gradient); },
                        parameters_, options);
}

void HiddenLayerNetwork::add_logits(std::span<const float> input, std::span<float> out) const {
  std::vector<float> activation(static_cast<size_t>(hidden_));
  forward(layout_of(inputs_, hidden_, classes_), parameters_.data(), input, activation, out);
}

}  // namespace tandem::router
