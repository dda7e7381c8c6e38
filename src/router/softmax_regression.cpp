#include "router/softmax_regression.h"

#include <algorithm>
#include <cmath>

#include "router/lbfgs.h"

namespace tandem::router {
namespace {

// The rows a training set touches, renumbered densely (the bias row last): rows that no example
// touches are zero at the optimum, so the optimiser never carries them.
struct CompactProblem {
  std::vector<uint32_t> rows;  // compact row -> model row
  std::vector<SparseVector> inputs;
};

CompactProblem compact(const std::vector<SparseVector>& inputs, size_t dimensions) {
  constexpr uint32_t kUnused = UINT32_MAX;
  std::vector<uint32_t> compact_of(dimensions, kUnused);
  CompactProblem problem;
  problem.inputs.reserve(inputs.size());
  for (const auto& x : inputs) {
    SparseVector renumbered;
    renumbered.reserve(x.size());
    for (const auto& feature : x) {
      uint32_t& slot = compact_of[feature.index];
      if (slot == kUnused) {
        slot = static_cast<uint32_t>(problem.rows.size());
        problem.rows.push_back(feature.index);
      }
      renumbered.push_back({slot, feature.value});
    }
    problem.inputs.push_back(std::move(renumbered));
  }
  problem.rows.push_back(static_cast<uint32_t>(dimensions));  // the bias
  return problem;
}

// The mean cross-entropy plus l2/2 * |weights|^2, and its gradient, over `problem`.
class CrossEntropy {
 public:
  CrossEntropy(const CompactProblem& problem, const std::vector<int32_t>& labels, int32_t classes,
                 const TrainingOptions& options)
      : problem_(problem),
        labels_(labels),
        classes_(static_cast<size_t>(classes)),
        l2_(options.l2),
        threads_(static_cast<size_t>(std::clamp<int32_t>(options.threads, 1, 64))) {}

  size_t size() const { return problem_.rows.size() * classes_; }

  double operator()(const std::vector<float>& w, std::vector<float>& gradient) const {
    const size_t n = problem_.inputs.size();
    double loss = sum_over_examples(
        n, threads_, [&](size_t begin, size_t end, std::vector<float>& g) { return accumulate(w, begin, end, g); },
        gradient);
    const auto scale = static_cast<float>(1.0 / static_cast<double>(n));
    loss /= static_cast<double>(n);
    const size_t weight_entries = (problem_.rows.size() - 1) * classes_;  // all but the bias row
    double squared = 0;
    for (size_t i = 0; i < gradient.size(); ++i) {
      gradient[i] *= scale;
      if (i < weight_entries) {
        gradient[i] += l2_ * w[i];
        squared += static_cast<double>(w[i]) * w[i];
      }
    }
    return loss + 0.5 * l2_ * squared;
  }

 private:
  // The summed loss of examples [begin, end); their gradient is added to `gradient`.
  double accumulate(const std::vector<float>& w, size_t begin, size_t end, std::vector<float>& gradient) const {
    const size_t c = classes_;
    const size_t bias_row = problem_.rows.size() - 1;
    std::vector<float> z(c);
    double loss = 0;
    for (size_t i = begin; i < end; ++i) {
      const auto& x = problem_.inputs[i];
      std::copy_n(&w[bias_row * c], c, z.begin());
      for (const auto& feature : x) {
        const float* row = &w[feature.index * c];
        for (size_t k = 0; k < c; ++k) z[k] += feature.value * row[k];
      }
      loss += softmax_cross_entropy(z, static_cast<size_t>(labels_[i]));  // z: now d(loss)/d(logits)
      for (const auto& feature : x) {
        float* row = &gradient[feature.index * c];
        for (size_t k = 0; k < c; ++k) row[k] += feature.value * z[k];
      }
      float* bias = &gradient[bias_row * c];
      for (size_t k = 0; k < c; ++k) bias[k] += z[k];
    }
    return loss;
  }

  const CompactProblem& problem_;
  const std::vector<int32_t>& labels_;
  size_t classes_;
  float l2_;
  size_t threads_;
};

}  // namespace

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

int32_t SoftmaxRegression::train(const std::vector<SparseVector>& inputs, const std::vector<int32_t>& labels,
                                 const TrainingOptions& options) {
  const auto c = static_cast<size_t>(classes_);
  const CompactProblem problem = compact(inputs, dimensions_);
  const CrossEntropy objective(problem, labels, classes_, options);
  std::vector<float> w(objective.size());
  for (size_t r = 0; r < problem.rows.size(); ++r) {
    std::copy_n(&weights_[problem.rows[r] * c], c, &w[r * c]);
  }
  const int32_t iterations = minimise_lbfgs(
      [&](const std::vector<float>& at, std::vector<float>& gradient) { return objective(at, gradient); }, w, options);
  for (size_t r = 0; r < problem.rows.size(); ++r) {
    std::copy_n(&w[r * c], c, &weights_[problem.rows[r] * c]);
  }
  return iterations;
}

}  // namespace tandem::router
