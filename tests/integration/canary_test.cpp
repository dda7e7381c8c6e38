// The canary test of encryption at rest: a unique secret goes into a document (ingested by
// `tandem kb add` and uploaded over HTTP) and into conversations (local, grounded and cloud
// answers, embeddings); after `tandem serve` has stopped, no byte sequence of the secret is found
// in any file of the data directory: the knowledge base and its WAL, the vector index, the audit,
// usage and key files, temporary and lock files included.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>

#include "providers/llama_server.h"
#include "support/server_process.h"
#include "support/test_support.h"

namespace tandem::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// A secret no model, file or test could contain by chance.
std::string unique_canary() {
  std::random_device seed;
  std::mt19937_64 random(seed());
  return "zqcanary" + std::to_string(random()) + "wv";
}

// Every regular file below `dir` whose bytes contain `needle`.
std::vector<std::string> files_containing(const fs::path& dir, const std::string& needle, size_t* files_read) {
  std::vector<std::string> hits;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    ++*files_read;
    if (slurp(entry.path()).find(needle) != std::string::npos) hits.push_back(entry.path().string());
  }
  return hits;
}

TEST(CanaryTest, NoByteOfASecretInDocumentsOrConversationsReachesTheDataDirectoryInClear) {
  if (!llama_server_available()) GTEST_SKIP() << "no llama-server in this build (TANDEM_BUILD_BENCH=OFF)";
  const std::string canary = unique_canary();
  TempDir dir;
  const fs::path data = dir.file("data");
  const fs::path documents = dir.file("documents");
  fs::create_directories(data);
  fs::create_directories(documents);
  std::ofstream(documents / "vault.md") << "# Vault\n\nThe code of the vault is " << canary << ". Tell no one.\n";
  // The master key comes from a passphrase (Argon2id); the keyring lives outside the data directory.
  const std::vector<std::string> env = {"TANDEM_DATA=" + data.string(), "TANDEM_PASSPHRASE=correct horse battery",
                                        "TANDEM_SECURITY_ENCRYPTION=passphrase",
                                        "TANDEM_SECURITY_KEYRING=" + dir.file("config/keyring.json")};

  auto added = run_tandem({"kb", "add", documents.string(), "--collection", "private"}, std::chrono::seconds(300), env);
  ASSERT_EQ(added.exit_code, 0) << added.stdout_text << added.stderr_text;

  auto cloud = LlamaServer::start();
  ASSERT_TRUE(cloud) << cloud.error().message;
  std::vector<std::string> serve_env = env;
  serve_env.push_back("TANDEM_CLOUD_BASE_URL=" + (*cloud)->base_url());
  serve_env.push_back("TANDEM_CLOUD_MODEL=big");
  auto server = ServerProcess::start(
      {"--model", chat_model_path(), "--set", "router.intent_model=" + intent_model_dir()}, serve_env);
  ASSERT_TRUE(server) << server.error().message;
  auto client = loopback_client((*server)->port());
  auto expect_ok = [](const httplib::Result& res, int status = 200) {
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, status) << res->body;
  };
  expect_ok(client.Post("/tandem/v1/kb/documents?collection=uploads&name=note.txt",
                        "A second note: the vault code " + canary + " changes on Monday.\n", "text/plain"),
            201);
  auto ask = [&](const std::string& model, const json& tandem_options) {
    json body = {{"model", model},
                 {"messages", {{{"role", "user"}, {"content", "What is the vault code " + canary + "?"}}}},
                 {"max_tokens", 12}};
    if (!tandem_options.is_null()) body["tandem"] = tandem_options;
    return post_json(client, "/v1/chat/completions", body);
  };
  auto grounded = ask("tandem/auto", {{"knowledge", "always"}, {"collections", {"private", "uploads"}}});
  expect_ok(grounded);
  EXPECT_EQ(json::parse(grounded->body)["tandem"]["route"], "knowledge") << grounded->body;
  expect_ok(ask("tandem/local", nullptr));
  auto sent = ask("tandem/cloud", nullptr);
  expect_ok(sent);
  EXPECT_EQ(json::parse(sent->body)["tandem"]["route"], "cloud") << sent->body;
  expect_ok(post_json(client, "/v1/embeddings", {{"input", "the vault code " + canary}}));
  auto found = post_json(client, "/tandem/v1/kb/search", {{"query", canary}, {"mode", "bm25"}});
  expect_ok(found);
  EXPECT_NE(found->body.find(canary), std::string::npos) << "the base holds the secret and finds it";
  EXPECT_EQ((*server)->stop(), 0);

  size_t files = 0;
  EXPECT_EQ(files_containing(data, canary, &files), std::vector<std::string>{});
  EXPECT_TRUE(fs::exists(data / "kb" / "kb.sqlite"));
  EXPECT_TRUE(fs::exists(data / "audit.log")) << "the cloud request was audited";
  EXPECT_GE(files, 5u) << "the base, its index, the audit log and its head, the usage log";
  files = 0;  // the control: the same search finds the secret where it is in clear
  EXPECT_EQ(files_containing(documents, canary, &files).size(), 1u);
}

}  // namespace
}  // namespace tandem::testing
