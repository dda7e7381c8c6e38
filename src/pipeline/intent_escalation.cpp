#include "pipeline/intent_escalation.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace tandem::pipeline {

providers::ChatRequest classification_request(const std::string& text, const std::vector<std::string>& labels) {
  std::string list;
  for (const auto& label : labels) list += (list.empty() ? "" : ", ") + label;
  providers::ChatRequest request;
  request.messages = {
      {"system", "You route requests for an AI assistant. Classify the user's request into exactly one of these "
                 "labels: " + list + ". Answer with JSON only: {\"label\": \"<label>\"}."},
      {"user", text}};
  request.sampling.temperature = 0;
  request.sampling.max_tokens = 32;
  request.response_format = {
      {"type", "json_schema"},
      {"json_schema",
       {{"name", "intent"},
        {"strict", true},
        {"schema",
         {{"type", "object"},
          {"properties", {{"label", {{"type", "string"}, {"enum", labels}}}}},
          {"required", {"label"}},
          {"additionalProperties", false}}}}}};
  return request;
}

std::optional<std::string> parse_classification(const std::string& answer, const std::vector<std::string>& labels) {
  const auto open = answer.find('{');
  const auto close = answer.find('}', open == std::string::npos ? 0 : open);
  if (open == std::string::npos || close == std::string::npos) return std::nullopt;
  const auto json = nlohmann::json::parse(answer.substr(open, close - open + 1), nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object() || !json.contains("label") || !json["label"].is_string()) {
    return std::nullopt;
  }
  const auto label = json["label"].get<std::string>();
  if (std::find(labels.begin(), labels.end(), label) == labels.end()) return std::nullopt;
  return label;
}

}  // namespace tandem::pipeline
