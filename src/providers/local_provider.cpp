#include "providers/local_provider.h"

#include <chrono>

namespace tandem::providers {

LocalProvider::LocalProvider(engine::ChatEngine& engine, std::string name)
    : engine_(engine), name_(std::move(name)), model_(engine.info().name) {
  if (name_.empty()) name_ = "local/" + model_;
}

Result<ChatResult> LocalProvider::complete(const ChatRequest& request) {
  return stream(request, {});
}

Result<ChatResult> LocalProvider::stream(const ChatRequest& request, const DeltaCallback& on_delta) {
  if (!request.response_format.is_null()) {
    return make_error(ErrorCode::kUnimplemented, "the local engine does not constrain answers to a response_format yet");
  }
  const auto start = std::chrono::steady_clock::now();
  engine::GenerationRequest generation;
  generation.messages = request.messages;
  generation.sampling = request.sampling;
  generation.cancel = request.cancel;
  // The engine may hand over deltas already generated after the callback said stop; the contract
  // (and RemoteProvider) ends the relay there and reports only what the caller accepted.
  std::string accepted;
  bool stopped = false;
  DeltaCallback relay;
  if (on_delta) {
    relay = [&](std::string_view delta) {
      stopped = stopped || (request.cancel && request.cancel->load());
      if (stopped) return false;
      accepted += delta;
      stopped = !on_delta(delta);
      return !stopped;
    };
  }
  auto generated = engine_.generate(generation, relay);
  if (!generated) return generated.error();

  ChatResult result;
  result.text = stopped ? std::move(accepted) : std::move(generated->text);
  result.finish_reason = generated->finish_reason;
  result.usage = generated->usage;
  result.provider = name_;
  result.model = model_;
  result.elapsed_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  result.time_to_first_token_ms = generated->timings.time_to_first_token_ms;
  result.confidence = generated->confidence;
  result.device = std::move(generated->device);
  result.device_reason = std::move(generated->device_reason);
  return result;
}

}  // namespace tandem::providers
