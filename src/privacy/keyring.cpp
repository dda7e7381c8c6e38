#include "privacy/keyring.h"

#include <argon2.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <set>

#include "core/file_io.h"
#include "privacy/sealed_file.h"
#include "privacy/tpm.h"

namespace tandem::privacy {
namespace {

using nlohmann::json;

constexpr int kVersion = 1;
constexpr std::string_view kMasterAad = "tandem master key";

std::string to_hex(std::span<const uint8_t> bytes) {
  std::string out;
  for (uint8_t b : bytes) out += fmt::format("{:02x}", b);
  return out;
}

bool from_hex(const json& value, std::span<uint8_t> out) {
  if (!value.is_string()) return false;
  const std::string& text = value.get_ref<const std::string&>();
  if (text.size() != 2 * out.size()) return false;
  for (std::size_t i = 0; i < out.size(); ++i) {
    unsigned v = 0;
    if (std::sscanf(text.c_str() + 2 * i, "%2x", &v) != 1) return false;
    out[i] = static_cast<uint8_t>(v);
  }
  return true;
}

std::vector<uint8_t> bytes_from_hex(const json& value) {
  std::vector<uint8_t> out;
  if (!value.is_string() || value.get_ref<const std::string&>().size() % 2 != 0) return out;
  out.resize(value.get_ref<const std::string&>().size() / 2);
  if (!from_hex(value, out)) out.clear();
  return out;
}

std::span<const uint8_t> as_bytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

// {"nonce", "wrapped", "tag"}: `secret` encrypted with `wrapping_key`, bound to `label`.
Result<json> wrap(const Key& wrapping_key, const Key& secret, std::string_view label) {
  Nonce nonce{};
  if (auto st = random_bytes(nonce); !st) return st.error();
  Key wrapped{};
  Tag tag{};
  AesGcm cipher(wrapping_key);
  if (auto st = cipher.encrypt(nonce, as_bytes(label), secret, wrapped, tag); !st) return st.error();
  return json{{"nonce", to_hex(nonce)}, {"wrapped", to_hex(wrapped)}, {"tag", to_hex(tag)}};
}

Result<Key> unwrap(const Key& wrapping_key, const json& box, std::string_view label, const std::string& what) {
  Nonce nonce{};
  Key wrapped{};
  Tag tag{};
  if (!box.is_object() || !from_hex(box.value("nonce", json()), nonce) ||
      !from_hex(box.value("wrapped", json()), wrapped) || !from_hex(box.value("tag", json()), tag)) {
    return make_error(ErrorCode::kDataLoss, what + " is malformed");
  }
  Key secret{};
  AesGcm cipher(wrapping_key);
  if (!cipher.decrypt(nonce, as_bytes(label), wrapped, tag, secret)) {
    return make_error(ErrorCode::kPermissionDenied, what + " does not open with this key");
  }
  return secret;
}

std::string data_key_label(std::string_view purpose) {
  return "tandem data key " + std::string(purpose);
}

bool valid_purpose(std::string_view purpose) {
  return !purpose.empty() && purpose.size() <= 32 &&
         purpose.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") == std::string_view::npos;
}

Result<json> read_keyring(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorCode::kNotFound, "no keyring at " + path);
  std::string text{std::istreambuf_iterator<char>(in), {}};
  json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
  wipe({reinterpret_cast<uint8_t*>(text.data()), text.size()});
  if (!parsed.is_object() || parsed.value("version", 0) != kVersion || !parsed.contains("master_id") ||
      !parsed["slots"].is_array() || !parsed["data_keys"].is_object()) {
    return make_error(ErrorCode::kDataLoss, "keyring " + path + " is damaged or from another version");
  }
  return parsed;
}

// The caller holds the WriterLock, which made the folder.
Status write_keyring(const std::string& path, const json& keyring) {
  std::string text = keyring.dump(2) + "\n";
  Status st = replace_file_atomically(path, text);
  wipe({reinterpret_cast<uint8_t*>(text.data()), text.size()});
  return st;
}

std::optional<std::string> passphrase_from(const KeyringOptions& options, std::string_view suffix = "") {
  const std::string name = options.passphrase_env + std::string(suffix);
  const char* value = std::getenv(name.c_str());
  if (!value || !*value) return std::nullopt;
  return std::string(value);
}

std::string describe_slot(const json& slot) {
  const std::string kind = slot.value("kind", "");
  if (kind == "passphrase") {
    return fmt::format("passphrase (argon2id t={} m={} KiB p={})", slot.value("t_cost", 0), slot.value("m_cost_kib", 0),
                       slot.value("parallelism", 0));
  }
  if (kind == "tpm") {
    std::vector<uint32_t> pcrs = slot.value("pcrs", std::vector<uint32_t>{});
    return fmt::format("tpm (PCR {})", fmt::join(pcrs, ","));
  }
  return kind;
}

// Any one slot opens the master key, so the keyring is only as safe as its weakest slot.
std::string protection_of(const json& slots) {
  std::set<std::string> kinds;
  for (const auto& slot : slots) kinds.insert(slot.value("kind", ""));
  if (kinds.count("local")) {
    return std::string(kinds.size() > 1 ? "its local slot opens the keyring whatever the other slots ask: " : "") +
           "the master key is stored in the keyring file (mode 0600, outside the data directory): copies of the data "
           "directory cannot be read without it, but anyone who can read your account's files can; use a passphrase "
           "or a TPM for more";
  }
  if (kinds.count("tpm") && kinds.count("passphrase")) {
    return "the master key opens with this machine's TPM (while its PCRs are unchanged) or with your passphrase "
           "(Argon2id): either is enough";
  }
  if (kinds.count("tpm")) {
    return "the master key is sealed by this machine's TPM: the data opens only on this machine while its PCRs are "
           "unchanged";
  }
  return "the master key is derived from your passphrase (Argon2id): without it nothing opens";
}

// A new slot of `kind` holding `master`.
Result<json> make_slot(const std::string& kind, const Key& master, const KeyringOptions& options,
                       const std::optional<std::string>& passphrase) {
  if (kind == "local") return json{{"kind", "local"}, {"master_key", to_hex(master)}};
  if (kind == "passphrase") {
    if (!passphrase) {
      return make_error(ErrorCode::kInvalidArgument,
                        "security.encryption = passphrase needs the passphrase in the "
                        "environment variable " +
                            options.passphrase_env);
    }
    std::array<uint8_t, 16> salt{};
    if (auto st = random_bytes(salt); !st) return st.error();
    auto kek = derive_passphrase_key(*passphrase, salt, options.argon2);
    if (!kek) return kek.error();
    auto box = wrap(*kek, master, kMasterAad);
    wipe(*kek);
    if (!box) return box.error();
    json slot = {{"kind", "passphrase"},
                 {"kdf", "argon2id"},
                 {"t_cost", options.argon2.t_cost},
                 {"m_cost_kib", options.argon2.m_cost_kib},
                 {"parallelism", options.argon2.parallelism},
                 {"salt", to_hex(salt)}};
    slot.update(*box);
    return slot;
  }
  if (kind == "tpm") {
    auto sealed = tpm_seal(options.tpm_tcti, master, options.tpm_pcrs);
    if (!sealed) return sealed.error();
    return json{{"kind", "tpm"},
                {"pcrs", sealed->pcrs},
                {"public", to_hex(sealed->public_blob)},
                {"private", to_hex(sealed->private_blob)}};
  }
  return make_error(ErrorCode::kInvalidArgument, "unknown keyring mode '" + kind + "' (auto, tpm, passphrase, local)");
}

// The master key from one slot.
Result<Key> open_slot(const json& slot, const KeyringOptions& options) {
  const std::string kind = slot.value("kind", "");
  Key master{};
  if (kind == "local") {
    if (!from_hex(slot.value("master_key", json()), master)) {
      return make_error(ErrorCode::kDataLoss, "the local slot is malformed");
    }
    return master;
  }
  if (kind == "passphrase") {
    auto passphrase = passphrase_from(options);
    if (!passphrase) return make_error(ErrorCode::kPermissionDenied, options.passphrase_env + " is not set");
    std::array<uint8_t, 16> salt{};
    if (!from_hex(slot.value("salt", json()), salt))
      return make_error(ErrorCode::kDataLoss, "the passphrase slot is malformed");
    Argon2Params params{slot.value("t_cost", 0u), slot.value("m_cost_kib", 0u), slot.value("parallelism", 0u)};
    auto kek = derive_passphrase_key(*passphrase, salt, params);
    wipe({reinterpret_cast<uint8_t*>(passphrase->data()), passphrase->size()});
    if (!kek) return kek.error();
    auto opened = unwrap(*kek, slot, kMasterAad, "the passphrase slot");
    wipe(*kek);
    if (!opened && opened.error().code == ErrorCode::kPermissionDenied) {
      return make_error(ErrorCode::kPermissionDenied, "the passphrase in " + options.passphrase_env + " is wrong");
    }
    return opened;
  }
  if (kind == "tpm") {
    TpmSealed sealed{slot.value("pcrs", std::vector<uint32_t>{}), bytes_from_hex(slot.value("public", json())),
                     bytes_from_hex(slot.value("private", json()))};
    auto secret = tpm_unseal(options.tpm_tcti, sealed);
    if (!secret) return secret.error();
    if (secret->size() != master.size())
      return make_error(ErrorCode::kDataLoss, "the TPM returned a secret of another size");
    std::copy(secret->begin(), secret->end(), master.begin());
    wipe(*secret);
    return master;
  }
  return make_error(ErrorCode::kDataLoss, "unknown slot kind '" + kind + "'");
}

// Under the writer lock: the keyring as it is on disk, which must still have the master key that
// `opened` (the file as this process read it) has.
Result<json> reread_unrotated(const std::string& path, const json& opened) {
  auto fresh = read_keyring(path);
  if (!fresh) return fresh.error();
  if ((*fresh)["master_id"] != opened["master_id"]) {
    return make_error(ErrorCode::kUnavailable, "keyring " + path + " was rotated meanwhile; start again");
  }
  return fresh;
}

// The mode a new keyring gets under `auto`.
std::string choose_mode(const KeyringOptions& options) {
  if (options.mode != "auto") return options.mode;
  if (passphrase_from(options)) return "passphrase";
  // Sealing a throwaway secret tells whether the TPM is there and usable.
  std::array<uint8_t, 16> probe{};
  if (random_bytes(probe) && tpm_seal(options.tpm_tcti, probe, options.tpm_pcrs)) return "tpm";
  return "local";
}

}  // namespace

