// API keys and tenants on a real `tandem serve` (OWASP API1 broken object-level authorization and
// API2 broken authentication): every route but /health needs a valid key, a revoked key stops
// working at once, and one tenant can neither see, read, delete, search nor chat over another
// tenant's documents, nor learn that they exist. Keys are made with the real `tandem keys`.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "support/server_process.h"
#include "support/test_support.h"

namespace tandem::testing {
namespace {

using nlohmann::json;

class TenancyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    acme_ = new Key(create_key("acme", "user"));
    globex_ = new Key(create_key("globex", "user"));
    auto server =
        ServerProcess::start({"--model", chat_model_path(), "--set", "router.intent_model=" + intent_model_dir()},
                             {"TANDEM_SERVER_AUTH=keys", "TANDEM_SERVER_KEYS_FILE=" + keys_file()});
    ASSERT_TRUE(server) << server.error().message;
    server_ = server->release();
  }
  static void TearDownTestSuite() {
    delete server_;
    delete acme_;
    delete globex_;
    delete dir_;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    ASSERT_FALSE(acme_->key.empty());
  }

  using Key = CreatedKey;
  static std::string keys_file() { return dir_->file("keys.json"); }
  static Key create_key(const std::string& tenant, const std::string& scope) {
    return create_api_key(keys_file(), tenant, scope);
  }
  static httplib::Client client(const std::string& key) { return keyed_client(server_->port(), key); }
  static json body_of(const httplib::Result& res, int status) {
    EXPECT_TRUE(res);
    if (!res) return {};
    EXPECT_EQ(res->status, status) << res->body;
    return json::parse(res->body, nullptr, false);
  }

  static TempDir* dir_;
  static Key* acme_;
  static Key* globex_;
  static ServerProcess* server_;
};

TempDir* TenancyTest::dir_ = nullptr;
TenancyTest::Key* TenancyTest::acme_ = nullptr;
TenancyTest::Key* TenancyTest::globex_ = nullptr;
ServerProcess* TenancyTest::server_ = nullptr;

TEST_F(TenancyTest, EveryRouteButHealthNeedsAValidKeyAndNoKeyIsEchoed) {
  auto anonymous = client("");
  EXPECT_EQ(anonymous.Get("/health")->status, 200);
  for (const char* path : {"/v1/models", "/tandem/v1/kb/collections", "/tandem/v1/kb/documents"}) {
    auto res = anonymous.Get(path);
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 401) << path;
    EXPECT_EQ(json::parse(res->body)["error"]["code"], "invalid_api_key");
  }
  const json chat = {
      {"model", "tandem/local"}, {"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"max_tokens", 2}};
  EXPECT_EQ(post_json(anonymous, "/v1/chat/completions", chat)->status, 401);

  // A forged key with a real id, and a real key with one character changed.
  std::string altered = acme_->key;
  altered.back() = altered.back() == 'a' ? 'b' : 'a';
  for (const std::string& wrong : {"tdm_" + acme_->id + "_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", altered}) {
    auto res = client(wrong).Get("/v1/models");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, 401);
    EXPECT_EQ(res->body.find(wrong), std::string::npos);
  }
  EXPECT_EQ(client(acme_->key).Get("/v1/models")->status, 200);
  EXPECT_EQ(client(acme_->key).Get("/metrics")->status, 403);  // a user key, not an admin's
}

