// Small + large model intent understanding: when the local classifier is unsure, the large
// model classifies the request, constrained to the label set by a JSON schema; its answer is used
// and kept as a learned example (pipeline/learned_examples.h), so that retraining the small model
// on them teaches it what the large one knew.
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "providers/provider.h"

namespace tandem::pipeline {

// A deterministic request whose answer must be {"label": <one of labels>}.
providers::ChatRequest classification_request(const std::string& text, const std::vector<std::string>& labels);

// The label of such an answer, if it names one of `labels` (servers that ignore the schema may
// wrap the JSON in prose: the first {...} is read).
std::optional<std::string> parse_classification(const std::string& answer, const std::vector<std::string>& labels);

}  // namespace tandem::pipeline
