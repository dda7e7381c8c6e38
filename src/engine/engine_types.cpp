// The engine's plain value types (engine.h), kept apart from llama.cpp so that code which only
// formats results (the HTTP protocol, its fuzz target) links without a model runtime.
#include "engine/engine.h"

namespace tandem::engine {

std::string_view finish_reason_name(FinishReason reason) {
  switch (reason) {
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kLength:
      return "length";
    case FinishReason::kCancelled:
      return "cancelled";
  }
  return "stop";
}

int64_t approximate_tokens(std::string_view text) {
  return static_cast<int64_t>((text.size() + 3) / 4);
}

int64_t approximate_tokens(const std::vector<ChatMessage>& messages) {
  size_t bytes = 0;
  for (const auto& m : messages) bytes += m.content.size();
  return static_cast<int64_t>((bytes + 3) / 4);
}

}  // namespace tandem::engine
