#include "server/api_keys.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "support/test_support.h"

namespace tandem::server {
namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

std::unique_ptr<ApiKeyStore> open_store(const std::string& path) {
  auto store = ApiKeyStore::open(path);
  EXPECT_TRUE(store.ok()) << store.error().to_string();
  return std::move(*store);
}

std::string secret_of(const std::string& key) {
  return key.substr(key.rfind('_') + 1);
}

TEST(ApiKeysTest, ScopeNamesRoundTrip) {
  EXPECT_EQ(key_scope_name(KeyScope::kUser), "user");
  EXPECT_EQ(key_scope_name(KeyScope::kAdmin), "admin");
  EXPECT_EQ(key_scope_from_name("user"), KeyScope::kUser);
  EXPECT_EQ(key_scope_from_name("admin"), KeyScope::kAdmin);
  EXPECT_EQ(key_scope_from_name("root"), std::nullopt);
  EXPECT_EQ(key_scope_from_name(""), std::nullopt);
}

TEST(ApiKeysTest, MissingFileIsAnEmptyStoreUntilTheFirstCreate) {
  testing::TempDir dir;
  const std::string path = dir.file("sub/folder/keys.json");
  auto store = open_store(path);
  EXPECT_TRUE(store->list().empty());
  EXPECT_EQ(store->active_keys(), 0u);
  EXPECT_FALSE(std::filesystem::exists(path));
  ASSERT_TRUE(store->create("acme", KeyScope::kUser).ok());
  EXPECT_TRUE(std::filesystem::exists(path));
}

TEST(ApiKeysTest, CreatedKeyAuthenticatesWithItsTenantAndScope) {
  testing::TempDir dir;
  auto store = open_store(dir.file("keys.json"));
  auto user = store->create("acme", KeyScope::kUser);
  auto admin = store->create("ops-team_2", KeyScope::kAdmin);
  ASSERT_TRUE(user.ok()) << user.error().to_string();
  ASSERT_TRUE(admin.ok()) << admin.error().to_string();

  // tdm_ + 12 hex + _ + 40 base62
  EXPECT_EQ(user->key.size(), 57u);
  EXPECT_EQ(user->key.substr(0, 4), "tdm_");
  EXPECT_EQ(user->key.substr(4, 12), user->info.id);
  EXPECT_EQ(secret_of(user->key).size(), 40u);
  EXPECT_FALSE(user->info.created_at.empty());
  EXPECT_EQ(user->info.created_at.back(), 'Z');

  auto who = store->authenticate(user->key);
  ASSERT_TRUE(who.has_value());
  EXPECT_EQ(who->id, user->info.id);
  EXPECT_EQ(who->tenant, "acme");
  EXPECT_EQ(who->scope, KeyScope::kUser);
  EXPECT_FALSE(who->revoked);

  auto op = store->authenticate(admin->key);
  ASSERT_TRUE(op.has_value());
  EXPECT_EQ(op->tenant, "ops-team_2");
  EXPECT_EQ(op->scope, KeyScope::kAdmin);
  EXPECT_EQ(store->active_keys(), 2u);
}

TEST(ApiKeysTest, WrongAndMalformedKeysAreRefused) {
  testing::TempDir dir;
  auto store = open_store(dir.file("keys.json"));
  auto created = store->create("acme", KeyScope::kUser);
  ASSERT_TRUE(created.ok());
  const std::string key = created->key;

  const std::vector<std::string> malformed = {
      "",        "tdm_",
      "tdm_x_y", "Bearer " + key,
      key + "x", key.substr(0, key.size() - 1),
      " " + key, "TDM_" + key.substr(4),
  };
  for (const auto& bad : malformed) {
    EXPECT_FALSE(store->authenticate(bad).has_value()) << bad;
  }
  // One character changed, anywhere: in the id, in the secret, in the separator.
  for (size_t i = 0; i < key.size(); ++i) {
    std::string changed = key;
    changed[i] = changed[i] == 'a' ? 'b' : 'a';
    EXPECT_FALSE(store->authenticate(changed).has_value()) << "changed at " << i;
  }
  // A well-formed key with the right id but another secret, and one with an unknown id.
  std::string wrong_secret = key.substr(0, 17) + std::string(40, 'A');
  EXPECT_FALSE(store->authenticate(wrong_secret).has_value());
  std::string wrong_id = "tdm_000000000000_" + secret_of(key);
  EXPECT_FALSE(store->authenticate(wrong_id).has_value());

  // A key of another store.
  testing::TempDir other_dir;
  auto other = open_store(other_dir.file("keys.json"));
  auto foreign = other->create("acme", KeyScope::kAdmin);
  ASSERT_TRUE(foreign.ok());
  EXPECT_FALSE(store->authenticate(foreign->key).has_value());
  EXPECT_TRUE(store->authenticate(key).has_value());
}

TEST(ApiKeysTest, RevokedKeyIsRefusedAndStaysListed) {
  testing::TempDir dir;
  auto store = open_store(dir.file("keys.json"));
  auto kept = store->create("acme", KeyScope::kUser);
  auto revoked = store->create("acme", KeyScope::kUser);
  ASSERT_TRUE(kept.ok());
  ASSERT_TRUE(revoked.ok());

  ASSERT_TRUE(store->revoke(revoked->info.id).ok());
  EXPECT_FALSE(store->authenticate(revoked->key).has_value());
  EXPECT_TRUE(store->authenticate(kept->key).has_value());
  EXPECT_TRUE(store->revoke(revoked->info.id).ok()) << "revoking twice is fine";
  EXPECT_EQ(store->active_keys(), 1u);

  auto keys = store->list();
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].id, kept->info.id);  // creation order
  EXPECT_FALSE(keys[0].revoked);
  EXPECT_EQ(keys[1].id, revoked->info.id);
  EXPECT_TRUE(keys[1].revoked);

  auto unknown = store->revoke("0123456789ab");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  // A whole key pasted instead of its id is refused without repeating it.
  auto pasted = store->revoke(kept->key);
  ASSERT_FALSE(pasted.ok());
  EXPECT_EQ(pasted.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(pasted.error().message.find(secret_of(kept->key)), std::string::npos);
  EXPECT_TRUE(store->authenticate(kept->key).has_value());
}

