#include "server/api_keys.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "core/file_io.h"
#include "core/log.h"
#include "core/sha256.h"
#include "privacy/sealed_file.h"

namespace tandem::server {
namespace {

using nlohmann::json;

constexpr std::string_view kKeyPrefix = "tdm_";
constexpr size_t kIdChars = 12;
constexpr size_t kSecretChars = 40;
constexpr size_t kKeyChars = kKeyPrefix.size() + kIdChars + 1 + kSecretChars;
constexpr size_t kSaltBytes = 16;
constexpr std::string_view kHexDigits = "0123456789abcdef";
constexpr std::string_view kBase62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
constexpr int kFileVersion = 1;

bool all_of_chars(std::string_view text, std::string_view allowed) {
  return text.find_first_not_of(allowed) == std::string_view::npos;
}

bool valid_tenant(std::string_view tenant) {
  static constexpr std::string_view kTenantChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
  return !tenant.empty() && tenant.size() <= 64 && all_of_chars(tenant, kTenantChars);
}

std::string to_hex(std::string_view bytes) {
  std::string hex;
  hex.reserve(bytes.size() * 2);
  for (unsigned char byte : bytes) {
    hex += kHexDigits[byte >> 4];
    hex += kHexDigits[byte & 0xf];
  }
  return hex;
}

// nullopt unless `hex` is lowercase hex of even length.
std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0 || !all_of_chars(hex, kHexDigits)) return std::nullopt;
  std::string bytes;
  for (size_t i = 0; i < hex.size(); i += 2) {
    bytes += static_cast<char>(kHexDigits.find(hex[i]) << 4 | kHexDigits.find(hex[i + 1]));
  }
  return bytes;
}

Result<std::string> random_bytes(size_t count) {
  std::string bytes(count, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(count)) != 1) {
    return make_error(ErrorCode::kInternal, "the system's random number generator failed");
  }
  return bytes;
}

Result<std::string> random_base62(size_t length) {
  std::string text;
  while (text.size() < length) {
    auto bytes = random_bytes(64);
    if (!bytes) return bytes.error();
    for (unsigned char byte : *bytes) {
      // 248 = 4 * 62: larger bytes are dropped so that every character is equally likely.
      if (byte < 248 && text.size() < length) text += kBase62[byte % 62];
    }
    OPENSSL_cleanse(bytes->data(), bytes->size());
  }
  return text;
}

std::string hash_secret(std::string_view salt, std::string_view secret) {
  std::string salted;
  salted.reserve(salt.size() + secret.size());
  salted.append(salt).append(secret);
  std::string hash = sha256_hex(salted);
  OPENSSL_cleanse(salted.data(), salted.size());
  return hash;
}

struct ParsedKey {
  std::string_view id;
  std::string_view secret;
};

std::optional<ParsedKey> parse_key(std::string_view key) {
  if (key.size() != kKeyChars || !key.starts_with(kKeyPrefix) || key[kKeyPrefix.size() + kIdChars] != '_') {
    return std::nullopt;
  }
  ParsedKey parsed{key.substr(kKeyPrefix.size(), kIdChars), key.substr(kKeyChars - kSecretChars)};
  if (!all_of_chars(parsed.id, kHexDigits) || !all_of_chars(parsed.secret, kBase62)) return std::nullopt;
  return parsed;
}

}  // namespace

std::string_view key_scope_name(KeyScope scope) {
  return scope == KeyScope::kAdmin ? "admin" : "user";
}

std::optional<KeyScope> key_scope_from_name(std::string_view name) {
  if (name == "user") return KeyScope::kUser;
  if (name == "admin") return KeyScope::kAdmin;
  return std::nullopt;
}

ApiKeyStore::ApiKeyStore(std::string path, std::optional<privacy::Key> key)
    : path_(std::move(path)), key_(std::move(key)) {}

ApiKeyStore::~ApiKeyStore() {
  if (key_) privacy::wipe(*key_);
}

