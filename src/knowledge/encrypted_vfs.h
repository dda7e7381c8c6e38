// An SQLite VFS that keeps a database encrypted at rest with AES-256-GCM (privacy::AesGcm): a
// shim over the default VFS that seals every page of the main database file and every page
// image in its WAL and rollback journals, and keeps temporary files (statement journals, sorter
// and temp databases) in memory, so that no byte of user content reaches the disk in clear.
//
//   auto vfs = knowledge::EncryptedVfs::create(key);      // registered under a name of its own
//   sqlite3_open_v2(path, &db, flags, (*vfs)->name());
//   int reserve = knowledge::EncryptedVfs::kReservedBytes;  // on a new database, before any write
//   sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve);
//   ... on SQLITE_IOERR / SQLITE_CORRUPT: knowledge::EncryptedVfs::damage(db) names the file and page
//
// Format. Pages keep SQLite's size (a power of two); SQLite leaves the last kReservedBytes of
// each page alone, and they hold the page's nonce and GCM tag. The AAD is the file kind and the
// page's place (page number in the database, frame number in the WAL, offset in a journal), so
// a page copied elsewhere fails. Page 1 keeps its first 24 bytes in clear, Tandem's magic in place of
// SQLite's plus the page size and reserve fields this VFS needs before it can decrypt anything;
// they are authenticated too. In the WAL only each frame's page payload is encrypted: the 32-byte
// WAL header and the 24-byte frame headers (page number, salts, checksums that SQLite computes
// over the clear page) stay as SQLite wrote them, and each frame header is part of its payload's
// AAD, so an edited header is reported rather than silently ending the log. A frame header is
// written together with its payload in one write, so a crash never leaves a new header over an
// old payload; a header SQLite rewrites alone (new checksums after a transaction changed a page
// it had spilled) re-seals the payload under it. A WAL handle keeps the clear payloads of the
// frames it wrote (up to 8 MiB): the checkpoint that copies them into the database gets them from
// there, not decrypted again, when the header on disk is still the one they were sealed under.
//
// Nonces are unique by construction: 8 random bytes drawn at each file open (a fresh prefix per
// open, also in a forked child) followed by a 32-bit counter incremented at every page write;
// when the counter would wrap, a new prefix is drawn. Two nonces under one key can only meet if
// two opens draw the same 64-bit prefix (birthday bound: 2^-64 per pair of opens).
//
// Rollback journals keep SQLite's layout (header, then page number, old page image, checksum per
// record); each old page image is sealed like a page. Super journals hold only file names.
// Tampering: a page that fails authentication makes xRead return SQLITE_IOERR_DATA and is
// recorded for damage(); so is a WAL header that fails SQLite's own checksum.
//
// Thread-safety: create, name and damage may be called from any thread. A connection's files
// are used under its own mutex (open it with SQLITE_OPEN_FULLMUTEX). The EncryptedVfs must
// outlive every connection opened with it.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

#include "core/status.h"
#include "privacy/aes_gcm.h"

struct sqlite3;

namespace tandem::knowledge {

class EncryptedVfs {
 public:
  // Per-page room for the nonce and the tag.
  static constexpr int kReservedBytes = static_cast<int>(privacy::kNonceBytes + privacy::kTagBytes);

  static Result<std::unique_ptr<EncryptedVfs>> create(const privacy::Key& key);
  ~EncryptedVfs();
  EncryptedVfs(const EncryptedVfs&) = delete;
  EncryptedVfs& operator=(const EncryptedVfs&) = delete;

  const char* name() const;
  // The first page of this VFS's files that failed authentication (see below), nullopt if none.
  std::optional<std::string> damage() const;
  // The first page of `db`'s files that failed authentication, as "kb.sqlite: page 7 failed
  // authentication (wrong key or damaged file)"; nullopt when none did or `db` uses another VFS.
  static std::optional<std::string> damage(sqlite3* db);

  struct State;

 private:
  explicit EncryptedVfs(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

enum class DatabaseFileKind { kAbsent, kClear, kEncrypted, kUnknown };
// What lies at `path`, from its first bytes: nothing (missing or empty), a database in clear, one
// in this VFS's format, or something else.
DatabaseFileKind database_file_kind(const std::string& path);

}  // namespace tandem::knowledge