Result<Key> derive_passphrase_key(std::string_view passphrase, std::span<const uint8_t> salt,
                                  const Argon2Params& params) {
  if (passphrase.empty()) return make_error(ErrorCode::kInvalidArgument, "the passphrase is empty");
  Key key{};
  const int rc = argon2id_hash_raw(params.t_cost, params.m_cost_kib, params.parallelism, passphrase.data(),
                                   passphrase.size(), salt.data(), salt.size(), key.data(), key.size());
  if (rc != ARGON2_OK) {
    return make_error(ErrorCode::kInvalidArgument, std::string("Argon2id: ") + argon2_error_message(rc));
  }
  return key;
}

struct Keyring::State {
  std::mutex mutex;
  KeyringOptions options;
  json file;  // as last read or written
  Key master{};
  std::string opened_with;
  std::map<std::string, Key> data_keys;
  ~State() {
    wipe(master);
    for (auto& [purpose, key] : data_keys) wipe(key);
  }
};

Keyring::Keyring(std::unique_ptr<State> state) : state_(std::move(state)) {}
Keyring::~Keyring() = default;

Result<std::unique_ptr<Keyring>> Keyring::create(const KeyringOptions& options) {
  WriterLock lock(options.path);
  if (auto st = lock.status(); !st) return st.error();
  std::error_code ec;
  if (std::filesystem::exists(options.path, ec)) {
    return make_error(ErrorCode::kInvalidArgument,
                      "a keyring exists at " + options.path + " (tandem keyring rotate changes it)");
  }
  auto state = std::make_unique<State>();
  state->options = options;
  if (auto st = random_bytes(state->master); !st) return st.error();
  const std::string kind = choose_mode(options);
  auto slot = make_slot(kind, state->master, options, passphrase_from(options));
  if (!slot) return slot.error();
  state->file = {{"version", kVersion},
                 {"master_id", key_id_hex(state->master)},
                 {"slots", json::array({*slot})},
                 {"data_keys", json::object()}};
  state->opened_with = kind;
  if (auto st = write_keyring(options.path, state->file); !st) return st.error();
  return std::unique_ptr<Keyring>(new Keyring(std::move(state)));
}

