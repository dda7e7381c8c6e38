// Durable file replacement for the small files Tandem rewrites whole (API keys, the audit log's
// head, the vector index checksum): a reader sees the old content or the new, never a mix, and
// after a crash the new content is there or the old one is.
//
//   if (auto st = tandem::replace_file_atomically(path, json.dump()); !st) return st;  // mode 0600
//
// Thread-safety: callers that may race on one path serialize themselves (each uses its own
// temporary name per process, not per thread).
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace tandem {

// Writes `content` to a temporary file beside `path` (mode 0600), fsyncs it, renames it over
// `path` and fsyncs the folder. kUnavailable with strerror (a full disk, no permission) on failure,
// leaving `path` as it was.
Status replace_file_atomically(const std::string& path, std::string_view content);

// "<what> <path>: <strerror(error_number)>", the shape of every IO error message.
std::string io_error(std::string_view what, const std::string& path, int error_number);

}  // namespace tandem
