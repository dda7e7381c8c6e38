#include "privacy/keyring.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "privacy/tpm.h"
#include "support/swtpm.h"
#include "support/test_support.h"

namespace tandem::privacy {
namespace {

using tandem::testing::Swtpm;
using tandem::testing::TempDir;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// Sets an environment variable for one test and restores the previous state.
class ScopedEnv {
 public:
  ScopedEnv(std::string name, const char* value) : name_(std::move(name)) {
    if (const char* old = std::getenv(name_.c_str())) old_ = old;
    if (value)
      ::setenv(name_.c_str(), value, 1);
    else
      ::unsetenv(name_.c_str());
  }
  ~ScopedEnv() {
    if (old_)
      ::setenv(name_.c_str(), old_->c_str(), 1);
    else
      ::unsetenv(name_.c_str());
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

KeyringOptions options_in(const TempDir& dir, std::string mode) {
  KeyringOptions options;
  options.path = dir.file("config/keyring.json");
  options.mode = std::move(mode);
  options.passphrase_env = "TANDEM_TEST_KEYRING_PASSPHRASE";
  options.tpm_tcti = "swtpm:host=127.0.0.1,port=1";  // no TPM unless a test starts one
  return options;
}

TEST(KeyringTest, DataKeysAreCreatedOnceAndStayTheSameAcrossOpens) {
  TempDir dir;
  ScopedEnv no_passphrase("TANDEM_TEST_KEYRING_PASSPHRASE", nullptr);
  const auto options = options_in(dir, "auto");
  Key audit{};
  {
    auto keyring = Keyring::open(options);  // auto without passphrase or TPM: local
    ASSERT_TRUE(keyring) << keyring.error().message;
    EXPECT_EQ((*keyring)->status().opened_with, "local");
    EXPECT_NE((*keyring)->status().protection.find("outside the data directory"), std::string::npos);
    audit = (*keyring)->data_key("audit").value();
    EXPECT_EQ((*keyring)->data_key("audit").value(), audit);
    EXPECT_NE((*keyring)->data_key("knowledge").value(), audit);
    EXPECT_EQ((*keyring)->data_key("Not Valid").error().code, ErrorCode::kInvalidArgument);
  }
  auto again = Keyring::open(options);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ((*again)->data_key("audit").value(), audit);
  EXPECT_EQ((*again)->status().data_keys.size(), 2U);
  EXPECT_EQ(std::filesystem::status(options.path).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

TEST(KeyringTest, TwoOpenKeyringsNeverLoseEachOthersKeys) {
  TempDir dir;
  const auto options = options_in(dir, "local");
  auto first = Keyring::open(options);
  auto second = Keyring::open(options);
  ASSERT_TRUE(first && second);
  const Key usage = (*first)->data_key("usage").value();
  const Key router = (*second)->data_key("router").value();
  EXPECT_EQ((*second)->data_key("usage").value(), usage);  // read from the file, not made anew
  auto third = Keyring::open(options);
  EXPECT_EQ((*third)->data_key("usage").value(), usage);
  EXPECT_EQ((*third)->data_key("router").value(), router);
}

// A local slot opens the keyring for anyone who can read its file: the status says so, even when
// the passphrase opened it.
TEST(KeyringTest, TheProtectionSaidIsTheWeakestSlots) {
  TempDir dir;
  ScopedEnv pass("TANDEM_TEST_KEYRING_PASSPHRASE", "correct horse battery staple");
  auto options = options_in(dir, "passphrase");
  auto keyring = Keyring::open(options);
  ASSERT_TRUE(keyring) << keyring.error().message;
  EXPECT_TRUE((*keyring)->status().protection.starts_with("the master key is derived from your passphrase"));
  auto local = options;
  local.mode = "local";
  ASSERT_TRUE((*keyring)->add_slot(local).ok());
  auto reopened = Keyring::open(options);
  ASSERT_TRUE(reopened) << reopened.error().message;
  const auto status = (*reopened)->status();
  EXPECT_EQ(status.slots.size(), 2U);
  EXPECT_TRUE(status.protection.starts_with("its local slot opens the keyring whatever the other slots ask"))
      << status.protection;
}

TEST(KeyringTest, APassphraseKeyringOpensOnlyWithThePassphraseAndStoresNoKeyInClear) {
  TempDir dir;
  auto options = options_in(dir, "passphrase");
  {
    ScopedEnv none("TANDEM_TEST_KEYRING_PASSPHRASE", nullptr);
    auto refused = Keyring::open(options);
    ASSERT_FALSE(refused);
    EXPECT_NE(refused.error().message.find("TANDEM_TEST_KEYRING_PASSPHRASE"), std::string::npos);
    EXPECT_FALSE(std::filesystem::exists(options.path));
  }
  Key knowledge{};
  {
    ScopedEnv pass("TANDEM_TEST_KEYRING_PASSPHRASE", "correct horse battery staple");
    auto keyring = Keyring::open(options);
    ASSERT_TRUE(keyring) << keyring.error().message;
    EXPECT_EQ((*keyring)->status().opened_with, "passphrase");
    EXPECT_EQ((*keyring)->status().slots, std::vector<std::string>{"passphrase (argon2id t=3 m=65536 KiB p=4)"});
    knowledge = (*keyring)->data_key("knowledge").value();
  }
  const std::string file = slurp(options.path);
  EXPECT_EQ(file.find("master_key"), std::string::npos);
  EXPECT_EQ(file.find("correct horse"), std::string::npos);
  {
    ScopedEnv wrong("TANDEM_TEST_KEYRING_PASSPHRASE", "wrong horse");
    auto refused = Keyring::open(options);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, ErrorCode::kPermissionDenied);
    EXPECT_NE(refused.error().message.find("is wrong"), std::string::npos) << refused.error().message;
  }
  ScopedEnv pass("TANDEM_TEST_KEYRING_PASSPHRASE", "correct horse battery staple");
  EXPECT_EQ((*Keyring::open(options))->data_key("knowledge").value(), knowledge);
}

TEST(KeyringTest, RotationChangesTheMasterKeyButNotTheDataKeys) {
  TempDir dir;
  auto options = options_in(dir, "passphrase");
  ScopedEnv pass("TANDEM_TEST_KEYRING_PASSPHRASE", "old passphrase");
  auto keyring = Keyring::open(options);
  ASSERT_TRUE(keyring) << keyring.error().message;
  const Key audit = (*keyring)->data_key("audit").value();
  const std::string old_master = (*keyring)->status().master_id;
  {
    ScopedEnv fresh("TANDEM_TEST_KEYRING_PASSPHRASE_NEW", "new passphrase");
    ASSERT_TRUE((*keyring)->rotate(options).ok());
  }
  EXPECT_NE((*keyring)->status().master_id, old_master);
  EXPECT_EQ((*keyring)->data_key("audit").value(), audit);
  EXPECT_FALSE(Keyring::open(options));  // the old passphrase no longer opens it
  ScopedEnv now("TANDEM_TEST_KEYRING_PASSPHRASE", "new passphrase");
  auto reopened = Keyring::open(options);
  ASSERT_TRUE(reopened) << reopened.error().message;
  EXPECT_EQ((*reopened)->data_key("audit").value(), audit);

  auto to_local = options;
  to_local.mode = "local";
  ASSERT_TRUE((*reopened)->rotate(to_local).ok());
  ScopedEnv none("TANDEM_TEST_KEYRING_PASSPHRASE", nullptr);
  EXPECT_EQ((*Keyring::open(options))->data_key("audit").value(), audit);
  EXPECT_EQ(Keyring::create(options).error().code, ErrorCode::kInvalidArgument);  // exists
}

TEST(KeyringTest, ADamagedKeyringIsReportedNamingTheFile) {
  TempDir dir;
  const auto options = options_in(dir, "local");
  ASSERT_TRUE(Keyring::open(options));
  std::ofstream(options.path, std::ios::trunc) << "{\"version\": 1}";
  auto damaged = Keyring::open(options);
  ASSERT_FALSE(damaged);
  EXPECT_EQ(damaged.error().code, ErrorCode::kDataLoss);
  EXPECT_NE(damaged.error().message.find(options.path), std::string::npos);
}

TEST(KeyringTest, ATpmKeyringOpensWhileThePcrHoldsAndNotAfterItIsExtended) {
  if (tandem::testing::swtpm_binary().empty()) GTEST_SKIP() << "swtpm is not installed (scripts/setup.sh installs it)";
  TempDir dir;
  TempDir state;
  auto tpm = Swtpm::start(state.path().string());
  ASSERT_TRUE(tpm) << tpm.error().message;
  ScopedEnv none("TANDEM_TEST_KEYRING_PASSPHRASE", nullptr);
  auto options = options_in(dir, "auto");
  options.tpm_tcti = (*tpm)->tcti();
  Key router{};
  {
    auto keyring = Keyring::open(options);  // auto with a TPM and no passphrase: tpm
    ASSERT_TRUE(keyring) << keyring.error().message;
    EXPECT_EQ((*keyring)->status().opened_with, "tpm");
    router = (*keyring)->data_key("router").value();
  }
  EXPECT_EQ(slurp(options.path).find("master_key"), std::string::npos);
  EXPECT_EQ((*Keyring::open(options))->data_key("router").value(), router);
  ASSERT_TRUE(tpm_extend_pcr(options.tpm_tcti, 16, "another boot").ok());
  auto refused = Keyring::open(options);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kPermissionDenied);
  EXPECT_NE(refused.error().message.find("PCR 16 changed"), std::string::npos) << refused.error().message;
}

TEST(KeyringTest, APassphraseSlotRecoversATpmKeyringWhosePcrChanged) {
  if (tandem::testing::swtpm_binary().empty()) GTEST_SKIP() << "swtpm is not installed (scripts/setup.sh installs it)";
  TempDir dir;
  TempDir state;
  auto tpm = Swtpm::start(state.path().string());
  ASSERT_TRUE(tpm) << tpm.error().message;
  ScopedEnv none("TANDEM_TEST_KEYRING_PASSPHRASE", nullptr);
  auto options = options_in(dir, "tpm");
  options.tpm_tcti = (*tpm)->tcti();
  Key audit{};
  {
    auto keyring = Keyring::open(options);
    ASSERT_TRUE(keyring) << keyring.error().message;
    audit = (*keyring)->data_key("audit").value();
    auto with_passphrase = options;
    with_passphrase.mode = "passphrase";
    EXPECT_EQ((*keyring)->add_slot(with_passphrase).error().code, ErrorCode::kInvalidArgument);  // none set
    ScopedEnv pass("TANDEM_TEST_KEYRING_PASSPHRASE", "recovery words");
    ASSERT_TRUE((*keyring)->add_slot(with_passphrase).ok());
    EXPECT_EQ((*keyring)->add_slot(with_passphrase).error().code, ErrorCode::kInvalidArgument);  // twice
    EXPECT_EQ((*keyring)->status().slots.size(), 2U);
    EXPECT_NE((*keyring)->status().protection.find("TPM (while its PCRs are unchanged) or with your passphrase"),
              std::string::npos)
        << (*keyring)->status().protection;
  }
  ASSERT_TRUE(tpm_extend_pcr(options.tpm_tcti, 16, "another boot").ok());
  auto refused = Keyring::open(options);  // neither slot opens: both reasons are given
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("PCR 16 changed"), std::string::npos) << refused.error().message;
  EXPECT_NE(refused.error().message.find("TANDEM_TEST_KEYRING_PASSPHRASE is not set"), std::string::npos);
  ScopedEnv pass("TANDEM_TEST_KEYRING_PASSPHRASE", "recovery words");
  auto recovered = Keyring::open(options);
  ASSERT_TRUE(recovered) << recovered.error().message;
  EXPECT_EQ((*recovered)->status().opened_with, "passphrase");
  EXPECT_EQ((*recovered)->data_key("audit").value(), audit);
  // A rotation under auto keeps both kinds of slot, with the new master key.
  auto rotate_same = options;
  rotate_same.mode = "auto";
  ASSERT_TRUE((*recovered)->rotate(rotate_same).ok());
  EXPECT_EQ((*recovered)->status().slots.size(), 2U);
  EXPECT_EQ((*Keyring::open(options))->data_key("audit").value(), audit);
}

}  // namespace
}  // namespace tandem::privacy
