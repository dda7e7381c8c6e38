// libFuzzer target for the stream restorer: a model's answer cut into arbitrary deltas must come
// out exactly as restoring the whole answer at once, whatever bytes it holds.
// Input: byte 0 = how many of the first bytes are the pseudonymized text (a few values get
// placeholders); the rest is the answer, and every 0x01 byte in it marks a delta boundary.
//
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc src/privacy/vault.cpp \
//     src/privacy/pii.cpp tests/fuzz/stream_restorer_fuzz.cpp -o stream_restorer_fuzz
//   ./stream_restorer_fuzz -max_total_time=60 tests/fuzz/corpus/stream_restorer
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "privacy/vault.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  const size_t secret_bytes = std::min<size_t>(data[0], input.size());
  const std::string_view secrets = input.substr(0, secret_bytes);
  const std::string_view answer = input.substr(secret_bytes);

  // Every 4-byte piece of the first part becomes a value of a type picked by its first byte.
  tandem::privacy::Vault vault;
  std::vector<tandem::privacy::Entity> entities;
  for (size_t at = 0; at + 4 <= secrets.size(); at += 4) {
    const auto type = static_cast<tandem::privacy::EntityType>(static_cast<unsigned char>(secrets[at]) %
                                                               tandem::privacy::kEntityTypeCount);
    entities.push_back({type, at, at + 4, 1.0});
  }
  vault.pseudonymize(secrets, entities);

  std::string whole;
  std::vector<std::string> deltas(1);
  for (char c : answer) {
    if (c == '\x01') {
      deltas.emplace_back();
    } else {
      deltas.back() += c;
      whole += c;
    }
  }
  tandem::privacy::StreamRestorer restorer(vault);
  std::string streamed;
  for (const auto& delta : deltas) streamed += restorer.push(delta);
  streamed += restorer.finish();
  if (streamed != vault.restore(whole)) __builtin_trap();
  return 0;
}