TEST(ApiKeysTest, FileHoldsNeitherKeyNorSecretAndIsPrivate) {
  testing::TempDir dir;
  const std::string path = dir.file("keys.json");
  auto store = open_store(path);
  std::vector<std::string> keys;
  for (int i = 0; i < 3; ++i) {
    auto created = store->create("acme", i == 0 ? KeyScope::kAdmin : KeyScope::kUser);
    ASSERT_TRUE(created.ok());
    keys.push_back(created->key);
  }
  const std::string text = read_text(path);
  ASSERT_FALSE(text.empty());
  for (const auto& key : keys) {
    EXPECT_EQ(text.find(key), std::string::npos);
    EXPECT_EQ(text.find(secret_of(key)), std::string::npos);
    EXPECT_EQ(text.find(secret_of(key).substr(0, 16)), std::string::npos);
  }
  EXPECT_NE(text.find("\"salt\""), std::string::npos);
  EXPECT_NE(text.find("\"hash\""), std::string::npos);

  struct stat info {};
  ASSERT_EQ(::stat(path.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

TEST(ApiKeysTest, ReopenedStoreKnowsTheKeys) {
  testing::TempDir dir;
  const std::string path = dir.file("keys.json");
  std::string key;
  {
    auto store = open_store(path);
    auto created = store->create("acme", KeyScope::kAdmin);
    ASSERT_TRUE(created.ok());
    key = created->key;
  }
  auto reopened = open_store(path);
  auto who = reopened->authenticate(key);
  ASSERT_TRUE(who.has_value());
  EXPECT_EQ(who->tenant, "acme");
  EXPECT_EQ(who->scope, KeyScope::kAdmin);
}

// The server holds one store while `tandem keys create|revoke` (another process) writes the file.
TEST(ApiKeysTest, SecondStoreSeesNewAndRevokedKeysWithoutReopening) {
  testing::TempDir dir;
  const std::string path = dir.file("keys.json");
  auto server = open_store(path);
  auto cli = open_store(path);

  auto created = cli->create("acme", KeyScope::kUser);
  ASSERT_TRUE(created.ok());
  auto who = server->authenticate(created->key);
  ASSERT_TRUE(who.has_value());
  EXPECT_EQ(who->tenant, "acme");

  ASSERT_TRUE(cli->revoke(created->info.id).ok());
  EXPECT_FALSE(server->authenticate(created->key).has_value());

  auto second = cli->create("beta", KeyScope::kAdmin);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(server->authenticate(second->key).has_value());
  EXPECT_EQ(server->list().size(), 2u);
  EXPECT_EQ(server->active_keys(), 1u);
}

// Two writers on the same file (two `tandem keys create` at once) keep each other's keys.
TEST(ApiKeysTest, ConcurrentWritersLoseNoKeys) {
  testing::TempDir dir;
  const std::string path = dir.file("keys.json");
  auto first = open_store(path);
  auto second = open_store(path);
  std::vector<std::string> first_keys, second_keys;
  auto create_many = [](ApiKeyStore& store, std::vector<std::string>& out) {
    for (int i = 0; i < 10; ++i) {
      auto created = store.create("acme", KeyScope::kUser);
      if (created.ok()) out.push_back(created->key);
    }
  };
  std::thread a(create_many, std::ref(*first), std::ref(first_keys));
  std::thread b(create_many, std::ref(*second), std::ref(second_keys));
  a.join();
  b.join();
  ASSERT_EQ(first_keys.size(), 10u);
  ASSERT_EQ(second_keys.size(), 10u);
  auto server = open_store(path);
  EXPECT_EQ(server->list().size(), 20u);
  for (const auto& key : first_keys) EXPECT_TRUE(server->authenticate(key).has_value());
  for (const auto& key : second_keys) EXPECT_TRUE(server->authenticate(key).has_value());
}

// Request threads authenticate while keys are created and revoked: a live key never fails.
TEST(ApiKeysTest, AuthenticateWhileTheFileChanges) {
  testing::TempDir dir;
  const std::string path = dir.file("keys.json");
  auto server = open_store(path);
  auto cli = open_store(path);
  auto live = cli->create("acme", KeyScope::kUser);
  ASSERT_TRUE(live.ok());

  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t) {
    readers.emplace_back([&] {
      while (!stop.load()) {
        if (!server->authenticate(live->key)) failures.fetch_add(1);
      }
    });
  }
  for (int i = 0; i < 10; ++i) {
    auto created = cli->create("other", KeyScope::kUser);
    ASSERT_TRUE(created.ok());
    ASSERT_TRUE(cli->revoke(created->info.id).ok());
  }
  stop.store(true);
  for (auto& reader : readers) reader.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(server->list().size(), 11u);
}

TEST(ApiKeysTest, DamagedFileIsDataLoss) {
  testing::TempDir dir;
  const std::string path = dir.file("keys.json");
  const std::vector<std::string> damaged_files = {
      "{not json",
      "[]",
      R"({"version": 2, "keys": []})",
      R"({"version": 1})",
      R"({"version": 1, "keys": [{"id": "0123456789ab", "tenant": "acme"}]})",
      R"({"version": 1, "keys": [{"id": "0123456789ab", "tenant": "acme", "scope": "root",
            "created_at": "", "revoked": false, "salt": "00000000000000000000000000000000",
            "hash": "0000000000000000000000000000000000000000000000000000000000000000"}]})"};
  for (const auto& damaged : damaged_files) {
    write_text(path, damaged);
    auto store = ApiKeyStore::open(path);
    ASSERT_FALSE(store.ok()) << damaged;
    EXPECT_EQ(store.error().code, ErrorCode::kDataLoss);
    EXPECT_NE(store.error().message.find(path), std::string::npos) << store.error().message;
  }
}