ApiKeyStore::FileSignature ApiKeyStore::stat_signature(const std::string& path, int fd) {
  struct stat info {};
  if ((fd >= 0 ? ::fstat(fd, &info) : ::stat(path.c_str(), &info)) != 0) return FileSignature{.stat_errno = errno};
  return FileSignature{.device = static_cast<uint64_t>(info.st_dev),
                       .inode = static_cast<uint64_t>(info.st_ino),
                       .size = static_cast<int64_t>(info.st_size),
                       .mtime_ns = static_cast<int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec,
                       .ctime_ns = static_cast<int64_t>(info.st_ctim.tv_sec) * 1'000'000'000 + info.st_ctim.tv_nsec};
}

// Reads and checks the whole file. The signature is taken from the open file itself, so it always
// describes exactly the bytes read, even when another process replaces the file meanwhile.
Result<ApiKeyStore::Snapshot> ApiKeyStore::load(const std::string& path, const std::optional<privacy::Key>& key) {
  Snapshot snapshot;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno != ENOENT) return make_error(ErrorCode::kUnavailable, io_error("cannot open", path, errno));
    snapshot.signature.stat_errno = ENOENT;
    return snapshot;
  }
  std::string bytes;
  int error_number = 0;
  char buffer[1 << 14];
  for (;;) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) error_number = errno;
    if (n <= 0) break;
    bytes.append(buffer, static_cast<size_t>(n));
  }
  if (error_number == 0) {
    snapshot.signature = stat_signature(path, fd);
    error_number = snapshot.signature.stat_errno;
  }
  ::close(fd);
  if (error_number != 0) return make_error(ErrorCode::kUnavailable, io_error("cannot read", path, error_number));
  snapshot.sealed = privacy::is_sealed_bytes(bytes);
  if (snapshot.sealed) {
    if (!key) {
      return make_error(ErrorCode::kInvalidArgument,
                        path + " is encrypted, but encryption is off (security.encryption); `tandem keyring status`");
    }
    auto clear = privacy::unseal_bytes(bytes, *key, path);
    if (!clear) return clear.error();
    bytes = std::move(*clear);
  }

  auto damaged = [&](const std::string& why) {
    return make_error(ErrorCode::kDataLoss, fmt::format("API key file {} is damaged: {}", path, why));
  };
  const json parsed = json::parse(bytes, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) return damaged("not a JSON object");
  auto version = parsed.find("version");
  if (version == parsed.end() || !version->is_number_integer() || version->get<int64_t>() != kFileVersion) {
    return damaged(fmt::format("'version' is not {}", kFileVersion));
  }
  auto keys = parsed.find("keys");
  if (keys == parsed.end() || !keys->is_array()) return damaged("'keys' is not an array");

  std::unordered_map<std::string, size_t> seen;
  for (size_t i = 0; i < keys->size(); ++i) {
    const json& item = (*keys)[i];
    auto text = [&](const char* field) -> std::optional<std::string> {
      auto it = item.is_object() ? item.find(field) : item.end();
      if (it == item.end() || !it->is_string()) return std::nullopt;
      return it->get<std::string>();
    };
    auto malformed = [&](const char* field) {
      return damaged(fmt::format("key {}: field '{}' missing or malformed", i + 1, field));
    };
    Record record;
    auto id = text("id");
    if (!id || id->size() != kIdChars || !all_of_chars(*id, kHexDigits)) return malformed("id");
    if (!seen.emplace(*id, i).second) return damaged(fmt::format("key {}: id {} appears twice", i + 1, *id));
    record.info.id = *id;
    auto tenant = text("tenant");
    if (!tenant || !valid_tenant(*tenant)) return malformed("tenant");
    record.info.tenant = *tenant;
    auto scope_name = text("scope");
    auto scope = scope_name ? key_scope_from_name(*scope_name) : std::nullopt;
    if (!scope) return malformed("scope");
    record.info.scope = *scope;
    auto created_at = text("created_at");
    if (!created_at) return malformed("created_at");
    record.info.created_at = *created_at;
    auto revoked = item.find("revoked");
    if (revoked == item.end() || !revoked->is_boolean()) return malformed("revoked");
    record.info.revoked = revoked->get<bool>();
    auto salt_hex = text("salt");
    auto salt = salt_hex ? from_hex(*salt_hex) : std::nullopt;
    if (!salt || salt->size() != kSaltBytes) return malformed("salt");
    record.salt = std::move(*salt);
    auto hash = text("hash");
    if (!hash || hash->size() != 64 || !all_of_chars(*hash, kHexDigits)) return malformed("hash");
    record.hash = std::move(*hash);
    snapshot.records.push_back(std::move(record));
  }
  return snapshot;
}

