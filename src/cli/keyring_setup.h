// The keyring of encryption at rest as the CLI's commands use it: options from the config
// (security.*), opened once per process, and the data key of each purpose.
//
//   auto key = cli::data_key(config, cli::kAuditKey);   // nullopt: security.encryption = off
//   if (!key) return fail(key.error());
//   auto log = privacy::AuditLog::open(config.privacy_audit_log, *key);
//
// Thread-safety: data_key() may be called from any thread (the keyring is opened under a mutex).
#pragma once

#include <optional>
#include <string_view>

#include "core/config.h"
#include "core/status.h"
#include "privacy/keyring.h"

namespace tandem::cli {

// One data key per kind of file, so that a key never covers more than it must.
inline constexpr std::string_view kKnowledgeKey = "knowledge";  // the knowledge base's vector index
inline constexpr std::string_view kAuditKey = "audit";          // the audit log and its head
inline constexpr std::string_view kUsageKey = "usage";          // the usage log
inline constexpr std::string_view kRouterKey = "router";        // learned intent examples
inline constexpr std::string_view kApiKeysKey = "api-keys";     // the API key store

// kInvalidArgument for a malformed security.tpm_pcrs.
Result<privacy::KeyringOptions> keyring_options(const Config& config);

// The data key for `purpose` from the keyring at security.keyring (created on first use), or
// nullopt when security.encryption = off.
Result<std::optional<privacy::Key>> data_key(const Config& config, std::string_view purpose);

}  // namespace tandem::cli