TEST_F(TenancyTest, ATenantCannotSeeReadDeleteSearchOrAskOverAnotherTenantsDocuments) {
  auto acme = client(acme_->key);
  auto globex = client(globex_->key);
  auto added = body_of(acme.Post("/tandem/v1/kb/documents?collection=payroll&name=salaries.md",
                                 "# Salaries\n\nThe chief engineer earns 214,000 euros a year.\n", "text/markdown"),
                       201);
  ASSERT_TRUE(added.contains("document")) << added.dump();
  const int64_t id = added["document"]["id"];
  EXPECT_EQ(added["document"]["collection"], "payroll");

  // Acme sees its own, under the name it gave.
  EXPECT_EQ(body_of(acme.Get("/tandem/v1/kb/collections"), 200)["data"][0]["name"], "payroll");
  EXPECT_EQ(body_of(acme.Get("/tandem/v1/kb/documents/" + std::to_string(id)), 200)["path"], "salaries.md");

  // Globex learns nothing: no collection, no document, the id answers as an unknown one does.
  EXPECT_TRUE(body_of(globex.Get("/tandem/v1/kb/collections"), 200)["data"].empty());
  EXPECT_TRUE(body_of(globex.Get("/tandem/v1/kb/documents"), 200)["data"].empty());
  auto theirs = globex.Get("/tandem/v1/kb/documents/" + std::to_string(id));
  auto unknown = globex.Get("/tandem/v1/kb/documents/999999");
  ASSERT_TRUE(theirs && unknown);
  EXPECT_EQ(theirs->status, 404);
  EXPECT_EQ(json::parse(theirs->body)["error"]["code"], json::parse(unknown->body)["error"]["code"]);
  EXPECT_EQ(theirs->body.find("salaries"), std::string::npos);
  EXPECT_EQ(globex.Delete("/tandem/v1/kb/documents/" + std::to_string(id))->status, 404);
  auto searched = body_of(post_json(globex, "/tandem/v1/kb/search", {{"query", "chief engineer salary"}}), 200);
  EXPECT_TRUE(searched["hits"].empty());
  auto named = post_json(globex, "/tandem/v1/kb/search", {{"query", "salary"}, {"collections", {"payroll"}}});
  ASSERT_TRUE(named);
  EXPECT_EQ(named->status, 404);
  // Named as Globex knows it, never with the prefix that keeps tenants apart.
  EXPECT_NE(named->body.find("'payroll' does not exist; you have none"), std::string::npos) << named->body;
  EXPECT_EQ(named->body.find('@'), std::string::npos) << named->body;
  const json chat = {{"model", "tandem/auto"},
                     {"messages", {{{"role", "user"}, {"content", "How much does the chief engineer earn?"}}}},
                     {"max_tokens", 16},
                     {"temperature", 0},
                     {"tandem", {{"knowledge", "always"}}}};
  auto asked = post_json(globex, "/v1/chat/completions", chat);
  ASSERT_TRUE(asked);
  EXPECT_EQ(asked->status, 404) << asked->body;
  EXPECT_EQ(asked->body.find("214,000"), std::string::npos);

  // The document survived Globex's attempts and still grounds Acme's answer.
  auto answer = body_of(post_json(acme, "/v1/chat/completions", chat), 200);
  EXPECT_TRUE(answer["tandem"]["knowledge"]["found"].get<bool>()) << answer.dump();
  EXPECT_EQ(answer["tandem"]["knowledge"]["citations"][0]["path"], "salaries.md");
}

TEST_F(TenancyTest, ARevokedKeyStopsWorkingWithoutARestart) {
  const Key temporary = create_key("acme", "admin");
  EXPECT_EQ(client(temporary.key).Get("/v1/models")->status, 200);
  auto revoked = run_tandem({"--set", "server.keys_file=" + keys_file(), "keys", "revoke", temporary.id});
  ASSERT_EQ(revoked.exit_code, 0) << revoked.stderr_text;
  EXPECT_EQ(client(temporary.key).Get("/v1/models")->status, 401);
  // The file holds salted hashes only.
  std::ifstream in(keys_file());
  std::stringstream stored;
  stored << in.rdbuf();
  EXPECT_EQ(stored.str().find(temporary.key.substr(temporary.key.rfind('_') + 1)), std::string::npos);
}

