// AES-256-GCM, the one authenticated cipher of encryption at rest (OpenSSL EVP, AES-NI where the
// CPU has it). Every encrypted byte Tandem writes goes through this class: sealed files, SQLite
// pages, wrapped data keys.
//
//   privacy::Key key;
//   if (auto st = privacy::random_bytes(key); !st) return st;
//   privacy::AesGcm cipher(key);
//   privacy::Nonce nonce = ...;                 // never reused with the same key (callers' rule)
//   std::vector<uint8_t> out(plain.size());
//   std::array<uint8_t, privacy::kTagBytes> tag;
//   if (auto st = cipher.encrypt(nonce, aad, plain, out, tag); !st) return st;
//   if (auto st = cipher.decrypt(nonce, aad, out, tag, plain); !st) ...   // kDataLoss: tampered
//
// Thread-safety: an AesGcm holds one reusable EVP context, so one object per thread; the free
// functions have no shared state.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "core/status.h"

namespace tandem::privacy {

inline constexpr std::size_t kKeyBytes = 32;
inline constexpr std::size_t kNonceBytes = 12;
inline constexpr std::size_t kTagBytes = 16;
using Key = std::array<uint8_t, kKeyBytes>;
using Nonce = std::array<uint8_t, kNonceBytes>;
using Tag = std::array<uint8_t, kTagBytes>;

// Cryptographically secure random bytes (OpenSSL's DRBG). kInternal if it cannot be seeded.
Status random_bytes(std::span<uint8_t> out);

class AesGcm {
 public:
  explicit AesGcm(const Key& key);
  ~AesGcm();
  AesGcm(const AesGcm&) = delete;
  AesGcm& operator=(const AesGcm&) = delete;

  // `out` must be as large as `plain` (GCM does not pad); `plain` and `out` may be the same bytes.
  Status encrypt(const Nonce& nonce, std::span<const uint8_t> aad, std::span<const uint8_t> plain,
                 std::span<uint8_t> out, Tag& tag);
  // kDataLoss when the tag does not match (wrong key, edited bytes, edited AAD); `out` is then
  // zeroed, never half-decrypted garbage.
  Status decrypt(const Nonce& nonce, std::span<const uint8_t> aad, std::span<const uint8_t> cipher, const Tag& tag,
                 std::span<uint8_t> out);

 private:
  struct Context;
  std::unique_ptr<Context> context_;
};

// Overwrites secret bytes in a way the compiler cannot elide (OPENSSL_cleanse).
void wipe(std::span<uint8_t> secret);

}  // namespace tandem::privacy
