// libFuzzer target for the request parsers of the OpenAI-compatible API: any body is either a
// request or a RequestError with a message, never a crash, a hang or an exception escaping; an
// accepted chat request respects the limits it was parsed with.
//
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc src/server/openai_protocol.cpp \
//     src/engine/engine_types.cpp \
//     src/core/status.cpp tests/fuzz/chat_request_fuzz.cpp -lfmt -o chat_request_fuzz
//   ./chat_request_fuzz -max_total_time=60 tests/fuzz/corpus/chat_request
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/openai_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  const tandem::server::ChatLimits limits{.max_tokens = 64, .default_max_tokens = 16};
  auto chat = tandem::server::parse_chat_completion(body, limits);
  if (auto* request = std::get_if<tandem::server::ChatCompletionRequest>(&chat)) {
    const auto max_tokens = request->generation.sampling.max_tokens;
    if (max_tokens < 1 || max_tokens > limits.max_tokens) __builtin_trap();
    if (request->generation.messages.empty()) __builtin_trap();
  } else if (std::get<tandem::server::RequestError>(chat).error.message.empty()) {
    __builtin_trap();
  }
  auto embeddings = tandem::server::parse_embeddings(body);
  if (auto* rejected = std::get_if<tandem::server::RequestError>(&embeddings);
      rejected && rejected->error.message.empty()) {
    __builtin_trap();
  }
  return 0;
}