TEST_F(TenancyTest, EachKeyHasItsOwnRateLimitAnsweredWith429AndRetryAfter) {
  // A server of its own, limited to 3 requests and 2,000 chat tokens per minute per key.
  auto limited = ServerProcess::start({"--model", chat_model_path()},
                                      {"TANDEM_SERVER_AUTH=keys", "TANDEM_SERVER_KEYS_FILE=" + keys_file(),
                                       "TANDEM_SERVER_RATE_LIMIT_RPM=3", "TANDEM_SERVER_RATE_LIMIT_TPM=2000"});
  ASSERT_TRUE(limited) << limited.error().message;
  auto acme = loopback_client((*limited)->port());
  acme.set_default_headers({{"Authorization", "Bearer " + acme_->key}});
  for (int i = 0; i < 3; ++i) EXPECT_EQ(acme.Get("/v1/models")->status, 200) << i;
  auto refused = acme.Get("/v1/models");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 429);
  EXPECT_EQ(json::parse(refused->body)["error"]["code"], "rate_limit_exceeded");
  EXPECT_GE(std::stoi(refused->get_header_value("Retry-After")), 1);
  EXPECT_EQ(refused->body.find(acme_->key), std::string::npos);

  // Another key is not affected, and a chat asking for more than a minute's tokens never fits.
  auto globex = loopback_client((*limited)->port());
  globex.set_default_headers({{"Authorization", "Bearer " + globex_->key}});
  const json huge = {
      {"model", "tandem/local"}, {"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"max_tokens", 4000}};
  auto too_big = post_json(globex, "/v1/chat/completions", huge);
  ASSERT_TRUE(too_big);
  // Waiting cannot help, so a 400 that clients do not retry, not a 429 whose Retry-After they obey.
  EXPECT_EQ(too_big->status, 400) << too_big->body;
  EXPECT_FALSE(too_big->has_header("Retry-After"));
  EXPECT_NE(json::parse(too_big->body)["error"]["message"].get<std::string>().find("can never be admitted"),
            std::string::npos)
      << too_big->body;
  EXPECT_EQ(globex.Get("/v1/models")->status, 200);
}

TEST_F(TenancyTest, TokensAReplyDidNotUseGoBackToTheKeysMinute) {
  // 200 tokens a minute; each request reserves its prompt estimate and max_tokens 150 up front,
  // and stops at its first sentence, so it uses far less.
  auto limited = ServerProcess::start({"--model", chat_model_path()},
                                      {"TANDEM_SERVER_AUTH=keys", "TANDEM_SERVER_KEYS_FILE=" + keys_file(),
                                       "TANDEM_SERVER_RATE_LIMIT_TPM=200"});
  ASSERT_TRUE(limited) << limited.error().message;
  auto acme = loopback_client((*limited)->port());
  acme.set_default_headers({{"Authorization", "Bearer " + acme_->key}});
  const json chat = {{"model", "tandem/local"},
                     {"messages", {{{"role", "user"}, {"content", "Say OK."}}}},
                     {"max_tokens", 150},
                     {"stop", {".", "\n"}}};
  auto first = body_of(post_json(acme, "/v1/chat/completions", chat), 200);
  ASSERT_TRUE(first.contains("usage")) << first.dump();
  const auto used = first["usage"]["prompt_tokens"].get<int64_t>() + first["usage"]["completion_tokens"].get<int64_t>();
  ASSERT_LT(used, 60) << "the reply must leave most of its reservation unused: " << first.dump();
  // Without the refund ~50 tokens (plus 3.3 a second of refill) would be left for 150.
  auto second = post_json(acme, "/v1/chat/completions", chat);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 200) << second->body;
}

