// One interface for every model that can answer a chat: the local engine and any remote
// OpenAI-compatible endpoint look the same to the rest of Tandem (request and result types,
// streaming, cancellation, usage accounting).
//
//   tandem::providers::ChatRequest request;
//   request.messages = {{"user", "Hello"}};
//   request.sampling.temperature = 0;
//   auto result = provider.stream(request, [](std::string_view delta) { print(delta); return true; });
//   if (!result) return result.error();              // a tandem::ErrorCode with a clear message
//   charge(result->usage, result->cost_usd);         // usage may be absent for some remote servers
//
// Cancellation is the engine's: set `request.cancel` from any thread, or return false from the
// delta callback (it is not called again). Either way the call returns the text delivered so far
// with FinishReason::kCancelled (not an error), for local and remote alike.
//
// Thread-safety: every Provider may be called from any number of threads at once.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "engine/engine.h"

namespace tandem::providers {

using engine::ChatMessage;
using engine::DeltaCallback;
using engine::FinishReason;
using engine::SamplingParams;
using engine::Usage;

enum class ProviderKind { kLocal, kRemote };
std::string_view provider_kind_name(ProviderKind kind);  // "local", "remote"

// Which of `sampling`'s OpenAI fields a remote provider sends. The server clears the ones a client
// left out, so a public model keeps its own defaults rather than the local engine's (temperature
// 0.8, top_p 0.95). max_tokens is always sent: it bounds the cost that was estimated and reserved.
struct CloudSampling {
  bool temperature = true;
  bool top_p = true;
  bool frequency_penalty = true;
  bool presence_penalty = true;
};

struct ChatRequest {
  std::vector<ChatMessage> messages;
  // Remote providers send only the OpenAI fields (temperature, top_p, frequency/presence
  // penalty, seed, max_tokens, stop) that `cloud_sampling` names; top_k, min_p and repeat_*
  // apply to the local engine only.
  SamplingParams sampling;
  CloudSampling cloud_sampling;
  std::shared_ptr<std::atomic<bool>> cancel;  // may be null
  // OpenAI's `response_format` (e.g. a JSON schema the answer must follow), sent as is; null:
  // free text. Remote providers only: the local engine answers kUnimplemented.
  nlohmann::json response_format;
};

struct ChatResult {
  std::string text;
  FinishReason finish_reason = FinishReason::kStop;
  // Absent when a remote server reports no usage (e.g. a stream without a usage chunk): Tandem
  // never guesses token counts, so absent means "unknown", not zero.
  std::optional<Usage> usage;
  double cost_usd = 0;                // from usage and the provider's prices; 0 when usage is absent
  std::string provider;               // Provider::name()
  std::string model;                  // the model that answered, as the provider names it
  int32_t attempts = 1;               // 1 + retries
  double elapsed_ms = 0;              // the whole call, retries and back-off included
  double time_to_first_token_ms = 0;  // 0: nothing generated, or unknown (a remote answer not streamed)
  // With sampling.score_tokens, from the local engine; absent for remote providers.
  std::optional<engine::TokenConfidence> confidence;
  std::string device;  // the local device that answered when the model has replicas; else empty
  std::string device_reason;
};

class Provider {
 public:
  virtual ~Provider() = default;

  virtual const std::string& name() const = 0;
  virtual const std::string& model() const = 0;  // the model it asks for, as its server names it
  virtual ProviderKind kind() const = 0;

  // False while the provider is known to be down (a remote one's circuit breaker is open).
  virtual bool available() const { return true; }
  // What a call of this size costs in USD (0 for the local engine).
  virtual double cost_usd(int64_t /*prompt_tokens*/, int64_t /*completion_tokens*/) const { return 0; }

  // The whole answer at once.
  virtual Result<ChatResult> complete(const ChatRequest& request) = 0;
  // Deltas arrive on the calling thread as they are generated; the result repeats the full text.
  virtual Result<ChatResult> stream(const ChatRequest& request, const DeltaCallback& on_delta) = 0;
};

}  // namespace tandem::providers