Result<std::unique_ptr<ApiKeyStore>> ApiKeyStore::open(const std::string& path,
                                                       const std::optional<privacy::Key>& key) {
  auto snapshot = load(path, key);
  if (!snapshot) return snapshot.error();
  const bool clear_file_to_seal = key && snapshot->signature.stat_errno == 0 && !snapshot->sealed;
  std::unique_ptr<ApiKeyStore> store(new ApiKeyStore(path, key));
  {
    std::unique_lock lock(store->mutex_);
    store->install(std::move(*snapshot));
  }
  // A clear file from an earlier version is sealed now rather than at the next change.
  if (clear_file_to_seal) {
    if (auto st = store->update([](std::vector<Record>&) -> Status { return {}; }); !st) return st.error();
  }
  return store;
}

void ApiKeyStore::install(Snapshot snapshot) const {
  records_ = std::move(snapshot.records);
  signature_ = snapshot.signature;
  index_by_id_.clear();
  for (size_t i = 0; i < records_.size(); ++i) index_by_id_.emplace(records_[i].info.id, i);
}

void ApiKeyStore::refresh() const {
  const FileSignature now = stat_signature(path_);
  {
    std::shared_lock lock(mutex_);
    if (now == signature_) return;
  }
  std::unique_lock lock(mutex_);
  if (now == signature_) return;  // another thread reloaded meanwhile
  auto snapshot = load(path_, key_);
  if (!snapshot) {
    // Remember this state of the file, so the warning comes once and not on every request.
    signature_ = now;
    TANDEM_LOG(kWarn, "server", "cannot reload API keys: {}; keeping the {} keys loaded before",
               snapshot.error().message, records_.size());
    return;
  }
  install(std::move(*snapshot));
  TANDEM_LOG(kInfo, "server", "reloaded API keys from {}: {} keys", path_, records_.size());
}

Status ApiKeyStore::update(const std::function<Status(std::vector<Record>&)>& change) {
  std::error_code ec;
  const auto folder = std::filesystem::path(path_).parent_path();
  if (!folder.empty()) std::filesystem::create_directories(folder, ec);
  if (ec) return make_error(ErrorCode::kUnavailable, "cannot create " + folder.string() + ": " + ec.message());

  // Start from the file as it is now, under the lock: another process may have changed it since
  // this store last looked, and must not change it again before we have written.
  WriterLock lock(path_);
  if (auto st = lock.status(); !st) return st;
  auto snapshot = load(path_, key_);
  if (!snapshot) return snapshot.error();
  if (auto st = change(snapshot->records); !st) return st;

  nlohmann::ordered_json keys = nlohmann::ordered_json::array();
  for (const auto& r : snapshot->records) {
    keys.push_back({{"id", r.info.id},
                    {"tenant", r.info.tenant},
                    {"scope", key_scope_name(r.info.scope)},
                    {"created_at", r.info.created_at},
                    {"revoked", r.info.revoked},
                    {"salt", to_hex(r.salt)},
                    {"hash", r.hash}});
  }
  const nlohmann::ordered_json file{{"version", kFileVersion}, {"keys", std::move(keys)}};
  if (auto st = privacy::write_protected_file(path_, key_, file.dump(2) + "\n"); !st) return st;
  snapshot->signature = stat_signature(path_);  // still ours: the lock keeps other writers out

  std::unique_lock guard(mutex_);
  install(std::move(*snapshot));
  return {};
}