TEST_F(TenancyTest, AKeyOverItsDailyEnergyBudgetWaitsForMidnightUtc) {
  // A budget so small that one answer spends it.
  TempDir data;
  auto budgeted =
      ServerProcess::start({"--model", chat_model_path()},
                           {"TANDEM_SERVER_AUTH=keys", "TANDEM_SERVER_KEYS_FILE=" + keys_file(),
                            "TANDEM_SERVER_BUDGET_WH_PER_DAY=0.000000001", "TANDEM_DATA=" + data.file("data")});
  ASSERT_TRUE(budgeted) << budgeted.error().message;
  auto acme = loopback_client((*budgeted)->port());
  acme.set_default_headers({{"Authorization", "Bearer " + acme_->key}});
  const json chat = {
      {"model", "tandem/local"}, {"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"max_tokens", 4}};
  auto first = body_of(post_json(acme, "/v1/chat/completions", chat), 200);
  EXPECT_GT(first["tandem"]["usage"]["energy_wh"].get<double>(), 0.0) << first.dump();
  auto second = post_json(acme, "/v1/chat/completions", chat);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 429) << second->body;
  EXPECT_NE(second->body.find("daily energy budget"), std::string::npos);
  const int wait = std::stoi(second->get_header_value("Retry-After"));
  EXPECT_GT(wait, 0);
  EXPECT_LE(wait, 24 * 3600);
  // The spend is kept: a restart on the same data still refuses the key today.
  (*budgeted).reset();
  auto restarted =
      ServerProcess::start({"--model", chat_model_path()},
                           {"TANDEM_SERVER_AUTH=keys", "TANDEM_SERVER_KEYS_FILE=" + keys_file(),
                            "TANDEM_SERVER_BUDGET_WH_PER_DAY=0.000000001", "TANDEM_DATA=" + data.file("data")});
  ASSERT_TRUE(restarted) << restarted.error().message;
  auto again = loopback_client((*restarted)->port());
  again.set_default_headers({{"Authorization", "Bearer " + acme_->key}});
  auto refused = post_json(again, "/v1/chat/completions", chat);
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 429) << refused->body;
}

TEST_F(TenancyTest, AdminsManageKeysOverHttpAndUsersCannot) {
  const Key admin = create_key("acme", "admin");
  auto boss = client(admin.key);
  auto user = client(acme_->key);
  EXPECT_EQ(user.Get("/tandem/v1/keys")->status, 403);
  EXPECT_EQ(post_json(user, "/tandem/v1/keys", {{"tenant", "acme"}})->status, 403);

  auto created = body_of(post_json(boss, "/tandem/v1/keys", {{"tenant", "initech"}, {"scope", "user"}}), 201);
  const std::string key = created["key"];
  const std::string id = created["id"];
  EXPECT_EQ(created["tenant"], "initech");
  EXPECT_EQ(client(key).Get("/v1/models")->status, 200);
  auto listed = boss.Get("/tandem/v1/keys");
  ASSERT_TRUE(listed);
  EXPECT_EQ(listed->status, 200);
  EXPECT_NE(listed->body.find(id), std::string::npos);
  EXPECT_EQ(listed->body.find(key.substr(key.rfind('_') + 1)), std::string::npos);  // never a secret

  EXPECT_EQ(post_json(boss, "/tandem/v1/keys", {{"tenant", "no spaces allowed"}})->status, 400);
  EXPECT_EQ(body_of(boss.Delete("/tandem/v1/keys/" + id), 200)["revoked"], true);
  EXPECT_EQ(client(key).Get("/v1/models")->status, 401);
  EXPECT_EQ(boss.Delete("/tandem/v1/keys/0123456789ab")->status, 404);
}

TEST(SingleUserModeTest, IsRefusedOnAHostOtherMachinesCanReach) {
  auto out =
      run_tandem({"--set", "server.auth=none", "serve", "--host", "0.0.0.0", "--port", "0"}, std::chrono::seconds(30));
  EXPECT_EQ(out.exit_code, 2) << out.stdout_text << out.stderr_text;
  EXPECT_NE(out.stderr_text.find("loopback"), std::string::npos) << out.stderr_text;
}

}  // namespace
}  // namespace tandem::testing
