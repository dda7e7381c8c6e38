// Sealed files: how Tandem keeps user content on disk encrypted and tamper-evident (AES-256-GCM).
// Two shapes: whole files written at once (the vector index, API keys, the audit log's head), and
// append-only record logs written one record at a time (the audit log, the usage log, learned
// examples).
//
//   privacy::Key key = *keyring.data_key("knowledge");
//   if (auto st = privacy::write_sealed_file(path, key, bytes); !st) return st;   // atomic replace
//   auto clear = privacy::read_sealed_file(path, key);   // kDataLoss naming `path` when changed
//
//   auto log = privacy::RecordLog::open(path, key);      // std::nullopt: JSON Lines in clear
//   (*log)->append(R"({"route":"local"})");                // one write + fdatasync
//   auto all = privacy::read_records(path, key);          // every record, oldest first
//
// Format (all integers big-endian). A 44-byte header:
//   "TNDMSEAL" | version 1 | kind (1 file, 2 log) | flags (bit 0, logs only: a length file guards
//   the tail) | 1 zero byte | segment size u32 (0 for logs)
//   | key id (8 bytes, key_id() of the data key) | salt (16 random bytes) | nonce prefix (4 random bytes)
// The file key is HKDF-SHA256(data key, salt), so every file has its own key, and a nonce is the
// prefix followed by a u64 counter that never repeats within the file: nonces are unique by
// construction, not by chance.
//   Whole file: segments of `segment size` clear bytes (the last one shorter, possibly empty), each
//   ciphertext || tag with AAD = header || u64 index || last flag. A flipped byte, a swapped or
//   removed segment, and a cut at a segment boundary all fail authentication.
//   Record log: records u32 length || ciphertext || tag, the counter being the record's position,
//   AAD = header || u64 index. An edited, removed or reordered record fails authentication; a
//   record cut off by a crash (its length says more than the file holds) is reported as a torn
//   tail, never dropped silently. Removing whole records from the end is not visible in the records
//   themselves: after every append, the record count and the header's salt are sealed in the whole
//   file `<log>.length`, and every read checks that the log holds at least that many records (more
//   is a crash between the two writes). The audit log leaves this to its own head (TailGuard::kNone).
//   Restoring an old copy of both files together goes unnoticed; nothing local can tell that apart.
// Every failure names the file; damage is kDataLoss, a missing file kNotFound, IO kUnavailable.
// Reading holds one segment (64 KiB) or one record (at most 16 MiB) in memory at a time.
//
// Thread-safety: the free functions have no shared state. A SealedFileReader or SealedFileWriter
// belongs to one thread. A RecordLog may be shared by threads (a mutex) and processes (flock).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "privacy/aes_gcm.h"

namespace tandem::privacy {

inline constexpr std::size_t kSealedHeaderBytes = 44;
inline constexpr uint32_t kSealedSegmentBytes = 64 * 1024;
inline constexpr uint32_t kMaxRecordBytes = 16 * 1024 * 1024;

// A public fingerprint of a data key (HMAC-SHA256 of a fixed label, first 8 bytes), stored in each
// header so that a wrong key is told apart from damage.
using KeyId = std::array<uint8_t, 8>;
KeyId key_id(const Key& key);
std::string key_id_hex(const Key& key);

// Whether the file begins with the sealed magic. kNotFound when it does not exist.
Result<bool> is_sealed_file(const std::string& path);

class SealedFileReader {
 public:
  static Result<SealedFileReader> open(const std::string& path, const Key& key);
  SealedFileReader(SealedFileReader&&) noexcept;
  SealedFileReader& operator=(SealedFileReader&&) noexcept;
  ~SealedFileReader();

  // The next segment's clear bytes, valid until the next call; an empty span once done().
  Result<std::span<const uint8_t>> next();
  bool done() const;

 private:
  struct State;
  explicit SealedFileReader(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

class SealedFileWriter {
 public:
  // Writes into a temporary file beside `path` (mode 0600); commit() puts it in place atomically.
  static Result<SealedFileWriter> create(const std::string& path, const Key& key);
  SealedFileWriter(SealedFileWriter&&) noexcept;
  SealedFileWriter& operator=(SealedFileWriter&&) noexcept;
  ~SealedFileWriter();  // without commit(): the temporary file is removed, `path` is untouched

  Status write(std::span<const uint8_t> bytes);
  // Seals the last segment, fsyncs, renames over `path` and fsyncs the folder.
  Status commit();

 private:
  struct State;
  explicit SealedFileWriter(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

Status write_sealed_file(const std::string& path, const Key& key, std::string_view content);
Result<std::string> read_sealed_file(const std::string& path, const Key& key);
// The same for a sealed file's bytes already read (`path` names it in errors).
bool is_sealed_bytes(std::string_view bytes);
Result<std::string> unseal_bytes(std::string_view sealed, const Key& key, const std::string& path);

// Small whole files (API keys, the audit log's head) sealed with a key and in clear without one,
// both replaced atomically with mode 0600. With a key, a clear text file from an earlier version
// is read and sealed in place; without one, a sealed file is refused (kInvalidArgument).
Status write_protected_file(const std::string& path, const std::optional<Key>& key, std::string_view content);
Result<std::string> read_protected_file(const std::string& path, const std::optional<Key>& key);

struct Records {
  std::vector<std::string> records;
  bool torn_tail = false;  // the last record was cut off by a crash (not included in `records`)
};

// An append-only log of records: sealed frames with a key, JSON Lines (one record per line, no
// newline inside a record) without. With a key, a clear log from an earlier version is encrypted
// in place on open (same records, same order); without one, a sealed log is refused.
class RecordLog {
 public:
  // Whether a sealed log this opens keeps `<log>.length`. kNone leaves removed tail records to the
  // caller (the audit log's head) and rewrites nothing; a log that has a length file keeps it.
  enum class TailGuard { kLengthFile, kNone };

  // Creates the file (mode 0600) and its folder when missing. With kLengthFile, a sealed log from
  // an earlier version without one is rewritten with one, like a clear log.
  static Result<std::unique_ptr<RecordLog>> open(const std::string& path, const std::optional<Key>& key,
                                                 TailGuard guard = TailGuard::kLengthFile);
  ~RecordLog();
  RecordLog(const RecordLog&) = delete;
  RecordLog& operator=(const RecordLog&) = delete;

  // Holds the log's mutex and flock while it lives: read what other writers appended, then append.
  class Session {
   public:
    Session(Session&&) noexcept;
    ~Session();
    // Records appended since this object's last read or append, by any process.
    Result<Records> read_new();
    // Every record from the first, read again (a check of the whole log under the lock).
    Result<Records> read_all();
    // One write() and fdatasync(); on failure the file is cut back, so no partial record remains.
    // kDataLoss when the log ends in a torn record (appending would bury it).
    Status append(std::string_view record);

   private:
    friend class RecordLog;
    struct Lock;
    explicit Session(std::unique_ptr<Lock> lock);
    std::unique_ptr<Lock> lock_;
  };
  Result<Session> lock();

  // lock(), skip what others appended, append.
  Status append(std::string_view record);
  const std::string& path() const;

 private:
  struct State;
  explicit RecordLog(std::unique_ptr<State> state);
  static Status reseal(State& old, const Key& key, TailGuard guard);
  std::unique_ptr<State> state_;
};

// Every record of the log at `path`, checked against its length file when it has one. kNotFound
// when there is no log (kDataLoss when only its length file is left).
Result<Records> read_records(const std::string& path, const std::optional<Key>& key);

}  // namespace tandem::privacy
