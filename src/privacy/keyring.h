// The keyring of encryption at rest: one data key per purpose ("knowledge", "audit", "usage",
// "router", "api-keys"), each wrapped (AES-256-GCM) by a master key, and how the master key is
// obtained. `tandem keyring status|init|rotate` shows and manages it.
//
//   privacy::KeyringOptions options{.path = config.security_keyring, .mode = config.security_encryption};
//   auto keyring = privacy::Keyring::open(options);        // creates the keyring on first use
//   if (!keyring) return keyring.error();                  // e.g. a wrong passphrase
//   auto key = (*keyring)->data_key("audit");              // created and stored on first use
//   auto log = privacy::RecordLog::open(path, *key);
//
// Ways to the master key (slots, as in LUKS: each one opens the same master key):
//   tpm         sealed by a TPM 2.0 to PCR values (security.tpm_pcrs): it opens only on this
//               machine, and only while those PCRs hold what they held at sealing.
//   passphrase  wrapped by a key derived from the passphrase in the environment variable named by
//               security.passphrase_env, with Argon2id (RFC 9106's second recommended option:
//               t=3, 64 MiB, 4 lanes, 16-byte salt).
//   local       stored in the keyring file itself (mode 0600, in the configuration folder, not in
//               the data directory): copies of the data directory (backups, sync, a disk image of
//               it) cannot be read without it, but anyone who can read your account's files can.
// Modes (security.encryption): auto (a new keyring gets passphrase when the variable is set, else
// tpm when the TPM answers, else local), tpm, passphrase, local, off (no keyring, files in clear).
//
// Rotation makes a new master key and re-wraps the data keys with it (and new slots); data is never
// re-encrypted, so it takes milliseconds whatever the size of the data.
//
// File: JSON, mode 0600, replaced atomically; writers in several processes take flock() on
// `<path>.lock`, so two processes creating data keys at once never lose one.
// Thread-safety: one Keyring may be shared by threads (a mutex); the free functions are pure.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "privacy/aes_gcm.h"

namespace tandem::privacy {

struct Argon2Params {  // RFC 9106, section 4, second recommended option
  uint32_t t_cost = 3;
  uint32_t m_cost_kib = 64 * 1024;
  uint32_t parallelism = 4;
};

struct KeyringOptions {
  std::string path;                                  // security.keyring
  std::string mode = "auto";                         // auto | tpm | passphrase | local (off: no keyring)
  std::string passphrase_env = "TANDEM_PASSPHRASE";  // the variable's NAME
  std::string tpm_tcti = "device:/dev/tpmrm0";       // tests: "swtpm:host=127.0.0.1,port=N"
  std::vector<uint32_t> tpm_pcrs = {16};
  Argon2Params argon2{};
};

struct KeyringStatus {
  std::string path;
  std::string master_id;                         // public fingerprint of the master key
  std::vector<std::string> slots;                // "tpm (PCR 16)", "passphrase (argon2id t=3 m=65536 KiB p=4)", "local"
  std::string opened_with;                       // the slot that opened it
  std::string protection;                        // one sentence on what the weakest slot protects against
  std::map<std::string, std::string> data_keys;  // purpose -> key id (public)
};

class Keyring {
 public:
  // Opens the keyring at options.path, creating it (mode per options.mode) when missing.
  // kPermissionDenied when no slot opens it (wrong passphrase, PCRs changed), with each slot's reason.
  static Result<std::unique_ptr<Keyring>> open(const KeyringOptions& options);
  // A new keyring (mode per options.mode); kInvalidArgument when one exists at options.path.
  static Result<std::unique_ptr<Keyring>> create(const KeyringOptions& options);
  ~Keyring();
  Keyring(const Keyring&) = delete;
  Keyring& operator=(const Keyring&) = delete;

  // The data key for `purpose` (1-32 of [a-z0-9-]); created and stored on first use.
  Result<Key> data_key(std::string_view purpose);

  KeyringStatus status() const;

  // A new master key: the data keys are re-wrapped and the slots made again, the same kinds with
  // options.mode = auto, else one slot of options.mode (passphrase: the one in
  // `<passphrase_env>_NEW` when set, else the same one with a new salt).
  Status rotate(const KeyringOptions& options);

  // Another way to the same master key (options.mode: tpm, passphrase or local), e.g. a passphrase
  // to recover a TPM-sealed keyring whose PCRs changed. kInvalidArgument when that kind is there.
  Status add_slot(const KeyringOptions& options);

 private:
  struct State;
  explicit Keyring(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// Argon2id of `passphrase` with `salt`; kInvalidArgument for an empty passphrase.
Result<Key> derive_passphrase_key(std::string_view passphrase, std::span<const uint8_t> salt,
                                  const Argon2Params& params);

}  // namespace tandem::privacy
