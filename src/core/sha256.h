// SHA-256 of files and byte strings, as lowercase hex: content hashes for de-duplication, the
// integrity check of the saved vector index, and the audit log's hash chain.
//
//   auto hash = tandem::sha256_file("report.pdf");   // streams; any size
//
// Thread-safety: free functions without shared state.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace tandem {

std::string sha256_hex(std::string_view bytes);
Result<std::string> sha256_file(const std::string& path);

}  // namespace tandem
