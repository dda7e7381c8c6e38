// Calibration of a classifier's confidence on held-out examples: a temperature that makes the
// softmax probabilities honest (Guo et al. 2017), and the out-of-scope threshold on them.
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tandem::router {

// The temperature T in [e^-3, e^3] that minimises the negative log-likelihood of `labels` under
// softmax(logits / T). 1 when there is nothing to fit.
float fit_temperature(const std::vector<std::vector<float>>& logits, const std::vector<int32_t>& labels);

// The highest confidence threshold that rejects (as out-of-scope) at most `max_loss` of the
// in-scope examples the classifier got right. `correct_confidences` are the calibrated
// confidences of those correct answers; `in_scope` counts all in-scope examples.
float choose_oos_threshold(std::vector<float> correct_confidences, size_t in_scope, double max_loss);

}  // namespace tandem::router
