// TPM 2.0 sealing of a small secret (the keyring's master key) through tss2's ESAPI: a primary
// storage key (ECC P-256, the TCG SRK template) in the owner hierarchy is created on every
// use (the same template gives the same key from the TPM's seed, so nothing is stored in the TPM),
// and the secret becomes a keyed-hash object under it whose only authorisation is a PolicyPCR over
// the chosen SHA-256 PCRs. Unsealing runs the same policy in a session: it succeeds only while the
// PCRs hold the values they held at sealing.
//
//   auto sealed = privacy::tpm_seal("device:/dev/tpmrm0", master_key, {16});
//   ... store sealed->public_blob, sealed->private_blob ...
//   auto secret = privacy::tpm_unseal("device:/dev/tpmrm0", *sealed);   // kPermissionDenied: PCRs changed
//
// `tcti` is a tss2 TCTI configuration: "device:/dev/tpmrm0" (the kernel's resource manager) or
// "swtpm:host=127.0.0.1,port=2321" (tests run swtpm themselves).
// Thread-safety: each call opens its own TPM connection; calls may run in parallel.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"

namespace tandem::privacy {

struct TpmSealed {
  std::vector<uint32_t> pcrs;
  std::vector<uint8_t> public_blob;   // TPM2B_PUBLIC, marshalled
  std::vector<uint8_t> private_blob;  // TPM2B_PRIVATE, marshalled (encrypted by the TPM)
};

// kUnavailable when no TPM answers at `tcti`; kInvalidArgument for PCRs outside 0..23 or a secret
// over 128 bytes.
Result<TpmSealed> tpm_seal(const std::string& tcti, std::span<const uint8_t> secret, const std::vector<uint32_t>& pcrs);

// kPermissionDenied when the PCRs no longer match (the policy fails); kDataLoss for blobs the TPM
// refuses; kUnavailable when no TPM answers.
Result<std::vector<uint8_t>> tpm_unseal(const std::string& tcti, const TpmSealed& sealed);

// Extends SHA-256 PCR `pcr` with SHA-256(`data`): what a boot measurement does, for tests and for
// locking the key away until the next reboot.
Status tpm_extend_pcr(const std::string& tcti, uint32_t pcr, std::string_view data);

}  // namespace tandem::privacy
