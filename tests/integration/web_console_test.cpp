// The web console on a real `tandem serve` with API keys: the page's files are served without a
// key with the right content types, a strict CSP and revalidation by ETag; nothing else opens
// (unknown paths and `..` still need a key, and the API still answers 401 without one); and
// GET /tandem/v1/usage counts a real answer for its tenant, against the all-cloud baseline.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "support/server_process.h"
#include "support/test_support.h"

namespace tandem::testing {
namespace {

using nlohmann::json;

constexpr const char* kCsp =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class WebConsoleTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    user_key_ = new std::string(create_key("acme", "user"));
    admin_key_ = new std::string(create_key("ops", "admin"));
    auto server = ServerProcess::start({"--model", chat_model_path()},
                                       {"TANDEM_SERVER_AUTH=keys", "TANDEM_SERVER_KEYS_FILE=" + keys_file()});
    ASSERT_TRUE(server) << server.error().message;
    server_ = server->release();
  }
  static void TearDownTestSuite() {
    delete server_;
    delete user_key_;
    delete admin_key_;
    delete dir_;
  }
  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    ASSERT_FALSE(user_key_->empty());
  }

  static std::string keys_file() { return dir_->file("keys.json"); }
  static std::string create_key(const std::string& tenant, const std::string& scope) {
    return create_api_key(keys_file(), tenant, scope).key;
  }
  static httplib::Client client(const std::string& key = "") { return keyed_client(server_->port(), key); }
  static json usage(const std::string& key, const std::string& query = "") {
    auto res = client(key).Get(("/tandem/v1/usage" + query).c_str());
    EXPECT_TRUE(res);
    if (!res) return {};
    EXPECT_EQ(res->status, 200) << res->body;
    return json::parse(res->body, nullptr, false);
  }

  static TempDir* dir_;
  static std::string* user_key_;
  static std::string* admin_key_;
  static ServerProcess* server_;
};

TempDir* WebConsoleTest::dir_ = nullptr;
std::string* WebConsoleTest::user_key_ = nullptr;
std::string* WebConsoleTest::admin_key_ = nullptr;
ServerProcess* WebConsoleTest::server_ = nullptr;

TEST_F(WebConsoleTest, ThePageIsServedWithoutAKeyWithItsTypeAStrictCspAndAnETag) {
  auto anonymous = client();
  auto page = anonymous.Get("/");
  ASSERT_TRUE(page);
  ASSERT_EQ(page->status, 200) << page->body;
  EXPECT_EQ(page->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_EQ(page->get_header_value("Content-Security-Policy"), kCsp);
  EXPECT_EQ(page->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(page->get_header_value("Referrer-Policy"), "no-referrer");
  EXPECT_EQ(page->get_header_value("Cache-Control"), "no-cache");
  EXPECT_EQ(page->body, read_file(std::filesystem::path(TANDEM_SOURCE_DIR) / "web/index.html"));
  // No inline script or style for the CSP to block: every script and style sheet is a file.
  EXPECT_EQ(page->body.find("<script>"), std::string::npos);
  EXPECT_EQ(page->body.find("<style"), std::string::npos);
  EXPECT_EQ(page->body.find("style=\""), std::string::npos);

  const std::string etag = page->get_header_value("ETag");
  ASSERT_GE(etag.size(), 3U);
  auto again = anonymous.Get("/", {{"If-None-Match", etag}});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 304);
  EXPECT_TRUE(again->body.empty());
  EXPECT_EQ(again->get_header_value("ETag"), etag);
  auto changed = anonymous.Get("/", {{"If-None-Match", "\"an-older-version\""}});
  ASSERT_TRUE(changed);
  EXPECT_EQ(changed->status, 200);
}

TEST_F(WebConsoleTest, EveryFileOfWebIsServedAsItIsWithItsContentType) {
  const std::map<std::string, std::string> types = {{".html", "text/html; charset=utf-8"},
                                                    {".js", "text/javascript; charset=utf-8"},
                                                    {".css", "text/css; charset=utf-8"}};
  const std::filesystem::path web = std::filesystem::path(TANDEM_SOURCE_DIR) / "web";
  auto anonymous = client();
  int served = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(web)) {
    if (!entry.is_regular_file()) continue;
    const std::string path = "/" + std::filesystem::relative(entry.path(), web).generic_string();
    auto res = anonymous.Get(path.c_str());
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 200) << path;
    EXPECT_EQ(res->body, read_file(entry.path())) << path;
    EXPECT_EQ(res->get_header_value("Content-Type"), types.at(entry.path().extension().string())) << path;
    EXPECT_EQ(res->get_header_value("Content-Security-Policy"), kCsp) << path;
    EXPECT_FALSE(res->get_header_value("ETag").empty()) << path;
    ++served;
  }
  EXPECT_GE(served, 5);
  // Every module the page imports is one of them.
  const std::string app = anonymous.Get("/assets/app.js")->body;
  const std::regex import_re(R"(from '\./([a-z_]+\.js)')");
  int imports = 0;
  for (std::sregex_iterator it(app.begin(), app.end(), import_re), end; it != end; ++it, ++imports) {
    EXPECT_EQ(anonymous.Get(("/assets/" + (*it)[1].str()).c_str())->status, 200) << (*it)[1];
  }
  EXPECT_GE(imports, 5);
}