Result<std::unique_ptr<Keyring>> Keyring::open(const KeyringOptions& options) {
  auto file = read_keyring(options.path);
  if (!file) {
    if (file.error().code != ErrorCode::kNotFound) return file.error();
    auto created = create(options);
    // Another process may have created it between our read and our lock.
    if (created || !std::filesystem::exists(options.path)) return created;
    file = read_keyring(options.path);
    if (!file) return file.error();
  }
  auto state = std::make_unique<State>();
  state->options = options;
  state->file = std::move(*file);
  std::vector<std::string> reasons;
  for (const auto& slot : state->file["slots"]) {
    auto master = open_slot(slot, options);
    if (!master) {
      reasons.push_back(describe_slot(slot) + ": " + master.error().message);
      continue;
    }
    if (key_id_hex(*master) != state->file["master_id"]) {
      reasons.push_back(describe_slot(slot) + ": opens another master key than the keyring's");
      continue;
    }
    state->master = *master;
    state->opened_with = slot.value("kind", "");
    return std::unique_ptr<Keyring>(new Keyring(std::move(state)));
  }
  return make_error(ErrorCode::kPermissionDenied,
                    fmt::format("cannot open the keyring {}: {}", options.path, fmt::join(reasons, "; ")));
}

Result<Key> Keyring::data_key(std::string_view purpose) {
  if (!valid_purpose(purpose)) {
    return make_error(ErrorCode::kInvalidArgument, "a data key's purpose is 1-32 of [a-z0-9-]");
  }
  State& s = *state_;
  std::lock_guard guard(s.mutex);
  const std::string name(purpose);
  if (auto it = s.data_keys.find(name); it != s.data_keys.end()) return it->second;
  auto from_file = [&](const json& file) -> std::optional<Result<Key>> {
    auto box = file["data_keys"].find(name);
    if (box == file["data_keys"].end()) return std::nullopt;
    return unwrap(s.master, *box, data_key_label(name), "data key '" + name + "' in " + s.options.path);
  };
  auto known = from_file(s.file);
  if (!known) {
    // New to us: another process may have made it meanwhile, so look again under the writer lock.
    WriterLock lock(s.options.path);
    if (auto st = lock.status(); !st) return st.error();
    auto fresh = reread_unrotated(s.options.path, s.file);
    if (!fresh) return fresh.error();
    s.file = std::move(*fresh);
    known = from_file(s.file);
    if (!known) {
      Key key{};
      if (auto st = random_bytes(key); !st) return st.error();
      auto box = wrap(s.master, key, data_key_label(name));
      if (!box) return box.error();
      (*box)["id"] = key_id_hex(key);
      s.file["data_keys"][name] = *box;
      if (auto st = write_keyring(s.options.path, s.file); !st) return st.error();
      known = key;
    }
  }
  if (!*known) return known->error();
  s.data_keys[name] = **known;
  return **known;
}

