#include "privacy/tpm.h"

#include <fmt/format.h>
#include <openssl/sha.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include <cstdlib>
#include <cstring>

#include "privacy/aes_gcm.h"

namespace tandem::privacy {
namespace {

constexpr uint32_t kMaxPcr = 23;

// One ESAPI connection, closed with everything it loaded.
class Connection {
 public:
  ~Connection() {
    for (ESYS_TR handle : loaded_) Esys_FlushContext(esys_, handle);
    if (esys_) Esys_Finalize(&esys_);
    if (tcti_) Tss2_TctiLdr_Finalize(&tcti_);
  }

  static Result<std::unique_ptr<Connection>> open(const std::string& tcti) {
    // tss2 prints its own errors to stderr; Tandem reports them as values. A user's TSS2_LOG wins.
    ::setenv("TSS2_LOG", "all+NONE", /*overwrite=*/0);
    auto c = std::unique_ptr<Connection>(new Connection());
    TSS2_RC rc = Tss2_TctiLdr_Initialize(tcti.c_str(), &c->tcti_);
    if (rc == TSS2_RC_SUCCESS) rc = Esys_Initialize(&c->esys_, c->tcti_, nullptr);
    if (rc != TSS2_RC_SUCCESS) {
      return make_error(ErrorCode::kUnavailable,
                        fmt::format("no TPM answers at '{}' (security.tpm_tcti): {}", tcti, Tss2_RC_Decode(rc)));
    }
    return c;
  }

  ESYS_CONTEXT* esys() { return esys_; }
  void track(ESYS_TR handle) { loaded_.push_back(handle); }

