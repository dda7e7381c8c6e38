#include "router/lbfgs.h"

#include <algorithm>
#include <cmath>
#include <deque>
#include <thread>

namespace tandem::router {
namespace {

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double sum = 0;
  for (size_t i = 0; i < a.size(); ++i) sum += static_cast<double>(a[i]) * b[i];
  return sum;
}

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

int32_t minimise_lbfgs(const Objective& objective, std::vector<float>& w, const LbfgsOptions& options) {
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
  return iteration;
}

double sum_over_examples(size_t n, size_t threads, const RangeLoss& range_loss, std::vector<float>& gradient) {
  const size_t workers = std::min(threads, std::max<size_t>(1, n / 256));
  std::vector<std::vector<float>> partial(workers - 1, std::vector<float>(gradient.size(), 0.0F));
  std::vector<double> losses(workers, 0.0);
  std::fill(gradient.begin(), gradient.end(), 0.0F);
  auto run = [&](size_t worker) {
    losses[worker] = range_loss(n * worker / workers, n * (worker + 1) / workers,
                                worker == 0 ? gradient : partial[worker - 1]);
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
  return loss;
}

double softmax_cross_entropy(std::vector<float>& logits, size_t label) {
  const float max = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float& v : logits) {
    v = std::exp(v - max);
    sum += v;
  }
  const double loss = std::log(sum) - std::log(static_cast<double>(logits[label]));
  const auto inverse = static_cast<float>(1.0 / sum);
  for (float& v : logits) v *= inverse;
  logits[label] -= 1.0F;
  return loss;
}

}  // namespace tandem::router