TEST(ApiKeysTest, DamagedFileIsNeitherOverwrittenNorTrustedOnReload) {
  testing::TempDir dir;
  const std::string path = dir.file("keys.json");
  auto server = open_store(path);
  auto created = server->create("acme", KeyScope::kUser);
  ASSERT_TRUE(created.ok());

  write_text(path, "{\"version\": 1, \"keys\": [");  // cut short
  EXPECT_TRUE(server->authenticate(created->key).has_value()) << "a failed reload keeps the keys loaded before";
  auto refused = server->create("acme", KeyScope::kUser);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kDataLoss);
  EXPECT_EQ(read_text(path), "{\"version\": 1, \"keys\": [");
}

TEST(ApiKeysTest, InvalidTenantNamesAreRefused) {
  testing::TempDir dir;
  const std::string path = dir.file("keys.json");
  auto store = open_store(path);
  const std::vector<std::string> invalid = {"", std::string(65, 'a'), "a b", "acme/x", "ünï", "a.b", "a\nb"};
  for (const auto& tenant : invalid) {
    auto created = store->create(tenant, KeyScope::kUser);
    ASSERT_FALSE(created.ok()) << tenant;
    EXPECT_EQ(created.error().code, ErrorCode::kInvalidArgument);
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_TRUE(store->create(std::string(64, 'a'), KeyScope::kUser).ok());
}

TEST(ApiKeysTest, KeysAndIdsAreUnique) {
  testing::TempDir dir;
  auto store = open_store(dir.file("keys.json"));
  std::set<std::string> keys, ids, secrets;
  for (int i = 0; i < 100; ++i) {
    auto created = store->create("acme", KeyScope::kUser);
    ASSERT_TRUE(created.ok());
    keys.insert(created->key);
    ids.insert(created->info.id);
    secrets.insert(secret_of(created->key));
  }
  EXPECT_EQ(keys.size(), 100u);
  EXPECT_EQ(ids.size(), 100u);
  EXPECT_EQ(secrets.size(), 100u);
  EXPECT_EQ(store->active_keys(), 100u);
}

TEST(ApiKeysTest, ASealedStoreKeepsTenantsOffTheDiskAndSealsAClearFileOnOpen) {
  testing::TempDir dir;
  const std::string path = dir.file("keys.json");
  privacy::Key key{};
  ASSERT_TRUE(privacy::random_bytes(key));
  std::string full_key;
  {
    auto clear = open_store(path);  // an earlier version's clear file
    auto created = clear->create("tenant-canary-64", KeyScope::kAdmin);
    ASSERT_TRUE(created);
    full_key = created->key;
  }
  EXPECT_NE(read_text(path).find("tenant-canary-64"), std::string::npos);
  {
    auto sealed = ApiKeyStore::open(path, key);
    ASSERT_TRUE(sealed) << sealed.error().message;
    EXPECT_EQ(read_text(path).find("tenant-canary-64"), std::string::npos);
    ASSERT_TRUE((*sealed)->authenticate(full_key));
    ASSERT_TRUE((*sealed)->create("second", KeyScope::kUser));
  }
  auto again = ApiKeyStore::open(path, key);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ((*again)->list().size(), 2U);
  EXPECT_EQ((*again)->authenticate(full_key)->tenant, "tenant-canary-64");
  EXPECT_FALSE(ApiKeyStore::open(path));  // no key: refused, not misread

  std::string bytes = read_text(path);
  bytes[bytes.size() / 2] ^= 0x01;
  write_text(path, bytes);
  auto damaged = ApiKeyStore::open(path, key);
  ASSERT_FALSE(damaged);
  EXPECT_EQ(damaged.error().code, ErrorCode::kDataLoss);
  EXPECT_NE(damaged.error().message.find(path), std::string::npos) << damaged.error().message;
}

}  // namespace
}  // namespace tandem::server
