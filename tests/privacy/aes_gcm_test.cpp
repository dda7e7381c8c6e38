#include "privacy/aes_gcm.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tandem::privacy {
namespace {

std::vector<uint8_t> bytes_of(std::string_view s) {
  return {s.begin(), s.end()};
}

template <std::size_t N>
std::array<uint8_t, N> from_hex(std::string_view hex) {
  std::array<uint8_t, N> out{};
  for (std::size_t i = 0; i < N; ++i)
    out[i] = static_cast<uint8_t>(std::stoi(std::string(hex.substr(2 * i, 2)), nullptr, 16));
  return out;
}

// NIST GCM test vector (gcmEncryptExtIV256.rsp, Count 0 with 128-bit plaintext): pins the cipher
// to the standard, not merely to itself.
TEST(AesGcmTest, MatchesNistVector) {
  const auto key = from_hex<32>("31bdadd96698c204aa9ce1448ea94ae1fb4a9a0b3c9d773b51bb1822666b8f22");
  const auto nonce = from_hex<12>("0d18e06c7c725ac9e362e1ce");
  const auto plain = from_hex<16>("2db5168e932556f8089a0622981d017d");
  AesGcm cipher(key);
  std::array<uint8_t, 16> out{};
  Tag tag{};
  ASSERT_TRUE(cipher.encrypt(nonce, {}, plain, out, tag).ok());
  EXPECT_EQ(out, (from_hex<16>("fa4362189661d163fcd6a56d8bf0405a")));
  EXPECT_EQ(tag, (from_hex<16>("d636ac1bbedd5cc3ee727dc2ab4a9489")));
}

TEST(AesGcmTest, RoundTripsWithAssociatedDataAndDetectsEveryChange) {
  Key key{};
  ASSERT_TRUE(random_bytes(key).ok());
  Nonce nonce{};
  ASSERT_TRUE(random_bytes(nonce).ok());
  const auto plain = bytes_of("the lease ends on 31 March 2027");
  const auto aad = bytes_of("page 7");
  AesGcm cipher(key);
  std::vector<uint8_t> sealed(plain.size());
  Tag tag{};
  ASSERT_TRUE(cipher.encrypt(nonce, aad, plain, sealed, tag).ok());
  EXPECT_NE(sealed, plain);

  std::vector<uint8_t> opened(plain.size());
  ASSERT_TRUE(cipher.decrypt(nonce, aad, sealed, tag, opened).ok());
  EXPECT_EQ(opened, plain);

  auto flipped = sealed;
  flipped[3] ^= 0x01;
  auto st = cipher.decrypt(nonce, aad, flipped, tag, opened);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, ErrorCode::kDataLoss);
  EXPECT_EQ(opened, std::vector<uint8_t>(plain.size(), 0)) << "no half-decrypted bytes on failure";

  EXPECT_FALSE(cipher.decrypt(nonce, bytes_of("page 8"), sealed, tag, opened).ok()) << "AAD is bound";
  Key other = key;
  other[0] ^= 0x80;
  AesGcm wrong(other);
  EXPECT_FALSE(wrong.decrypt(nonce, aad, sealed, tag, opened).ok()) << "another key fails";
}

TEST(AesGcmTest, EncryptsInPlace) {
  Key key{};
  ASSERT_TRUE(random_bytes(key).ok());
  Nonce nonce{};
  auto data = bytes_of("in place, as SQLite pages are");
  const auto original = data;
  AesGcm cipher(key);
  Tag tag{};
  ASSERT_TRUE(cipher.encrypt(nonce, {}, data, data, tag).ok());
  EXPECT_NE(data, original);
  ASSERT_TRUE(cipher.decrypt(nonce, {}, data, tag, data).ok());
  EXPECT_EQ(data, original);
}

}  // namespace
}  // namespace tandem::privacy
