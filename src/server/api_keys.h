// API keys for `tandem serve`: who may call the server, for which tenant, with which scope.
// `tandem keys create` makes a key, `tandem keys revoke` ends it, and the running server sees both
// without a restart.
//
//   auto store = server::ApiKeyStore::open(config.server_keys_file);   // <data dir>/keys.json
//   if (!store) return store.error();
//   auto created = (*store)->create("acme", server::KeyScope::kUser);
//   show_once(created->key);                    // "tdm_<id>_<secret>": the only time it exists in full
//   ...
//   auto who = (*store)->authenticate(bearer_token);   // per request
//   if (!who) return reply_401();
//   use(who->tenant, who->scope);
//
// A key is "tdm_" + id + "_" + secret: the id is 12 lowercase hex digits, public (it finds the
// record and names the key in `tandem keys list|revoke`); the secret is 40 base62 characters
// (~238 bits) from OpenSSL's CSPRNG. The file keeps, per key, a random 16-byte salt (as hex) and
// SHA-256(raw salt bytes || secret) as hex, never the secret or the key. A stolen file gives no key,
// and the salt makes equal secrets hash differently. One fast hash is enough: the secret is random
// and long, so there is nothing to guess with a dictionary.
//
// authenticate() compares hashes with CRYPTO_memcmp and hashes against a dummy salt for unknown
// ids, so its timing tells nothing about how much of a key was right or whether an id exists.
//
// File: JSON {"version": 1, "keys": [...]} (sealed with a data key), mode 0600, replaced atomically (temp file, fsync,
// rename, fsync of the folder), so a reader sees the old file or the new, never a mix. Writers in
// different processes take flock() on `<path>.lock` around read-modify-write, so two
// `tandem keys create` never lose each other's key.
//
// Thread-safety: one ApiKeyStore may be shared by any number of threads. Every call first stats the
// file (cheap) and reloads it when it changed, so keys created or revoked by another process count
// from the next request on; a reload that fails keeps the keys loaded before and logs a warning
// once (nothing secret: the file holds none). A removed file is a store without keys.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "privacy/aes_gcm.h"

namespace tandem::server {

enum class KeyScope {
  kUser,   // the OpenAI-compatible API and the tenant's own knowledge base
  kAdmin,  // also administration across tenants
};

std::string_view key_scope_name(KeyScope scope);  // "user", "admin"
std::optional<KeyScope> key_scope_from_name(std::string_view name);

struct ApiKeyInfo {
  std::string id;  // 12 lowercase hex digits
  std::string tenant;
  KeyScope scope = KeyScope::kUser;
  std::string created_at;  // UTC RFC 3339, "2025-03-01T09:30:00Z"
  bool revoked = false;
};

struct CreatedKey {
  ApiKeyInfo info;
  std::string key;  // the full key, to show once; never stored
};

class ApiKeyStore {
 public:
  // A missing file is an empty store (created on the first create()); a damaged one is kDataLoss
  // naming the file; other IO errors are kUnavailable. With `key` (the keyring's "api-keys" data
  // key) the file is sealed (privacy/sealed_file.h); a clear one from an earlier version is sealed
  // on open.
  static Result<std::unique_ptr<ApiKeyStore>> open(const std::string& path,
                                                   const std::optional<privacy::Key>& key = std::nullopt);
  ~ApiKeyStore();

  // A new key for `tenant` (1-64 of [A-Za-z0-9_-], else kInvalidArgument), written to the file
  // (and its folder created) before returning. kDataLoss when the file is damaged: it is left alone.
  Result<CreatedKey> create(const std::string& tenant, KeyScope scope);

  // Marks key `id` revoked in the file. kInvalidArgument for a malformed id (the message never
  // repeats it: it may be a whole key), kNotFound for an unknown one; revoking twice is fine.
  Status revoke(const std::string& id);

  // All keys in creation order, revoked ones included. Never any secret.
  std::vector<ApiKeyInfo> list() const;

  // The key's record when it is well-formed, known and not revoked; nullopt otherwise.
  std::optional<ApiKeyInfo> authenticate(std::string_view key) const;

  size_t active_keys() const;

  const std::string& path() const { return path_; }

 private:
  struct Record {
    ApiKeyInfo info;
    std::string salt;  // 16 raw bytes
    std::string hash;  // hex SHA-256(salt || secret)
  };

  // What stat() says about the file; a different value means another process replaced it.
  struct FileSignature {
    int stat_errno = 0;  // ENOENT: no file yet
    uint64_t device = 0;
    uint64_t inode = 0;  // changes with every atomic replace
    int64_t size = 0;
    int64_t mtime_ns = 0;
    int64_t ctime_ns = 0;
    bool operator==(const FileSignature&) const = default;
  };

  struct Snapshot {
    std::vector<Record> records;
    FileSignature signature;
    bool sealed = false;  // the file was sealed (not clear)
  };

  ApiKeyStore(std::string path, std::optional<privacy::Key> key);
  static Result<Snapshot> load(const std::string& path, const std::optional<privacy::Key>& key);
  static FileSignature stat_signature(const std::string& path, int fd = -1);  // fstat(fd) when fd >= 0
  // Replaces the loaded keys; the caller holds mutex_ exclusively.
  void install(Snapshot snapshot) const;
  // Reloads the file when it changed since the last look.
  void refresh() const;
  // Under the writer lock: reads the file afresh, applies `change`, writes the file, installs it.
  Status update(const std::function<Status(std::vector<Record>&)>& change);

  const std::string path_;
  std::optional<privacy::Key> key_;  // nullopt: the file is in clear
  mutable std::shared_mutex mutex_;  // guards everything below
  mutable std::vector<Record> records_;
  mutable std::unordered_map<std::string, size_t> index_by_id_;
  mutable FileSignature signature_;  // of the file last read, or last found unreadable
};

}  // namespace tandem::server