 private:
  Connection() = default;
  TSS2_TCTI_CONTEXT* tcti_ = nullptr;
  ESYS_CONTEXT* esys_ = nullptr;
  std::vector<ESYS_TR> loaded_;
};

Error tpm_error(ErrorCode code, std::string_view what, TSS2_RC rc) {
  return make_error(code, fmt::format("TPM {} failed: {}", what, Tss2_RC_Decode(rc)));
}

template <typename T>
struct EsysFree {
  void operator()(T* p) const { Esys_Free(p); }
};
template <typename T>
using EsysPtr = std::unique_ptr<T, EsysFree<T>>;

// The TCG storage root key template (ECC P-256, AES-128-CFB): the same template gives the same
// key from the owner seed every time, so nothing needs to stay in the TPM.
Result<ESYS_TR> create_primary(Connection& c) {
  TPM2B_SENSITIVE_CREATE sensitive{};
  TPM2B_PUBLIC in_public{};
  TPMT_PUBLIC& area = in_public.publicArea;
  area.type = TPM2_ALG_ECC;
  area.nameAlg = TPM2_ALG_SHA256;
  area.objectAttributes = TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT |
                          TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN |
                          TPMA_OBJECT_NODA;
  area.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
  area.parameters.eccDetail.symmetric.keyBits.aes = 128;
  area.parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
  area.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
  area.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
  area.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
  TPM2B_DATA outside{};
  TPML_PCR_SELECTION creation_pcrs{};
  ESYS_TR primary = ESYS_TR_NONE;
  TSS2_RC rc = Esys_CreatePrimary(c.esys(), ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sensitive,
                                  &in_public, &outside, &creation_pcrs, &primary, nullptr, nullptr, nullptr, nullptr);
  if (rc != TSS2_RC_SUCCESS) return tpm_error(ErrorCode::kUnavailable, "CreatePrimary (owner hierarchy)", rc);
  c.track(primary);
  return primary;
}

Result<TPML_PCR_SELECTION> selection_of(const std::vector<uint32_t>& pcrs) {
  if (pcrs.empty()) return make_error(ErrorCode::kInvalidArgument, "sealing needs at least one PCR");
  TPML_PCR_SELECTION selection{};
  selection.count = 1;
  selection.pcrSelections[0].hash = TPM2_ALG_SHA256;
  selection.pcrSelections[0].sizeofSelect = 3;
  for (uint32_t pcr : pcrs) {
    if (pcr > kMaxPcr) return make_error(ErrorCode::kInvalidArgument, fmt::format("PCR {} is not 0..23", pcr));
    selection.pcrSelections[0].pcrSelect[pcr / 8] |= static_cast<uint8_t>(1U << (pcr % 8));
  }
  return selection;
}

// A session (trial: to compute the digest; policy: to authorise) with PolicyPCR over `selection`.
Result<ESYS_TR> pcr_policy_session(Connection& c, TPM2_SE type, const TPML_PCR_SELECTION& selection) {
  TPMT_SYM_DEF symmetric{};
  symmetric.algorithm = TPM2_ALG_NULL;
  ESYS_TR session = ESYS_TR_NONE;
  TSS2_RC rc = Esys_StartAuthSession(c.esys(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                     nullptr, type, &symmetric, TPM2_ALG_SHA256, &session);
  if (rc != TSS2_RC_SUCCESS) return tpm_error(ErrorCode::kUnavailable, "StartAuthSession", rc);
  c.track(session);
  TPM2B_DIGEST current{};  // empty: the TPM uses the PCRs' present values
  rc = Esys_PolicyPCR(c.esys(), session, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &current, &selection);
  if (rc != TSS2_RC_SUCCESS) return tpm_error(ErrorCode::kUnavailable, "PolicyPCR", rc);
  return session;
}

bool is_policy_failure(TSS2_RC rc) {
  const TSS2_RC tpm = rc & 0xFFFF;  // without the layer (ESAPI passes TPM codes through)
  return (tpm & TPM2_RC_FMT1) != 0 && (tpm & (TPM2_RC_FMT1 | 0x3F)) == TPM2_RC_POLICY_FAIL;
}

}  // namespace

Result<TpmSealed> tpm_seal(const std::string& tcti, std::span<const uint8_t> secret,
                           const std::vector<uint32_t>& pcrs) {
  if (secret.empty() || secret.size() > 128) {
    return make_error(ErrorCode::kInvalidArgument, "a TPM seals 1 to 128 bytes");
  }
  auto selection = selection_of(pcrs);
  if (!selection) return selection.error();
  auto c = Connection::open(tcti);
  if (!c) return c.error();
  auto primary = create_primary(**c);
  if (!primary) return primary.error();
  auto trial = pcr_policy_session(**c, TPM2_SE_TRIAL, *selection);
  if (!trial) return trial.error();
  TPM2B_DIGEST* raw_digest = nullptr;
  TSS2_RC rc = Esys_PolicyGetDigest((*c)->esys(), *trial, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &raw_digest);
  EsysPtr<TPM2B_DIGEST> digest(raw_digest);
  if (rc != TSS2_RC_SUCCESS) return tpm_error(ErrorCode::kUnavailable, "PolicyGetDigest", rc);

  TPM2B_SENSITIVE_CREATE sensitive{};
  sensitive.sensitive.data.size = static_cast<UINT16>(secret.size());
  std::memcpy(sensitive.sensitive.data.buffer, secret.data(), secret.size());
  TPM2B_PUBLIC in_public{};
  TPMT_PUBLIC& area = in_public.publicArea;
  area.type = TPM2_ALG_KEYEDHASH;
  area.nameAlg = TPM2_ALG_SHA256;
  // No USERWITHAUTH: the policy is the only way to use the object.
  area.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT;
  area.authPolicy = *digest;
  area.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
  TPM2B_DATA outside{};
  TPML_PCR_SELECTION creation_pcrs{};
  TPM2B_PRIVATE* raw_private = nullptr;
  TPM2B_PUBLIC* raw_public = nullptr;
  rc = Esys_Create((*c)->esys(), *primary, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sensitive, &in_public,
                   &outside, &creation_pcrs, &raw_private, &raw_public, nullptr, nullptr, nullptr);
  wipe({reinterpret_cast<uint8_t*>(&sensitive), sizeof sensitive});
  EsysPtr<TPM2B_PRIVATE> sealed_private(raw_private);
  EsysPtr<TPM2B_PUBLIC> sealed_public(raw_public);
  if (rc != TSS2_RC_SUCCESS) return tpm_error(ErrorCode::kUnavailable, "Create (sealed object)", rc);

  TpmSealed out;
  out.pcrs = pcrs;
  out.public_blob.resize(sizeof(TPM2B_PUBLIC));
  out.private_blob.resize(sizeof(TPM2B_PRIVATE));
  size_t public_size = 0;
  size_t private_size = 0;
  if (Tss2_MU_TPM2B_PUBLIC_Marshal(sealed_public.get(), out.public_blob.data(), out.public_blob.size(), &public_size) !=
          TSS2_RC_SUCCESS ||
      Tss2_MU_TPM2B_PRIVATE_Marshal(sealed_private.get(), out.private_blob.data(), out.private_blob.size(),
                                    &private_size) != TSS2_RC_SUCCESS) {
    return make_error(ErrorCode::kInternal, "cannot marshal the sealed object");
  }
  out.public_blob.resize(public_size);
  out.private_blob.resize(private_size);
  return out;
}

Result<std::vector<uint8_t>> tpm_unseal(const std::string& tcti, const TpmSealed& sealed) {
  auto selection = selection_of(sealed.pcrs);
  if (!selection) return selection.error();
  TPM2B_PUBLIC in_public{};
  TPM2B_PRIVATE in_private{};
  size_t offset = 0;
  bool ok = Tss2_MU_TPM2B_PUBLIC_Unmarshal(sealed.public_blob.data(), sealed.public_blob.size(), &offset, &in_public) ==
                TSS2_RC_SUCCESS &&
            offset == sealed.public_blob.size();
  offset = 0;
  ok = ok &&
       Tss2_MU_TPM2B_PRIVATE_Unmarshal(sealed.private_blob.data(), sealed.private_blob.size(), &offset, &in_private) ==
           TSS2_RC_SUCCESS &&
       offset == sealed.private_blob.size();
  if (!ok) return make_error(ErrorCode::kDataLoss, "the TPM-sealed key is malformed");
  auto c = Connection::open(tcti);
  if (!c) return c.error();
  auto primary = create_primary(**c);
  if (!primary) return primary.error();
  ESYS_TR object = ESYS_TR_NONE;
  TSS2_RC rc =
      Esys_Load((*c)->esys(), *primary, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &in_private, &in_public, &object);
  if (rc != TSS2_RC_SUCCESS) {
    return make_error(ErrorCode::kDataLoss,
                      fmt::format("the TPM refused the sealed key (sealed by another TPM, or its owner seed was "
                                  "cleared): {}",
                                  Tss2_RC_Decode(rc)));
  }
  (*c)->track(object);
  auto session = pcr_policy_session(**c, TPM2_SE_POLICY, *selection);
  if (!session) return session.error();
  TPM2B_SENSITIVE_DATA* raw = nullptr;
  rc = Esys_Unseal((*c)->esys(), object, *session, ESYS_TR_NONE, ESYS_TR_NONE, &raw);
  EsysPtr<TPM2B_SENSITIVE_DATA> data(raw);
  if (rc != TSS2_RC_SUCCESS) {
    if (is_policy_failure(rc)) {
      return make_error(ErrorCode::kPermissionDenied,
                        fmt::format("the TPM will not unseal the key: PCR {} changed since it was sealed",
                                    fmt::join(sealed.pcrs, ",")));
    }
    return tpm_error(ErrorCode::kDataLoss, "Unseal", rc);
  }
  std::vector<uint8_t> secret(data->buffer, data->buffer + data->size);
  wipe({data->buffer, data->size});
  return secret;
}

Status tpm_extend_pcr(const std::string& tcti, uint32_t pcr, std::string_view data) {
  if (pcr > kMaxPcr) return make_error(ErrorCode::kInvalidArgument, fmt::format("PCR {} is not 0..23", pcr));
  auto c = Connection::open(tcti);
  if (!c) return c.error();
  TPML_DIGEST_VALUES digests{};
  digests.count = 1;
  digests.digests[0].hashAlg = TPM2_ALG_SHA256;
  SHA256(reinterpret_cast<const uint8_t*>(data.data()), data.size(), digests.digests[0].digest.sha256);
  TSS2_RC rc =
      Esys_PCR_Extend((*c)->esys(), ESYS_TR_PCR0 + pcr, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &digests);
  if (rc != TSS2_RC_SUCCESS) return tpm_error(ErrorCode::kUnavailable, fmt::format("PCR_Extend {}", pcr), rc);
  return {};
}

}  // namespace tandem::privacy
