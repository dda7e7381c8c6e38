// Durable file replacement for the small files Tandem rewrites whole (API keys, the audit log's
// head, the vector index checksum): a reader sees the old content or the new, never a mix, and
// after a crash the new content is there or the old one is.
//
//   if (auto st = tandem::replace_file_atomically(path, json.dump()); !st) return st;  // mode 0600
//
// Thread-safety: callers that may race on one path serialize themselves (each uses its own
// temporary name per process, not per thread), e.g. with a WriterLock.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace tandem {

// Writes `content` to a temporary file beside `path` (mode 0600), fsyncs it, renames it over
// `path` and fsyncs the folder. kUnavailable with strerror (a full disk, no permission) on failure,
// leaving `path` as it was.
Status replace_file_atomically(const std::string& path, std::string_view content);

// flock(LOCK_EX) on `<path>.lock` for as long as it lives (the folder is created when missing):
// one writer of `path` across processes. Separate open()s conflict even within one process, so
// it also orders writers that hold different objects for the same file.
class WriterLock {
 public:
  explicit WriterLock(const std::string& path);
  ~WriterLock();  // releases the lock
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;
  // kUnavailable naming the lock file when it could not be opened or locked.
  Status status() const;

 private:
  std::string lock_path_;
  int fd_ = -1;
  int error_ = 0;
};

// "<what> <path>: <strerror(error_number)>", the shape of every IO error message.
std::string io_error(std::string_view what, const std::string& path, int error_number);

}  // namespace tandem
