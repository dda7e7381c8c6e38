#include "router/softmax_regression.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <thread>

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

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += static_cast<double>(a[i]) * b[i];
  return sum;
}

// The mean cross-entropy plus l2/2 * |weights|^2, and its gradient, over `problem`.
class Objective {
 public:
  Objective(const CompactProblem& problem, const std::vector<int32_t>& labels, int32_t classes,
            const TrainingOptions& options)
      : problem_(problem),
        labels_(labels),
        classes_(static_cast<size_t>(classes)),
        l2_(options.l2),
        threads_(static_cast<size_t>(std::clamp<int32_t>(options.threads, 1, 64))) {}

  size_t size() const { return problem_.rows.size() * classes_; }

  double operator()(const std::vector<float>& w, std::vector<float>& gradient) const {
    const size_t n = problem_.inputs.size();
    const size_t workers = std::min(threads_, std::max<size_t>(1, n / 256));
    std::vector<std::vector<float>> partial(workers - 1, std::vector<float>(size(), 0.0F));
    std::vector<double> losses(workers, 0.0);
    std::fill(gradient.begin(), gradient.end(), 0.0F);
    auto run = [&](size_t worker) {
      const size_t begin = n * worker / workers;
      const size_t end = n * (worker + 1) / workers;
      losses[worker] = accumulate(w, begin, end, worker == 0 ? gradient : partial[worker - 1]);
    };
    std::vector<std::thread> pool;
    for (size_t worker = 1; worker < workers; ++worker) pool.emplace_back(run, worker);
    run(0);
    for (auto& t : pool) t.join();
    double loss = 0;
    for (double l : losses) loss += l;
    for (const auto& g : partial) {
      for (size_t i = 0; i < g.size(); ++i) gradient[i] += g[i];
    }
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
      const auto y = static_cast<size_t>(labels_[i]);
      const float max = *std::max_element(z.begin(), z.end());
      double sum = 0;
      for (float& v : z) {
        v = std::exp(v - max);
        sum += v;
      }
      loss += std::log(sum) - std::log(static_cast<double>(z[y]));
      const auto inverse = static_cast<float>(1.0 / sum);
      for (float& v : z) v *= inverse;
      z[y] -= 1.0F;  // d(cross-entropy)/d(logits)
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

struct CorrectionPair {
  std::vector<float> s;  // the step taken
  std::vector<float> y;  // the change of the gradient along it
  double rho;            // 1 / (s . y)
};

// -H * gradient by the L-BFGS two-loop recursion (Nocedal & Wright, algorithm 7.4).
std::vector<float> descent_direction(const std::vector<float>& gradient, const std::deque<CorrectionPair>& pairs) {
  std::vector<float> q = gradient;
  std::vector<double> alpha(pairs.size());
  for (size_t j = pairs.size(); j-- > 0;) {
    alpha[j] = pairs[j].rho * dot(pairs[j].s, q);
    const auto a = static_cast<float>(alpha[j]);
    for (size_t i = 0; i < q.size(); ++i) q[i] -= a * pairs[j].y[i];
  }
  if (!pairs.empty()) {
    const auto& last = pairs.back();
    const auto gamma = static_cast<float>(1.0 / (last.rho * dot(last.y, last.y)));
    for (float& v : q) v *= gamma;
  }
  for (size_t j = 0; j < pairs.size(); ++j) {
    const auto b = static_cast<float>(alpha[j] - pairs[j].rho * dot(pairs[j].y, q));
    for (size_t i = 0; i < q.size(); ++i) q[i] += b * pairs[j].s[i];
  }
  for (float& v : q) v = -v;
  return q;
}

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
  const Objective objective(problem, labels, classes_, options);
  std::vector<float> w(objective.size());
  for (size_t r = 0; r < problem.rows.size(); ++r) {
    std::copy_n(&weights_[problem.rows[r] * c], c, &w[r * c]);
  }
  std::vector<float> gradient(w.size());
  double f = objective(w, gradient);
  std::deque<CorrectionPair> pairs;
  std::vector<float> next(w.size());
  std::vector<float> next_gradient(w.size());
  int32_t iteration = 0;
  while (iteration < options.max_iterations) {
    auto direction = descent_direction(gradient, pairs);
    double slope = dot(direction, gradient);
    if (!(slope < 0)) {  // not a descent direction: start the memory afresh
      pairs.clear();
      direction = descent_direction(gradient, pairs);
      slope = dot(direction, gradient);
    }
    if (!(slope < 0)) break;  // the gradient vanished
    // Without curvature information yet, the first step is scaled to unit length.
    double step = pairs.empty() ? 1.0 / std::sqrt(-slope) : 1.0;
    double next_f = 0;
    bool accepted = false;
    for (int tries = 0; tries < 40 && !accepted; ++tries, step *= 0.5) {  // backtracking (Armijo)
      for (size_t i = 0; i < w.size(); ++i) next[i] = w[i] + static_cast<float>(step) * direction[i];
      next_f = objective(next, next_gradient);
      accepted = next_f <= f + 1e-4 * step * slope;
    }
    if (!accepted) break;  // no progress is possible at float precision
    ++iteration;
    CorrectionPair pair{std::vector<float>(w.size()), std::vector<float>(w.size()), 0};
    for (size_t i = 0; i < w.size(); ++i) {
      pair.s[i] = next[i] - w[i];
      pair.y[i] = next_gradient[i] - gradient[i];
    }
    const double curvature = dot(pair.s, pair.y);
    if (curvature > 1e-12) {
      pair.rho = 1.0 / curvature;
      pairs.push_back(std::move(pair));
      if (pairs.size() > static_cast<size_t>(std::max(1, options.memory))) pairs.pop_front();
    }
    const double improvement = (f - next_f) / std::max(1e-12, std::abs(f));
    w.swap(next);
    gradient.swap(next_gradient);
    f = next_f;
    if (options.on_iteration) options.on_iteration(iteration, options.max_iterations);
    if (improvement < options.tolerance) break;
  }
  for (size_t r = 0; r < problem.rows.size(); ++r) {
    std::copy_n(&w[r * c], c, &weights_[problem.rows[r] * c]);
  }
  return iteration;
}

}  // namespace tandem::router