KeyringStatus Keyring::status() const {
  const State& s = *state_;
  std::lock_guard guard(state_->mutex);
  KeyringStatus out;
  out.path = s.options.path;
  out.master_id = s.file.value("master_id", "");
  for (const auto& slot : s.file["slots"]) out.slots.push_back(describe_slot(slot));
  out.opened_with = s.opened_with;
  out.protection = protection_of(s.file["slots"]);
  for (const auto& [purpose, box] : s.file["data_keys"].items()) out.data_keys[purpose] = box.value("id", "");
  return out;
}

Status Keyring::add_slot(const KeyringOptions& options) {
  if (options.mode == "auto")
    return make_error(ErrorCode::kInvalidArgument, "name the new slot: tpm, passphrase or local");
  State& s = *state_;
  std::lock_guard guard(s.mutex);
  WriterLock lock(s.options.path);
  if (auto st = lock.status(); !st) return st;
  auto fresh = reread_unrotated(s.options.path, s.file);
  if (!fresh) return fresh.error();
  for (const auto& slot : (*fresh)["slots"]) {
    if (slot.value("kind", "") == options.mode) {
      return make_error(ErrorCode::kInvalidArgument,
                        "the keyring has a " + options.mode + " slot already (tandem keyring rotate replaces slots)");
    }
  }
  auto passphrase = passphrase_from(options, "_NEW");
  if (!passphrase) passphrase = passphrase_from(options);
  auto slot = make_slot(options.mode, s.master, options, passphrase);
  if (passphrase) wipe({reinterpret_cast<uint8_t*>(passphrase->data()), passphrase->size()});
  if (!slot) return slot.error();
  (*fresh)["slots"].push_back(*slot);
  if (auto st = write_keyring(s.options.path, *fresh); !st) return st;
  s.file = std::move(*fresh);
  return {};
}

