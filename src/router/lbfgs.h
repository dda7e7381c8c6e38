// Full-batch L-BFGS with a backtracking (Armijo) line search, for the router's smooth training
// objectives (the softmax regression and the hidden-layer head). Deterministic for a
// deterministic objective.
// Thread-safety: minimise() calls `objective` on the calling thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace tandem::router {

struct LbfgsOptions {
  int32_t max_iterations = 300;
  // Stops when an iteration improves the objective by less than this, relative to its value.
  double tolerance = 1e-6;
  int32_t memory = 5;  // correction pairs kept
  std::function<void(int32_t iteration, int32_t max_iterations)> on_iteration;  // optional progress
};

// Returns f(w) and writes its gradient into `gradient` (already sized like w).
using Objective = std::function<double(const std::vector<float>& w, std::vector<float>& gradient)>;

// Moves `w` towards a minimum of `objective`; returns the iterations run.
int32_t minimise_lbfgs(const Objective& objective, std::vector<float>& w, const LbfgsOptions& options);

// Sums `range_loss(begin, end, gradient)` over the examples [0, n), split among up to `threads`
// workers (at least 256 examples each), each adding into a gradient of its own that is summed
// into `gradient` (zeroed first) in worker order, so the result does not depend on timing.
using RangeLoss = std::function<double(size_t begin, size_t end, std::vector<float>& gradient)>;
double sum_over_examples(size_t n, size_t threads, const RangeLoss& range_loss, std::vector<float>& gradient);

// The softmax cross-entropy of `logits` for the true class `label`, which both heads minimise:
// returns the loss and turns `logits` into its gradient with respect to them (softmax - one-hot).
double softmax_cross_entropy(std::vector<float>& logits, size_t label);

}  // namespace tandem::router
