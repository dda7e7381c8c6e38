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

}  // namespace tandem::engine
