// libFuzzer target for sealed files and sealed record logs: whatever bytes a file holds, reading it
// gives its content or an error, never a crash, and a tampered file is never accepted.
// Input: byte 0 even = a whole sealed file, odd = a sealed record log; the rest is the file. The key
// is fixed (all zero bytes), as in the corpus, so mutations of valid files reach every check.
//
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -Isrc src/privacy/sealed_file.cpp \
//     src/privacy/aes_gcm.cpp src/core/file_io.cpp src/core/status.cpp tests/fuzz/sealed_file_fuzz.cpp \
//     -lcrypto -lfmt -o sealed_file_fuzz
//   ./sealed_file_fuzz -max_total_time=60 tests/fuzz/corpus/sealed_file
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#include "privacy/sealed_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const std::string path = "sealed-file-fuzz-input." + std::to_string(::getpid());
  const tandem::privacy::Key key{};
  const std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    auto content = tandem::privacy::unseal_bytes(bytes, key, path);
    // Only the sealer could have made bytes that authenticate: their content is what was sealed.
    if (content && content->size() + tandem::privacy::kSealedHeaderBytes + tandem::privacy::kTagBytes > bytes.size()) {
      std::abort();
    }
    return 0;
  }
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  auto records = tandem::privacy::read_records(path, key);
  (void)records;
  ::unlink(path.c_str());
  return 0;
}
