// The knowledge base over HTTP on a real `tandem serve`: uploads (raw and multipart), listing,
// search, grounded chat answers with citations, deletion, and bad input refused with clear errors
// that lose nothing already stored.
#include <gtest/gtest.h>

#include "support/server_process.h"
#include "support/test_support.h"

namespace tandem::testing {
namespace {

using nlohmann::json;

constexpr const char* kLease =
    "# Lease\n\nThe lease of the flat at 12 Elm Street ends on 31 March 2027.\n\n"
    "# Pets\n\nCats are allowed; dogs need the landlord's written consent.\n";

class KnowledgeApiTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto server = ServerProcess::start({"--model", chat_model_path(), "--set", "router.intent_model=" + intent_model_dir()});
    ASSERT_TRUE(server) << server.error().message;
    server_ = server->release();
  }
  static void TearDownTestSuite() { delete server_; }
  void SetUp() override { ASSERT_NE(server_, nullptr); }

  static httplib::Client client() { return loopback_client(server_->port()); }

  static json body_of(const httplib::Result& res, int status) {
    EXPECT_TRUE(res);
    if (!res) return {};
    EXPECT_EQ(res->status, status) << res->body;
    return json::parse(res->body, nullptr, false);
  }

  static ServerProcess* server_;
};

ServerProcess* KnowledgeApiTest::server_ = nullptr;

TEST_F(KnowledgeApiTest, UploadSearchAnswerWithCitationsAndDelete) {
  auto c = client();
  auto added = body_of(c.Post("/tandem/v1/kb/documents?collection=home&name=lease.md", kLease, "text/markdown"), 201);
  ASSERT_TRUE(added.contains("document")) << added.dump();
  const int64_t lease_id = added["document"]["id"];
  EXPECT_EQ(added["document"]["chunks"], 2);

  httplib::MultipartFormDataItems form = {{"file", "本合同自2025年1月1日起生效，有效期三年。\n", "合同.txt", "text/plain"},
                                          {"collection", "home", "", ""}};
  auto multipart = body_of(c.Post("/tandem/v1/kb/documents", form), 201);
  EXPECT_EQ(multipart["document"]["path"], "合同.txt");
  EXPECT_EQ(multipart["document"]["collection"], "home");

  auto listed = body_of(c.Get("/tandem/v1/kb/documents?collection=home"), 200);
  EXPECT_EQ(listed["data"].size(), 2u);
  auto collections = body_of(c.Get("/tandem/v1/kb/collections"), 200);
  ASSERT_EQ(collections["data"].size(), 1u);
  EXPECT_EQ(collections["data"][0]["name"], "home");

  auto found = body_of(post_json(c, "/tandem/v1/kb/search", {{"query", "when does the lease end"}, {"k", 2}}), 200);
  ASSERT_FALSE(found["hits"].empty());
  EXPECT_EQ(found["hits"][0]["path"], "lease.md");
  EXPECT_NE(found["hits"][0]["text"].get<std::string>().find("31 March 2027"), std::string::npos);

  const json chat = {{"model", "tandem/auto"},
                     {"messages", {{{"role", "user"}, {"content", "When does the lease of the flat end?"}}}},
                     {"max_tokens", 24},
                     {"temperature", 0},
                     {"tandem", {{"knowledge", "always"}, {"collections", {"home"}}}}};
  auto res = post_json(c, "/v1/chat/completions", chat);
  auto answer = body_of(res, 200);
  EXPECT_EQ(res->get_header_value("X-Tandem-Route"), "knowledge");
  const json& knowledge = answer["tandem"]["knowledge"];
  EXPECT_TRUE(knowledge["found"].get<bool>());
  ASSERT_FALSE(knowledge["citations"].empty());
  EXPECT_EQ(knowledge["citations"][0]["number"], 1);
  EXPECT_EQ(knowledge["citations"][0]["path"], "lease.md");
  EXPECT_EQ(answer["tandem"]["route"], "knowledge");

  auto deleted = body_of(c.Delete(("/tandem/v1/kb/documents/" + std::to_string(lease_id)).c_str()), 200);
  EXPECT_TRUE(deleted["deleted"].get<bool>());
  body_of(c.Get(("/tandem/v1/kb/documents/" + std::to_string(lease_id)).c_str()), 404);
  body_of(c.Delete(("/tandem/v1/kb/documents/" + std::to_string(lease_id)).c_str()), 404);
  auto after = body_of(post_json(c, "/tandem/v1/kb/search", {{"query", "lease flat Elm Street"}, {"mode", "bm25"}}), 200);
  for (const auto& hit : after["hits"]) EXPECT_NE(hit["path"], "lease.md");
}

