// The OpenAI wire format: strict parsing of /v1/chat/completions and /v1/embeddings bodies into
// engine requests, and the JSON (and SSE events) sent back. No sockets, no model: pure functions
// over text, so every rule is unit-testable.
//
//   auto parsed = parse_chat_completion(body, {.max_tokens = 4096, .default_max_tokens = 512});
//   if (auto* rejected = std::get_if<RequestError>(&parsed)) return reply(api_error(rejected->error, rejected->param));
//   auto& request = std::get<ChatCompletionRequest>(parsed);
//   auto result = engine.generate(request.generation);
//   reply(chat_completion_json({.id = new_completion_id(), .created = now, .model = name}, *result));
//
// Thread-safety: pure functions; ChatChunkFormatter is a value, one per response.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/status.h"
#include "engine/engine.h"
#include "providers/provider.h"

namespace tandem::server {

// A rejected request body: the error and the field it is about (OpenAI's `param`; empty if none).
struct RequestError {
  Error error;
  std::string param;
};

template <typename T>
using Parsed = std::variant<T, RequestError>;

// Server-wide rules applied to every chat request (from Config).
struct ChatLimits {
  int32_t max_tokens = 4096;         // engine.max_tokens: the largest a request may ask for
  int32_t default_max_tokens = 512;  // engine.default_max_tokens
  engine::OverflowPolicy overflow = engine::OverflowPolicy::kError;
};

struct ChatCompletionRequest {
  std::string model;  // as the client wrote it; empty when not given
  engine::GenerationRequest generation;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  // Tandem's own options, {"tandem": {"knowledge": "auto"|"always"|"never", "collections": [...]}}
  // (the openai client sends them with extra_body).
  std::string knowledge = "auto";
  std::vector<std::string> collections;
  providers::CloudSampling cloud_sampling;  // the sampling fields the client set
};

// Types are checked strictly (null counts as "not given"); unknown fields are ignored, features
// Tandem cannot honour (tools, logprobs, n > 1) are refused.
Parsed<ChatCompletionRequest> parse_chat_completion(std::string_view body, const ChatLimits& limits);

struct EmbeddingsRequest {
  std::string model;  // empty when not given
  std::vector<std::string> inputs;
  bool base64 = false;     // encoding_format "base64": little-endian float32, as the openai client asks by default
  int32_t dimensions = 0;  // 0: not given
};

Parsed<EmbeddingsRequest> parse_embeddings(std::string_view body);

// What every chat response and chunk repeats.
struct CompletionMeta {
  std::string id;  // "chatcmpl-..."
  int64_t created = 0;
  std::string model;
};

std::string new_completion_id();

// UTF-8 JSON text; never throws (a stray invalid byte becomes U+FFFD).
std::string to_text(const nlohmann::json& value);

// `route` (an object, may be empty) is merged into the response's `tandem` object: where the
// answer came from and why, for requests routed by the pipeline.
nlohmann::json chat_completion_json(const CompletionMeta& meta, const engine::GenerationResult& result,
                                    const nlohmann::json& route = nlohmann::json::object());

// Server-sent events of one streamed completion, in the order they are sent.
class ChatChunkFormatter {
 public:
  ChatChunkFormatter(CompletionMeta meta, bool include_usage);

  std::string role_event() const;  // delta {"role":"assistant","content":""}
  std::string content_event(std::string_view text) const;
  // The chunk with finish_reason (and the `tandem` object), then the usage chunk if asked, then [DONE].
  std::string final_events(const engine::GenerationResult& result,
                           const nlohmann::json& route = nlohmann::json::object()) const;
  // An error after the 200 headers went out: the stream ends without [DONE].
  static std::string error_event(const std::string& error_body);

 private:
  nlohmann::json chunk(nlohmann::json delta, nlohmann::json finish_reason) const;

  CompletionMeta meta_;
  bool include_usage_;
};

nlohmann::json embeddings_json(const std::string& model, const engine::EmbeddingResult& result, bool base64);

// The local chat model answers to its own name and to this alias.
inline constexpr const char* kLocalModelAlias = "tandem/local";

// GET /v1/models: the chat model, its alias, the embedding model and `routed`, the model ids the
// pipeline answers (tandem/auto, tandem/cloud).
nlohmann::json models_json(const engine::ModelInfo& chat, const engine::ModelInfo* embedding, int64_t created,
                           const std::vector<std::string>& routed = {});

}  // namespace tandem::server
