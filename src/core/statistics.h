// Small statistics shared by the evaluations: percentiles of latency samples.
//
//   double p95 = tandem::percentile(latencies_ms, 0.95);   // linear interpolation, 0 when empty
//
// Thread-safety: pure functions.
#pragma once

#include <algorithm>
#include <cmath>
#include <vector>

namespace tandem {

inline double percentile(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double rank = p * static_cast<double>(values.size() - 1);
  const auto lo = static_cast<size_t>(std::floor(rank));
  const auto hi = static_cast<size_t>(std::ceil(rank));
  return values[lo] + (values[hi] - values[lo]) * (rank - static_cast<double>(lo));
}

}  // namespace tandem
