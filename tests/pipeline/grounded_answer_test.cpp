// Grounded answers through the pipeline, on the real local model, the real default router and a
// real knowledge base: questions about the user's documents are answered locally from retrieved
// passages with citations, and honestly refused when the documents hold no answer.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "knowledge/knowledge_base.h"
#include "pipeline/local_models.h"
#include "pipeline/pipeline.h"
#include "providers/local_provider.h"
#include "support/test_support.h"

namespace tandem::pipeline {
namespace {

using router::RouteMode;
using router::RouteTarget;

class GroundedAnswerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto loaded = load_local_models({.context = 2048});
    ASSERT_TRUE(loaded) << loaded.error().message;
    models_ = new LocalModels(std::move(*loaded));
  }
  static void TearDownTestSuite() { delete models_; }

  void SetUp() override {
    auto kb = knowledge::KnowledgeBase::open({.dir = dir_.file("kb")}, *models_->embedder);
    ASSERT_TRUE(kb) << kb.error().message;
    kb_ = std::move(*kb);
    std::filesystem::create_directories(dir_.path() / "docs");
    std::ofstream(dir_.path() / "docs" / "lease.md")
        << "# Lease\n\nThe lease of the flat at 12 Elm Street ends on 31 March 2027.\n\n"
           "# Pets\n\nCats are allowed; dogs need the landlord's written consent.\n";
    ASSERT_TRUE(kb_->add({(dir_.path() / "docs").string()}, {.collection = "home"}));
  }

  std::unique_ptr<Pipeline> pipeline() {
    return std::make_unique<Pipeline>(
        PipelineParts{.local = std::make_shared<providers::LocalProvider>(*models_->engine),
                      .router = models_->router,
                      .knowledge = kb_});
  }

  static providers::ChatRequest ask(const std::string& text) {
    providers::ChatRequest request;
    request.messages = {{"user", text}};
    request.sampling.temperature = 0;
    request.sampling.max_tokens = 48;
    return request;
  }

  static LocalModels* models_;
  tandem::testing::TempDir dir_;
  std::shared_ptr<knowledge::KnowledgeBase> kb_;
};

LocalModels* GroundedAnswerTest::models_ = nullptr;

TEST_F(GroundedAnswerTest, AQuestionAboutMyDocumentsIsAnsweredFromThemWithCitations) {
  auto p = pipeline();
  const auto request = ask("What does my lease document say about when the lease ends?");
  auto route = p->route(request, RouteMode::kAuto);
  ASSERT_TRUE(route) << route.error().message;
  EXPECT_EQ(route->decision.intent, "documents");
  ASSERT_TRUE(route->grounded);
  ASSERT_TRUE(route->grounded->found);
  EXPECT_EQ(route->decision.target, RouteTarget::kLocal);
  ASSERT_FALSE(route->grounded->citations.empty());
  const auto& first = route->grounded->citations.front();
  EXPECT_EQ(first.number, 1);
  EXPECT_TRUE(first.path.ends_with("lease.md"));
  EXPECT_NE(first.snippet.find("31 March 2027"), std::string::npos);
  // The passage reaches the model: the prompt it answers holds it.
  EXPECT_NE(route->grounded->messages.front().content.find("31 March 2027"), std::string::npos);

  std::string streamed;
  const providers::DeltaCallback collect = [&](std::string_view delta) {
    streamed += delta;
    return true;
  };
  auto answer = p->answer(request, *route, &collect);
  ASSERT_TRUE(answer) << answer.error().message;
  EXPECT_EQ(answer->answered_by, RouteTarget::kLocal);
  EXPECT_FALSE(answer->result.text.empty());
  EXPECT_EQ(streamed, answer->result.text);
}

TEST_F(GroundedAnswerTest, NoAnswerInTheDocumentsIsSaidNotInvented) {
  auto p = pipeline();
  const auto request = ask("What is the boiling point of liquid nitrogen in kelvin?");
  auto route = p->route(request, RouteMode::kAuto, {.knowledge = KnowledgeUse::kAlways});
  ASSERT_TRUE(route) << route.error().message;
  ASSERT_TRUE(route->grounded);
  EXPECT_FALSE(route->grounded->found);
  auto answer = p->answer(request, *route, nullptr);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->result.text, "I could not find the answer to this in your documents.");
  EXPECT_EQ(answer->result.provider, "knowledge");

  auto chinese = p->route(ask("液氮的沸点是多少开尔文？"), RouteMode::kAuto, {.knowledge = KnowledgeUse::kAlways});
  ASSERT_TRUE(chinese && chinese->grounded);
  EXPECT_FALSE(chinese->grounded->found);
  EXPECT_EQ(chinese->grounded->not_found_answer, "在你的文档中没有找到这个问题的答案。");
}

TEST_F(GroundedAnswerTest, OtherQuestionsAndNeverAreNotGrounded) {
  auto p = pipeline();
  auto code = p->route(ask("Write a Python function that reverses a string."), RouteMode::kAuto);
  ASSERT_TRUE(code);
  EXPECT_NE(code->decision.intent, "documents");
  EXPECT_FALSE(code->grounded);
  auto never = p->route(ask("What does my lease document say about pets?"), RouteMode::kAuto,
                        {.knowledge = KnowledgeUse::kNever});
  ASSERT_TRUE(never);
  EXPECT_FALSE(never->grounded);
}

TEST_F(GroundedAnswerTest, UnknownCollectionsAndAMissingBaseAreErrors) {
  auto p = pipeline();
  auto unknown =
      p->route(ask("lease end"), RouteMode::kAuto, {.knowledge = KnowledgeUse::kAlways, .collections = {"work"}});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);
  Pipeline without({.local = std::make_shared<providers::LocalProvider>(*models_->engine), .router = models_->router});
  auto none = without.route(ask("lease end"), RouteMode::kAuto, {.knowledge = KnowledgeUse::kAlways});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace tandem::pipeline
