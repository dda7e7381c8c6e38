// The tamper-evident audit log of egress: one entry for every request that sends text to a public
// (cloud) model, saying when, for which tenant, to which provider and model, which kinds of personal
// data were pseudonymized first, and the SHA-256 of the exact bytes that left the machine.
//
//   auto log = privacy::AuditLog::open(config.privacy_audit_log);   // default <data dir>/audit.log
//   if (!log) return log.error();                 // refuse egress when the log is unusable
//   privacy::AuditEntry entry;
//   entry.tenant = "acme";
//   entry.provider = "openai";
//   entry.model = "gpt-4o-mini";
//   entry.pseudonymized = {{"person", 2}, {"email", 1}};
//   entry.sent_sha256 = tandem::sha256_hex(body);    // the exact bytes about to be sent
//   entry.sent_bytes = static_cast<int64_t>(body.size());
//   if (auto written = log->append(entry); !written) return written.error();
//   ...
//   auto report = privacy::verify_audit_log(path);  // `tandem audit verify`
//
// Format: JSON Lines, one entry per line, keys sorted. Each entry commits to the one before it:
// hash = SHA-256(previous_hash || canonical JSON of the entry without "hash"), the first entry's
// previous_hash is 64 zeros, and sequences run 1, 2, 3, ... So an edited field breaks that entry's
// hash, and a removed or reordered line breaks the sequence. Removing the last lines leaves a valid
// chain, so a sidecar `<log>.head` (replaced atomically after every append) holds the last sequence
// and hash; verify compares the log's end with it.
//
// Crash safety: each entry is one write() followed by fdatasync(), so a crash leaves either the
// whole entry or a torn last one (a line without its newline, a record shorter than its length),
// which open() and verify report rather than drop. A crash between the line and the head leaves the head one entry
// behind; that state is accepted and open() brings the head up to date. open() refuses a broken log (kDataLoss), so
// egress stops until someone looks: `tandem audit verify` names the line; moving both files aside starts a new chain.
// An open log does the same: append() checks the whole chain again when the files changed since its last write.
//
// Encryption at rest: with the "audit" data key, entries are sealed records and the head a sealed
// file (privacy/sealed_file.h), so the log on disk reveals nothing and any flipped byte is found.
//
// Limitation: in clear the chain is unkeyed: someone with write access who rewrites the whole chain
// from the first changed entry onwards and the head too is not detected. Sealed, that rewrite needs
// the data key. Deleting both files is not detected either way; that needs an anchor outside them
// (the head published elsewhere).
//
// Thread-safety: AuditLog may be shared by any number of threads (moving it may not); append() and
// read_all() are serialised by a mutex, and appends from several processes by flock() on the log.
// The free functions have no shared state.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/sha256.h"
#include "core/status.h"
#include "privacy/aes_gcm.h"

namespace tandem::privacy {

struct AuditEntry {
  int64_t sequence = 0;  // filled by append: 1, 2, 3, ...
  std::string time;      // filled by append: UTC RFC 3339 with milliseconds, "2025-03-01T09:30:00.123Z"
  std::string tenant;
  std::string provider;
  std::string model;
  std::map<std::string, int64_t> pseudonymized;  // entity_type_name (pii.h) -> how many were replaced
  std::string sent_sha256;                       // lowercase hex of the exact bytes sent
  int64_t sent_bytes = 0;
  std::string previous_hash;  // filled by append
  std::string hash;           // filled by append
};

class AuditLog {
 public:
  // Opens the log at `path`, creating it (and its folder) when missing, and resumes the chain from
  // its last entry. A log that fails verification is refused with kDataLoss and the reason; IO
  // errors are kUnavailable.
  // With `key` (the keyring's "audit" data key) the log and its head are sealed
  // (privacy/sealed_file.h) and a clear log from an earlier version is sealed in place.
  static Result<AuditLog> open(const std::string& path, const std::optional<Key>& key = std::nullopt);
  AuditLog(AuditLog&&) noexcept;
  AuditLog& operator=(AuditLog&&) noexcept;
  ~AuditLog();

  // Appends `entry`, filling sequence, time, previous_hash and hash; returns the entry as written.
  // Refuses entries without provider or model, with a malformed sha256 or invalid UTF-8
  // (kInvalidArgument). A full disk and other IO errors are kUnavailable and leave no partial line.
  // kDataLoss when another process left the log broken since open().
  Result<AuditEntry> append(AuditEntry entry);

  Result<std::vector<AuditEntry>> read_all() const;

 private:
  struct Writer;  // the open file and the end of the chain, behind one mutex
  explicit AuditLog(std::unique_ptr<Writer> writer);

  std::unique_ptr<Writer> writer_;
};

// The entries of the log at `path`, oldest first, without checking the chain (see verify_audit_log).
// kNotFound when there is no log; kDataLoss for a line that is not a well-formed entry.
Result<std::vector<AuditEntry>> read_audit_log(const std::string& path, const std::optional<Key>& key = std::nullopt);

struct VerifyReport {
  bool ok = false;
  int64_t entries = 0;       // complete lines in the log
  int64_t bad_sequence = 0;  // the sequence expected where the first fault is (0 when ok)
  int64_t bad_line = 0;      // its 1-based line (0 when ok or when the fault is found through the head)
  std::string reason;        // "line 7: entry edited (hash mismatch)"; empty when ok
};

// Checks every entry's hash, the sequence, the links between entries and the head. A broken log is
// an ok Result with report.ok == false; the Result's error is for a log that cannot be read
// (kNotFound when neither the log nor its head exists, kUnavailable for IO errors).
// A sealed entry that fails authentication is a finding too (report.reason names the file and record).
Result<VerifyReport> verify_audit_log(const std::string& path, const std::optional<Key>& key = std::nullopt);

}  // namespace tandem::privacy