TEST_F(WebConsoleTest, NothingButThePageIsOpenUnknownPathsAndTraversalStayClosed) {
  auto anonymous = client();
  for (const char* path : {"/nothing-here.html", "/assets/missing.js", "/assets/../CMakeLists.txt",
                           "/assets/%2e%2e/%2e%2e/CMakeLists.txt", "/../index.html", "/index.html/"}) {
    auto res = anonymous.Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 401) << path;  // not a file of the page: an API request, which needs a key
    EXPECT_EQ(res->body.find("cmake_minimum_required"), std::string::npos) << path;
  }
  auto with_key = client(*user_key_);
  for (const char* path : {"/nothing-here.html", "/assets/../CMakeLists.txt", "/assets/%2e%2e/CMakeLists.txt"}) {
    auto res = with_key.Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 404) << path;
    EXPECT_EQ(res->body.find("cmake_minimum_required"), std::string::npos) << path;
  }
  // The API itself still asks for a key, and a page file cannot be written to.
  for (const char* path : {"/v1/models", "/tandem/v1/usage", "/tandem/v1/keys", "/tandem/v1/kb/documents"}) {
    auto res = anonymous.Get(path);
    ASSERT_TRUE(res) << path;
    EXPECT_EQ(res->status, 401) << path;
  }
  auto posted = anonymous.Post("/index.html", "x", "text/plain");
  ASSERT_TRUE(posted);
  EXPECT_EQ(posted->status, 401);
}

TEST_F(WebConsoleTest, UsageCountsAnAnswerForItsTenantAgainstTheAllCloudBaseline) {
  const json before = usage(*user_key_);
  ASSERT_TRUE(before.is_object());
  EXPECT_EQ(before["tenant"], "acme");
  EXPECT_EQ(before["total"]["answers"], 0);
  EXPECT_TRUE(before["days"].empty());

  auto user = client(*user_key_);
  auto asked = post_json(user, "/v1/chat/completions",
                         {{"model", "tandem/local"},
                          {"messages", {{{"role", "user"}, {"content", "Name a colour."}}}},
                          {"max_tokens", 8},
                          {"temperature", 0}});
  ASSERT_TRUE(asked);
  ASSERT_EQ(asked->status, 200) << asked->body;

  const json after = usage(*user_key_);
  EXPECT_EQ(after["total"]["answers"], 1);
  EXPECT_EQ(after["by_route"]["local"]["answers"], 1);
  EXPECT_GT(after["total"]["tokens"].get<int64_t>(), 0);
  EXPECT_GT(after["total"]["mean_latency_ms"].get<double>(), 0);
  // The baseline prices the same tokens at the cloud's energy per token.
  EXPECT_GT(after["all_cloud"]["energy_wh"].get<double>(), 0);
  EXPECT_DOUBLE_EQ(after["saved"]["energy_wh"].get<double>(),
                   after["all_cloud"]["energy_wh"].get<double>() - after["total"]["energy_wh"].get<double>());
  ASSERT_EQ(after["days"].size(), 1U);
  EXPECT_EQ(after["days"][0]["total"]["answers"], 1);
  EXPECT_EQ(after["days"][0]["by_route"]["local"]["answers"], 1);
  EXPECT_EQ(after["days"][0]["day"].get<std::string>().size(), 10U);  // 2026-11-29

  // An admin sees every tenant, or one; a user only their own.
  EXPECT_TRUE(usage(*admin_key_)["tenant"].is_null());
  EXPECT_EQ(usage(*admin_key_)["total"]["answers"], 1);
  EXPECT_EQ(usage(*admin_key_, "?tenant=acme")["total"]["answers"], 1);
  EXPECT_EQ(usage(*admin_key_, "?tenant=ops")["total"]["answers"], 0);
  auto other = user.Get("/tandem/v1/usage?tenant=ops");
  ASSERT_TRUE(other);
  EXPECT_EQ(other->status, 403);
}

}  // namespace
}  // namespace tandem::testing
