#include "cli/keyring_setup.h"

#include <charconv>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "knowledge/encrypted_vfs.h"
#include "knowledge/knowledge_base.h"
#include "privacy/sealed_file.h"

namespace tandem::cli {
namespace {

// The files that data keys of `purpose` seal, as this configuration names them.
std::vector<std::string> files_sealed_for(const Config& config, std::string_view purpose) {
  if (purpose == kAuditKey) return {config.privacy_audit_log};
  if (purpose == kUsageKey) return {config.energy_usage_log};
  if (purpose == kApiKeysKey) return {config.server_keys_file};
  if (purpose == kRouterKey) return {config.router_learned_examples, config.router_cascade_outcomes};
  if (purpose == kKnowledgeKey) return {knowledge::KnowledgeBase::store_file(config.knowledge_dir)};
  return {};
}

bool is_sealed(const std::string& path) {
  if (knowledge::database_file_kind(path) == knowledge::DatabaseFileKind::kEncrypted) return true;
  auto sealed = privacy::is_sealed_file(path);
  return sealed && *sealed;
}

}  // namespace

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
    // A new keyring could never open what a lost one sealed, and files of two keyrings would
    // follow: refuse to make one next to sealed files.
    std::error_code ec;
    if (!std::filesystem::exists(options->path, ec)) {
      for (const std::string& file : files_sealed_for(config, purpose)) {
        if (!is_sealed(file)) continue;
        return make_error(ErrorCode::kNotFound, "the keyring " + options->path + " is missing, but " + file +
                                                    " is sealed with a keyring's keys: put that keyring back (or "
                                                    "point security.keyring at it); a new one could not open it");
      }
    }
    auto made = privacy::Keyring::open(*options);
    if (!made) return made.error();
    keyring = std::move(*made);
  }
  auto key = keyring->data_key(purpose);
  if (!key) return key.error();
  return std::optional<privacy::Key>(*key);
}

}  // namespace tandem::cli
