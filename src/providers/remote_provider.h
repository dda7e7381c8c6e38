// A remote OpenAI-compatible chat endpoint (OpenAI, DeepSeek, DashScope, vLLM, llama-server,
// another Tandem) as a Provider, over libcurl: POST {base_url}/chat/completions, streamed as
// server-sent events and relayed chunk by chunk.
//
//   auto cloud = tandem::providers::RemoteProvider::create({
//       .name = "openai", .base_url = "https://api.openai.com/v1", .model = "gpt-4o-mini",
//       .api_key_env = "OPENAI_API_KEY", .input_usd_per_mtok = 0.15, .output_usd_per_mtok = 0.60});
//   if (!cloud) return cloud.error();                  // bad URL scheme, key variable not set
//   auto answer = (*cloud)->stream(request, on_delta);
//
// The API key is read once from the environment variable named by `api_key_env` and sent only in
// the Authorization header. Tandem never puts it into a log line, an error or a result field; a
// server's error text that echoes it is redacted. (The generated answer is the model's own text.) Only http and https
// URLs are accepted and redirects are never followed.
//
// Retries: 429, 5xx and connection failures (refused, reset, closed, empty reply) are retried up to
// `max_retries` times with exponential back-off and full jitter, waiting exactly `Retry-After`
// seconds when the server sends it. A stream is never retried once a delta was delivered.
// Timeouts are not retried: the attempt already used the time the caller allowed.
// A circuit breaker per provider counts failed attempts (see circuit_breaker.h).
//
// Errors (tandem::ErrorCode), after retries:
//   kInvalidArgument   HTTP 400, 413, 422 and other 4xx about the request (the server's message)
//   kNotFound          HTTP 404 (unknown model or wrong base_url)
//   kUnavailable       HTTP 401/403: the server refused the credentials (not retried: the key, not
//                      the caller's request, is wrong, and falling back to another provider helps);
//                      HTTP 5xx, connection refused/reset/closed, a stream cut short, a redirect,
//                      and "circuit open" without any request being sent
//   kResourceExhausted HTTP 429 still after the retries, or a Retry-After above max_backoff_ms
//   kDeadlineExceeded  no complete answer within timeout_ms (connect_timeout_ms to connect)
//   kInternal          a malformed answer: not JSON, or JSON without choices
// Cancellation is not an error: the result holds what arrived, with FinishReason::kCancelled.
//
// Usage: from the response's `usage`; streams ask for it with stream_options.include_usage and
// take it from the final chunk. A server that sends none leaves ChatResult::usage absent.
//
// The standard proxy environment variables (https_proxy, no_proxy, ...) apply, as for curl.
// Thread-safety: any number of threads at once; each call uses its own connection.
#pragma once

#include <memory>
#include <string>

#include "providers/circuit_breaker.h"
#include "providers/provider.h"

namespace tandem::providers {

// Every member has an initializer, so designated initializers may name only what they change.
struct RemoteProviderOptions {
  std::string name{};      // in results, logs and errors; empty: "remote/<model>"
  std::string base_url{};  // up to and including the API version, e.g. "https://api.openai.com/v1"
  std::string model{};
  std::string api_key_env{};       // NAME of the environment variable holding the key; empty: no key sent
  double input_usd_per_mtok = 0;   // price per million prompt tokens
  double output_usd_per_mtok = 0;  // price per million completion tokens
  int64_t timeout_ms = 120000;     // one attempt, the whole answer (a stream included)
  int64_t connect_timeout_ms = 10000;
  int32_t max_retries = 2;
  int64_t initial_backoff_ms = 250;  // before retry n: uniform(0, min(max_backoff_ms, initial * 2^n))
  int64_t max_backoff_ms = 10000;    // also the longest Retry-After honoured; a longer one ends the retries
  CircuitBreaker::Options circuit{};
};

class RemoteProvider final : public Provider {
 public:
  // kInvalidArgument: empty model, a URL that is not http(s) or holds credentials, negative
  // limits, or an api_key_env that is not set in the environment.
  static Result<std::unique_ptr<RemoteProvider>> create(RemoteProviderOptions options);

  const std::string& name() const override { return options_.name; }
  const std::string& model() const override { return options_.model; }
  ProviderKind kind() const override { return ProviderKind::kRemote; }
  Result<ChatResult> complete(const ChatRequest& request) override;
  Result<ChatResult> stream(const ChatRequest& request, const DeltaCallback& on_delta) override;

  bool available() const override { return breaker_.state() != CircuitBreaker::State::kOpen; }
  double cost_usd(int64_t prompt_tokens, int64_t completion_tokens) const override;

  CircuitBreaker::State circuit_state() const { return breaker_.state(); }

 private:
  RemoteProvider(RemoteProviderOptions options, std::string api_key, std::string endpoint);

  // on_delta null: a plain completion; else a stream.
  Result<ChatResult> call(const ChatRequest& request, const DeltaCallback* on_delta);

  const RemoteProviderOptions options_;
  const std::string api_key_;  // never logged, never put into an error or a result
  const std::string endpoint_;
  CircuitBreaker breaker_;
};

}  // namespace tandem::providers