TEST_F(KnowledgeApiTest, BadInputIsRefusedClearlyAndLosesNothing) {
  auto c = client();
  body_of(c.Post("/tandem/v1/kb/documents?collection=keep&name=keep.txt", "Keep this sentence safe.\n", "text/plain"), 201);

  auto broken = body_of(c.Post("/tandem/v1/kb/documents?collection=keep&name=broken.pdf", "%PDF-1.7\n garbage", "application/pdf"), 400);
  EXPECT_NE(broken["error"]["message"].get<std::string>().find("broken.pdf"), std::string::npos) << broken.dump();
  body_of(c.Post("/tandem/v1/kb/documents?collection=keep&name=x.exe", "MZ", "application/octet-stream"), 400);
  body_of(c.Post("/tandem/v1/kb/documents?collection=keep", "no name", "text/plain"), 400);
  body_of(c.Post("/tandem/v1/kb/search", "{not json", "application/json"), 400);
  body_of(post_json(c, "/tandem/v1/kb/search", {{"query", 5}}), 400);
  body_of(post_json(c, "/tandem/v1/kb/search", {{"query", "x"}, {"mode", "fuzzy"}}), 400);
  body_of(post_json(c, "/tandem/v1/kb/search", {{"query", "x"}, {"k", 0}}), 400);
  auto unknown = body_of(post_json(c, "/tandem/v1/kb/search", {{"query", "x"}, {"collections", {"nope"}}}), 404);
  EXPECT_EQ(unknown["error"]["param"], "collections");
  EXPECT_NE(unknown["error"]["message"].get<std::string>().find("'keep'"), std::string::npos) << unknown.dump();
  auto unknown_in_chat = body_of(post_json(c, "/v1/chat/completions",
                                           {{"model", "tandem/local"},
                                            {"messages", {{{"role", "user"}, {"content", "hi"}}}},
                                            {"tandem", {{"knowledge", "always"}, {"collections", {"nope"}}}}}),
                                 404);
  EXPECT_EQ(unknown_in_chat["error"]["param"], "tandem.collections");
  EXPECT_EQ(unknown_in_chat["error"]["code"], "not_found");
  body_of(post_json(c, "/v1/chat/completions",
                    {{"model", "tandem/auto"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}, {"tandem", {{"knowledge", "sometimes"}}}}),
          400);

  auto kept = body_of(c.Get("/tandem/v1/kb/documents?collection=keep"), 200);
  ASSERT_EQ(kept["data"].size(), 1u);
  EXPECT_EQ(kept["data"][0]["path"], "keep.txt");
}

TEST_F(KnowledgeApiTest, NoAnswerInTheDocumentsIsSaid) {
  auto c = client();
  body_of(c.Post("/tandem/v1/kb/documents?collection=garden&name=garden.txt",
                 "Tomatoes need six hours of sun a day and regular watering.\n", "text/plain"),
          201);
  // The local model, asked to use the documents, is grounded just as tandem/auto is.
  const json chat = {{"model", "tandem/local"},
                     {"messages", {{{"role", "user"}, {"content", "What is the boiling point of liquid nitrogen?"}}}},
                     {"max_tokens", 24},
                     {"tandem", {{"knowledge", "always"}, {"collections", {"garden"}}}}};
  auto res = post_json(c, "/v1/chat/completions", chat);
  auto answer = body_of(res, 200);
  EXPECT_EQ(res->get_header_value("X-Tandem-Route"), "knowledge");
  EXPECT_FALSE(answer["tandem"]["knowledge"]["found"].get<bool>());
  EXPECT_EQ(answer["choices"][0]["message"]["content"], "I could not find the answer to this in your documents.");
}

}  // namespace
}  // namespace tandem::testing
