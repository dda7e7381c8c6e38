// Encryption at rest through the `tandem` commands that read each sealed file: a flipped byte is
// reported naming the file, never read as garbage; rotation keeps every file readable.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>

#include "energy/usage_ledger.h"
#include "privacy/audit_log.h"
#include "privacy/keyring.h"
#include "privacy/sealed_file.h"
#include "support/server_process.h"
#include "support/test_support.h"

namespace tandem {
namespace {

using testing::ProcessOutput;
using testing::run_tandem;
using testing::TempDir;

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void flip_byte(const std::string& path, size_t at) {
  std::string bytes = slurp(path);
  ASSERT_LT(at, bytes.size());
  bytes[at] = static_cast<char>(bytes[at] ^ 0x20);
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

class EncryptionAtRestTest : public ::testing::Test {
 protected:
  // `tandem --set ... args...` with this test's own keyring and files.
  ProcessOutput tandem(std::vector<std::string> args) const {
    std::vector<std::string> all{"--set", "security.keyring=" + keyring_, "--set", "security.encryption=local",
                                 "--set", "server.keys_file=" + keys_,    "--set", "privacy.audit_log=" + audit_,
                                 "--set", "energy.usage_log=" + usage_};
    all.insert(all.end(), args.begin(), args.end());
    return run_tandem(all);
  }
  privacy::Key data_key(std::string_view purpose) const {
    auto keyring = privacy::Keyring::open({.path = keyring_, .mode = "local"});
    EXPECT_TRUE(keyring) << keyring.error().message;
    auto key = (*keyring)->data_key(purpose);
    EXPECT_TRUE(key) << key.error().message;
    return *key;
  }

  TempDir dir_;
  const std::string keyring_ = dir_.file("config/keyring.json");
  const std::string keys_ = dir_.file("data/keys.json");
  const std::string audit_ = dir_.file("data/audit.log");
  const std::string usage_ = dir_.file("data/usage.jsonl");
};

TEST_F(EncryptionAtRestTest, ApiKeysAreSealedSurviveRotationAndDamageIsNamed) {
  auto created = tandem({"keys", "create", "--tenant", "canary-tenant-9", "--scope", "admin"});
  ASSERT_EQ(created.exit_code, 0) << created.stderr_text;
  EXPECT_TRUE(privacy::is_sealed_file(keys_).value());
  EXPECT_EQ(slurp(keys_).find("canary-tenant-9"), std::string::npos);

  auto status = tandem({"keyring", "status"});
  ASSERT_EQ(status.exit_code, 0) << status.stderr_text;
  EXPECT_NE(status.stdout_text.find("opened with local"), std::string::npos) << status.stdout_text;
  EXPECT_NE(status.stdout_text.find("outside the data directory"), std::string::npos) << status.stdout_text;
  EXPECT_NE(status.stdout_text.find("data key api-keys"), std::string::npos) << status.stdout_text;

  const std::string keyring_before = slurp(keyring_);
  auto rotated = tandem({"keyring", "rotate"});
  ASSERT_EQ(rotated.exit_code, 0) << rotated.stderr_text;
  EXPECT_NE(slurp(keyring_), keyring_before);
  auto listed = tandem({"keys", "list"});
  ASSERT_EQ(listed.exit_code, 0) << listed.stderr_text;
  EXPECT_NE(listed.stdout_text.find("canary-tenant-9"), std::string::npos) << listed.stdout_text;

  flip_byte(keys_, slurp(keys_).size() - 20);
  auto damaged = tandem({"keys", "list"});
  EXPECT_NE(damaged.exit_code, 0);
  EXPECT_NE(damaged.stderr_text.find(keys_ + " is damaged"), std::string::npos) << damaged.stderr_text;
  EXPECT_EQ(damaged.stdout_text.find("canary-tenant-9"), std::string::npos);
}

// A keyring moved away (a restore from backup, a new config directory) is not silently replaced
// by a new one that could never open what the old one sealed.
TEST_F(EncryptionAtRestTest, AMissingKeyringIsNotReplacedNextToTheFilesItSealed) {
  auto created = tandem({"keys", "create", "--tenant", "canary-tenant-9", "--scope", "user"});
  ASSERT_EQ(created.exit_code, 0) << created.stderr_text;
  std::filesystem::rename(keyring_, keyring_ + ".away");
  auto refused = tandem({"keys", "list"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.stderr_text.find("the keyring " + keyring_ + " is missing, but " + keys_ + " is sealed"),
            std::string::npos)
      << refused.stderr_text;
  EXPECT_FALSE(std::filesystem::exists(keyring_));  // none was made

  std::filesystem::rename(keyring_ + ".away", keyring_);
  auto listed = tandem({"keys", "list"});
  ASSERT_EQ(listed.exit_code, 0) << listed.stderr_text;
  EXPECT_NE(listed.stdout_text.find("canary-tenant-9"), std::string::npos) << listed.stdout_text;
}

TEST_F(EncryptionAtRestTest, TheAuditLogItsHeadAndTheUsageLogNameTheDamagedFile) {
  {
    auto audit = privacy::AuditLog::open(audit_, data_key("audit"));
    ASSERT_TRUE(audit) << audit.error().message;
    privacy::AuditEntry entry;
    entry.tenant = "canary-tenant-9";
    entry.provider = "openai";
    entry.model = "gpt-4o-mini";
    entry.sent_sha256 = std::string(64, 'a');
    ASSERT_TRUE(audit->append(entry));
    ASSERT_TRUE(audit->append(entry));
    auto usage = energy::UsageLedger::open(usage_, data_key("usage"));
    ASSERT_TRUE(usage) << usage.error().message;
    ASSERT_TRUE((*usage)->append({.tenant = "canary-tenant-9", .route = "cloud", .prompt_tokens = 5}));
  }
  for (const auto& file : {audit_, audit_ + ".head", usage_}) {
    EXPECT_EQ(slurp(file).find("canary-tenant-9"), std::string::npos) << file;
  }
  auto verified = tandem({"audit", "verify"});
  ASSERT_EQ(verified.exit_code, 0) << verified.stdout_text << verified.stderr_text;
  EXPECT_NE(verified.stdout_text.find("2 entries"), std::string::npos) << verified.stdout_text;
  auto shown = tandem({"audit", "show", "--json"});
  ASSERT_EQ(shown.exit_code, 0) << shown.stderr_text;
  EXPECT_NE(shown.stdout_text.find("canary-tenant-9"), std::string::npos);
  auto report = tandem({"energy", "report", "--json"});
  ASSERT_EQ(report.exit_code, 0) << report.stderr_text;
  EXPECT_NE(report.stdout_text.find("\"cloud\""), std::string::npos) << report.stdout_text;

  for (const auto& file : {audit_, audit_ + ".head"}) {
    const std::string good = slurp(file);
    flip_byte(file, good.size() - 5);
    auto broken = tandem({"audit", "verify"});
    EXPECT_EQ(broken.exit_code, 1) << file;
    EXPECT_NE(broken.stdout_text.find(file + " is damaged"), std::string::npos)
        << broken.stdout_text << broken.stderr_text;
    std::ofstream(file, std::ios::binary | std::ios::trunc) << good;
  }
  flip_byte(usage_, slurp(usage_).size() - 5);
  auto damaged = tandem({"energy", "report"});
  EXPECT_EQ(damaged.exit_code, 1);
  EXPECT_NE(damaged.stderr_text.find(usage_ + " is damaged"), std::string::npos) << damaged.stderr_text;
}

TEST_F(EncryptionAtRestTest, OffMeansClearFilesAndASealedFileIsRefusedNotMisread) {
  auto created = tandem({"keys", "create", "--tenant", "acme"});
  ASSERT_EQ(created.exit_code, 0) << created.stderr_text;
  auto clear = run_tandem({"--set", "security.encryption=off", "--set", "server.keys_file=" + keys_, "keys", "list"});
  EXPECT_NE(clear.exit_code, 0);
  EXPECT_NE(clear.stderr_text.find("is encrypted, but encryption is off"), std::string::npos) << clear.stderr_text;
  auto bad_pcrs = tandem({"--set", "security.tpm_pcrs=16,99", "keyring", "status"});
  EXPECT_EQ(bad_pcrs.exit_code, 2);
  EXPECT_NE(bad_pcrs.stderr_text.find("security.tpm_pcrs"), std::string::npos) << bad_pcrs.stderr_text;
  auto bad_mode = tandem({"--set", "security.encryption=maybe", "keyring", "status"});
  EXPECT_EQ(bad_mode.exit_code, 2);
  EXPECT_NE(bad_mode.stderr_text.find("security.encryption"), std::string::npos) << bad_mode.stderr_text;
  auto off = run_tandem({"--set", "security.encryption=off", "keyring", "status"});
  EXPECT_EQ(off.exit_code, 0);
  EXPECT_NE(off.stdout_text.find("stored in clear"), std::string::npos) << off.stdout_text;
}

}  // namespace
}  // namespace tandem
