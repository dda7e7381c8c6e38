#include "cli/keyring_setup.h"

#include <charconv>
#include <map>
#include <memory>
#include <mutex>

namespace tandem::cli {

Result<privacy::KeyringOptions> keyring_options(const Config& config) {
  privacy::KeyringOptions options;
  options.path = config.security_keyring;
  options.mode = config.security_encryption;
  options.passphrase_env = config.security_passphrase_env;
  options.tpm_tcti = config.security_tpm_tcti;
  options.tpm_pcrs.clear();
  for (const std::string& item : split_setting_list(config.security_tpm_pcrs)) {
    uint32_t pcr = 0;
    auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), pcr);
    if (ec != std::errc() || end != item.data() + item.size() || pcr > 23) {
      return make_error(
          ErrorCode::kInvalidArgument,
          "security.tpm_pcrs must be comma-separated PCR numbers 0..23, not '" + config.security_tpm_pcrs + "'");
    }
    options.tpm_pcrs.push_back(pcr);
  }
  if (options.tpm_pcrs.empty()) return make_error(ErrorCode::kInvalidArgument, "security.tpm_pcrs is empty");
  return options;
}

Result<std::optional<privacy::Key>> data_key(const Config& config, std::string_view purpose) {
  if (config.security_encryption == "off") return std::optional<privacy::Key>();
  // Opening costs an Argon2id derivation or a TPM unseal: once per keyring per process.
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<privacy::Keyring>> opened;
  std::lock_guard lock(mutex);
  auto& keyring = opened[config.security_keyring];
  if (!keyring) {
    auto options = keyring_options(config);
    if (!options) return options.error();
    auto made = privacy::Keyring::open(*options);
    if (!made) return made.error();
    keyring = std::move(*made);
  }
  auto key = keyring->data_key(purpose);
  if (!key) return key.error();
  return std::optional<privacy::Key>(*key);
}

}  // namespace tandem::cli
