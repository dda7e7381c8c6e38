#include "privacy/tpm.h"

#include <gtest/gtest.h>

#include "support/swtpm.h"
#include "support/test_support.h"

namespace tandem::privacy {
namespace {

using tandem::testing::Swtpm;
using tandem::testing::TempDir;

const std::vector<uint8_t> kSecret = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16,
                                      17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

TEST(TpmTest, SealedToAPcrItOpensUntilThePcrIsExtendedAndAgainAfterARestart) {
  if (tandem::testing::swtpm_binary().empty()) GTEST_SKIP() << "swtpm is not installed (scripts/setup.sh installs it)";
  TempDir state;
  TpmSealed sealed;
  {
    auto tpm = Swtpm::start(state.path().string());
    ASSERT_TRUE(tpm) << tpm.error().message;
    auto made = tpm_seal((*tpm)->tcti(), kSecret, {16});
    ASSERT_TRUE(made) << made.error().message;
    sealed = *made;
    auto opened = tpm_unseal((*tpm)->tcti(), sealed);
    ASSERT_TRUE(opened) << opened.error().message;
    EXPECT_EQ(*opened, kSecret);

    ASSERT_TRUE(tpm_extend_pcr((*tpm)->tcti(), 16, "something else was booted").ok());
    auto refused = tpm_unseal((*tpm)->tcti(), sealed);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().code, ErrorCode::kPermissionDenied);
    EXPECT_NE(refused.error().message.find("PCR 16 changed"), std::string::npos) << refused.error().message;
  }
  // A restart resets the PCRs (startup-clear) and keeps the owner seed: the same key opens again.
  auto tpm = Swtpm::start(state.path().string());
  ASSERT_TRUE(tpm) << tpm.error().message;
  auto opened = tpm_unseal((*tpm)->tcti(), sealed);
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ(*opened, kSecret);

  // Another TPM (a fresh state: another owner seed) refuses the blob.
  TempDir other_state;
  auto other = Swtpm::start(other_state.path().string());
  ASSERT_TRUE(other) << other.error().message;
  auto foreign = tpm_unseal((*other)->tcti(), sealed);
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.error().code, ErrorCode::kDataLoss) << foreign.error().message;
}

TEST(TpmTest, SealingToSeveralPcrsFailsWhenAnyOfThemChanges) {
  if (tandem::testing::swtpm_binary().empty()) GTEST_SKIP() << "swtpm is not installed";
  TempDir state;
  auto tpm = Swtpm::start(state.path().string());
  ASSERT_TRUE(tpm) << tpm.error().message;
  auto sealed = tpm_seal((*tpm)->tcti(), kSecret, {16, 23});
  ASSERT_TRUE(sealed) << sealed.error().message;
  ASSERT_TRUE(tpm_unseal((*tpm)->tcti(), *sealed).ok());
  ASSERT_TRUE(tpm_extend_pcr((*tpm)->tcti(), 23, "x").ok());
  EXPECT_EQ(tpm_unseal((*tpm)->tcti(), *sealed).error().code, ErrorCode::kPermissionDenied);
}

TEST(TpmTest, NoTpmAndBadArgumentsAreClearErrors) {
  auto absent = tpm_seal("swtpm:host=127.0.0.1,port=1", kSecret, {16});
  ASSERT_FALSE(absent.ok());
  EXPECT_EQ(absent.error().code, ErrorCode::kUnavailable);
  EXPECT_NE(absent.error().message.find("security.tpm_tcti"), std::string::npos) << absent.error().message;
  EXPECT_EQ(tpm_seal("swtpm:host=127.0.0.1,port=1", kSecret, {24}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(tpm_seal("swtpm:host=127.0.0.1,port=1", kSecret, {}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(tpm_unseal("swtpm:host=127.0.0.1,port=1", TpmSealed{{16}, {1, 2}, {3}}).error().code, ErrorCode::kDataLoss);
}

}  // namespace
}  // namespace tandem::privacy
