#include "privacy/aes_gcm.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <limits>

namespace tandem::privacy {

namespace {

bool fits_int(std::size_t n) {
  return n <= static_cast<std::size_t>(std::numeric_limits<int>::max());
}

}  // namespace

struct AesGcm::Context {
  EVP_CIPHER_CTX* encrypt = EVP_CIPHER_CTX_new();
  EVP_CIPHER_CTX* decrypt = EVP_CIPHER_CTX_new();
  Key key{};
  ~Context() {
    EVP_CIPHER_CTX_free(encrypt);
    EVP_CIPHER_CTX_free(decrypt);
    wipe(key);
  }
};

Status random_bytes(std::span<uint8_t> out) {
  if (!fits_int(out.size()) || RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) {
    return make_error(ErrorCode::kInternal, "the random number generator could not be used");
  }
  return {};
}

void wipe(std::span<uint8_t> secret) {
  OPENSSL_cleanse(secret.data(), secret.size());
}

AesGcm::AesGcm(const Key& key) : context_(std::make_unique<Context>()) {
  context_->key = key;
  // The key schedule is set once per context; each call below only sets the nonce.
  if (context_->encrypt) EVP_EncryptInit_ex(context_->encrypt, EVP_aes_256_gcm(), nullptr, key.data(), nullptr);
  if (context_->decrypt) EVP_DecryptInit_ex(context_->decrypt, EVP_aes_256_gcm(), nullptr, key.data(), nullptr);
}

AesGcm::~AesGcm() = default;

Status AesGcm::encrypt(const Nonce& nonce, std::span<const uint8_t> aad, std::span<const uint8_t> plain,
                       std::span<uint8_t> out, Tag& tag) {
  EVP_CIPHER_CTX* ctx = context_->encrypt;
  int n = 0;
  const bool ok = ctx && out.size() >= plain.size() && fits_int(plain.size()) && fits_int(aad.size()) &&
                  EVP_EncryptInit_ex(ctx, nullptr, nullptr, nullptr, nonce.data()) == 1 &&
                  (aad.empty() || EVP_EncryptUpdate(ctx, nullptr, &n, aad.data(), static_cast<int>(aad.size())) == 1) &&
                  EVP_EncryptUpdate(ctx, out.data(), &n, plain.data(), static_cast<int>(plain.size())) == 1 &&
                  EVP_EncryptFinal_ex(ctx, out.data() + n, &n) == 1 &&
                  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, static_cast<int>(kTagBytes), tag.data()) == 1;
  if (!ok) return make_error(ErrorCode::kInternal, "AES-256-GCM encryption failed");
  return {};
}

Status AesGcm::decrypt(const Nonce& nonce, std::span<const uint8_t> aad, std::span<const uint8_t> cipher,
                       const Tag& tag, std::span<uint8_t> out) {
  EVP_CIPHER_CTX* ctx = context_->decrypt;
  if (!ctx || out.size() < cipher.size() || !fits_int(cipher.size()) || !fits_int(aad.size())) {
    return make_error(ErrorCode::kInternal, "AES-256-GCM decryption could not start");
  }
  int n = 0;
  Tag expected = tag;  // EVP wants a mutable pointer
  const bool ok = EVP_DecryptInit_ex(ctx, nullptr, nullptr, nullptr, nonce.data()) == 1 &&
                  (aad.empty() || EVP_DecryptUpdate(ctx, nullptr, &n, aad.data(), static_cast<int>(aad.size())) == 1) &&
                  EVP_DecryptUpdate(ctx, out.data(), &n, cipher.data(), static_cast<int>(cipher.size())) == 1 &&
                  EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, static_cast<int>(kTagBytes), expected.data()) == 1 &&
                  EVP_DecryptFinal_ex(ctx, out.data() + n, &n) == 1;
  if (!ok) {
    std::fill(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(cipher.size()), uint8_t{0});
    return make_error(ErrorCode::kDataLoss, "authentication failed: the data was changed or the key is wrong");
  }
  return {};
}

}  // namespace tandem::privacy
