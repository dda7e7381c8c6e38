#include "router/calibration.h"

#include <algorithm>
#include <cmath>

namespace tandem::router {
namespace {

double negative_log_likelihood(const std::vector<std::vector<float>>& logits, const std::vector<int32_t>& labels,
                               double temperature) {
  double total = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    const auto& z = logits[i];
    const double max = *std::max_element(z.begin(), z.end());
    double sum = 0;
    for (float v : z) sum += std::exp((v - max) / temperature);
    total += std::log(sum) - (z[static_cast<size_t>(labels[i])] - max) / temperature;
  }
  return total / static_cast<double>(logits.size());
}

}  // namespace

float fit_temperature(const std::vector<std::vector<float>>& logits, const std::vector<int32_t>& labels) {
  if (logits.empty()) return 1.0F;
  // Golden-section search on log T; the NLL is unimodal in T.
  const double ratio = (std::sqrt(5.0) - 1) / 2;
  double lo = -3;
  double hi = 3;
  auto nll = [&](double log_t) { return negative_log_likelihood(logits, labels, std::exp(log_t)); };
  double a = hi - ratio * (hi - lo);
  double b = lo + ratio * (hi - lo);
  double fa = nll(a);
  double fb = nll(b);
  for (int i = 0; i < 60; ++i) {
    if (fa < fb) {
      hi = b;
      b = a;
      fb = fa;
      a = hi - ratio * (hi - lo);
      fa = nll(a);
    } else {
      lo = a;
      a = b;
      fa = fb;
      b = lo + ratio * (hi - lo);
      fb = nll(b);
    }
  }
  return static_cast<float>(std::exp((lo + hi) / 2));
}

float choose_oos_threshold(std::vector<float> correct_confidences, size_t in_scope, double max_loss) {
  if (correct_confidences.empty() || in_scope == 0) return 0.0F;
  std::sort(correct_confidences.begin(), correct_confidences.end());
  const auto allowed = static_cast<size_t>(std::floor(max_loss * static_cast<double>(in_scope)));
  if (allowed >= correct_confidences.size()) return correct_confidences.back();
  // Rejecting "confidence < threshold" drops exactly the `allowed` lowest correct answers.
  return correct_confidences[allowed];
}

}  // namespace tandem::router