Result<CreatedKey> ApiKeyStore::create(const std::string& tenant, KeyScope scope) {
  if (!valid_tenant(tenant)) {
    return make_error(ErrorCode::kInvalidArgument, "a tenant name is 1-64 characters of A-Z, a-z, 0-9, '_' and '-'");
  }
  CreatedKey created;
  auto st = update([&](std::vector<Record>& records) -> Status {
    std::string id;
    do {
      auto bytes = random_bytes(kIdChars / 2);
      if (!bytes) return bytes.error();
      id = to_hex(*bytes);
    } while (std::any_of(records.begin(), records.end(), [&](const Record& r) { return r.info.id == id; }));
    auto secret = random_base62(kSecretChars);
    if (!secret) return secret.error();
    auto salt = random_bytes(kSaltBytes);
    if (!salt) return salt.error();
    Record record{ApiKeyInfo{id, tenant, scope, utc_now_rfc3339(), false}, std::move(*salt), ""};
    record.hash = hash_secret(record.salt, *secret);
    created = CreatedKey{record.info, std::string(kKeyPrefix) + id + "_" + *secret};
    OPENSSL_cleanse(secret->data(), secret->size());
    records.push_back(std::move(record));
    return {};
  });
  if (!st) return st.error();
  return created;
}

Status ApiKeyStore::revoke(const std::string& id) {
  // Not echoed when malformed: it may be a whole key pasted by mistake.
  if (id.size() != kIdChars || !all_of_chars(id, kHexDigits)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "a key id is 12 lowercase hex digits (the part after 'tdm_', as `tandem keys list` shows it)");
  }
  return update([&](std::vector<Record>& records) -> Status {
    for (auto& record : records) {
      if (record.info.id != id) continue;
      record.info.revoked = true;
      return {};
    }
    return make_error(ErrorCode::kNotFound, fmt::format("no API key with id '{}' in {}", id, path_));
  });
}

std::vector<ApiKeyInfo> ApiKeyStore::list() const {
  refresh();
  std::shared_lock lock(mutex_);
  std::vector<ApiKeyInfo> infos;
  infos.reserve(records_.size());
  for (const auto& record : records_) infos.push_back(record.info);
  return infos;
}

size_t ApiKeyStore::active_keys() const {
  refresh();
  std::shared_lock lock(mutex_);
  return static_cast<size_t>(
      std::count_if(records_.begin(), records_.end(), [](const Record& r) { return !r.info.revoked; }));
}

std::optional<ApiKeyInfo> ApiKeyStore::authenticate(std::string_view key) const {
  auto parsed = parse_key(key);
  if (!parsed) return std::nullopt;  // the format is public: rejecting it early reveals nothing
  refresh();
  // An unknown id is hashed against a dummy record all the same, so that the time taken does not
  // tell whether the id exists.
  static const std::string kDummySalt(kSaltBytes, '\x5a');
  static const std::string kDummyHash(64, '0');
  std::shared_lock lock(mutex_);
  auto found = index_by_id_.find(std::string(parsed->id));
  const Record* record = found == index_by_id_.end() ? nullptr : &records_[found->second];
  const std::string actual = hash_secret(record ? record->salt : kDummySalt, parsed->secret);
  const std::string& expected = record ? record->hash : kDummyHash;
  const bool match = CRYPTO_memcmp(actual.data(), expected.data(), actual.size()) == 0;  // both 64 chars
  if (record == nullptr || !match || record->info.revoked) return std::nullopt;
  return record->info;
}

}  // namespace tandem::server