Status Keyring::rotate(const KeyringOptions& options) {
  State& s = *state_;
  std::lock_guard guard(s.mutex);
  WriterLock lock(s.options.path);
  if (auto st = lock.status(); !st) return st;
  auto fresh = reread_unrotated(s.options.path, s.file);
  if (!fresh) return fresh.error();
  Key master{};
  if (auto st = random_bytes(master); !st) return st;
  json data_keys = json::object();
  for (const auto& [purpose, box] : (*fresh)["data_keys"].items()) {
    auto key = unwrap(s.master, box, data_key_label(purpose), "data key '" + purpose + "'");
    if (!key) return key.error();
    auto rewrapped = wrap(master, *key, data_key_label(purpose));
    wipe(*key);
    if (!rewrapped) return rewrapped.error();
    (*rewrapped)["id"] = box.value("id", "");
    data_keys[purpose] = *rewrapped;
  }
  // auto: the same kinds of slot as before, made anew; a named mode: that one slot instead.
  std::vector<std::string> kinds;
  if (options.mode == "auto") {
    for (const auto& slot : (*fresh)["slots"]) kinds.push_back(slot.value("kind", ""));
  } else {
    kinds.push_back(options.mode);
  }
  auto passphrase = passphrase_from(options, "_NEW");
  if (!passphrase) passphrase = passphrase_from(options);
  json slots = json::array();
  Status made;
  for (const auto& kind : kinds) {
    auto slot = make_slot(kind, master, options, passphrase);
    if (!slot) {
      made = slot.error();
      break;
    }
    slots.push_back(*slot);
  }
  if (passphrase) wipe({reinterpret_cast<uint8_t*>(passphrase->data()), passphrase->size()});
  if (!made) return made;
  json file = {{"version", kVersion}, {"master_id", key_id_hex(master)}, {"slots", slots}, {"data_keys", data_keys}};
  if (auto st = write_keyring(s.options.path, file); !st) return st;
  wipe(s.master);
  s.master = master;
  wipe(master);
  s.file = std::move(file);
  s.options = options;
  if (std::find(kinds.begin(), kinds.end(), s.opened_with) == kinds.end()) s.opened_with = kinds.front();
  return {};
}

}  // namespace tandem::privacy
