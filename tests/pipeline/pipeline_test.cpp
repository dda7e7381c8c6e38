// The pipeline on the real local engine and the real default intent router: decisions with
// reasons, privacy first, cost estimates, and the local fallback when the cloud is down (a
// RemoteProvider aimed at a loopback port nobody listens on).
#include <gtest/gtest.h>

#include "pipeline/local_models.h"
#include "pipeline/pipeline.h"
#include "providers/llama_server.h"
#include "providers/local_provider.h"
#include "providers/remote_provider.h"
#include "support/test_support.h"

namespace tandem::pipeline {
namespace {

using router::RouteMode;
using router::RouteTarget;

class PipelineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    auto loaded = load_local_models({.context = 1024, .embedding_truncate_to = 128});
    ASSERT_TRUE(loaded) << loaded.error().message;
    models_ = new LocalModels(std::move(*loaded));
  }
  static void TearDownTestSuite() { delete models_; }

  // A cloud that is down: connection refused on every attempt.
  static std::shared_ptr<providers::Provider> dead_cloud(int32_t circuit_failures = 5) {
    auto cloud = providers::RemoteProvider::create(
        {.base_url = "http://127.0.0.1:" + std::to_string(tandem::testing::unused_loopback_port()) + "/v1",
         .model = "big-model",
         .input_usd_per_mtok = 1.0,
         .output_usd_per_mtok = 2.0,
         .max_retries = 0,
         .circuit = {.failure_threshold = circuit_failures}});
    EXPECT_TRUE(cloud) << cloud.error().message;
    return std::shared_ptr<providers::Provider>(std::move(*cloud));
  }

  static PipelineParts parts(std::shared_ptr<providers::Provider> cloud) {
    return {.local = std::make_shared<providers::LocalProvider>(*models_->engine),
            .cloud = std::move(cloud),
            .router = models_->router};
  }

  static providers::ChatRequest ask(const std::string& text, int32_t max_tokens = 8) {
    providers::ChatRequest request;
    request.messages = {{"user", text}};
    request.sampling.temperature = 0;
    request.sampling.max_tokens = max_tokens;
    return request;
  }

  static LocalModels* models_;
};

LocalModels* PipelineTest::models_ = nullptr;

TEST_F(PipelineTest, SensitiveRequestsStayLocalWithTheirReason) {
  Pipeline pipeline(parts(dead_cloud()));
  auto route = pipeline.route(ask("My blood test shows high cholesterol and my bank PIN is 4821. What should I do?"),
                              RouteMode::kAuto);
  ASSERT_TRUE(route) << route.error().to_string();
  EXPECT_EQ(route->decision.target, RouteTarget::kLocal);
  ASSERT_FALSE(route->decision.reasons.empty());
  EXPECT_NE(route->decision.reasons.back().find("stays on the device"), std::string::npos)
      << route->decision.reasons.back();
  EXPECT_FALSE(route->decision.intent.empty());
  EXPECT_GT(route->router_ms, 0.0);
}

TEST_F(PipelineTest, CloudCostIsEstimatedFromItsPricesAndTheRequestSize) {
  Pipeline pipeline(parts(dead_cloud()));
  const auto request = ask(std::string(400, 'a'), 100);  // ~100 prompt tokens at 4 bytes each
  auto route = pipeline.route(request, RouteMode::kLocal);
  ASSERT_TRUE(route);
  EXPECT_EQ(route->estimated_prompt_tokens, 100);
  EXPECT_DOUBLE_EQ(route->estimated_cloud_cost_usd, (100 * 1.0 + 100 * 2.0) / 1e6);
  EXPECT_EQ(route->decision.reasons, std::vector<std::string>{"tandem/local requested"});
}

TEST_F(PipelineTest, ForcedCloudNeedsACloud) {
  Pipeline without_cloud(parts(nullptr));
  auto route = without_cloud.route(ask("Hi"), RouteMode::kCloud);
  ASSERT_FALSE(route);
  EXPECT_EQ(route.error().code, ErrorCode::kNotFound);
  auto automatic = without_cloud.route(ask("Prove that there are infinitely many primes."), RouteMode::kAuto);
  ASSERT_TRUE(automatic);
  EXPECT_EQ(automatic->decision.target, RouteTarget::kLocal);
}

TEST_F(PipelineTest, ADeadCloudFallsBackToTheLocalModelAndSaysSo) {
  Pipeline pipeline(parts(dead_cloud()));
  auto route = pipeline.route(ask("Hello"), RouteMode::kCloud);
  ASSERT_TRUE(route);
  ASSERT_EQ(route->decision.target, RouteTarget::kCloud);

  auto answer = pipeline.answer(ask("Hello"), *route, nullptr);
  ASSERT_TRUE(answer) << answer.error().to_string();
  EXPECT_TRUE(answer->fallback);
  EXPECT_NE(answer->fallback_reason.find("the cloud failed"), std::string::npos) << answer->fallback_reason;
  EXPECT_EQ(answer->result.provider, "local/" + models_->engine->info().name);
  EXPECT_FALSE(answer->result.text.empty());

  std::string streamed;
  const providers::DeltaCallback collect = [&](std::string_view delta) {
    streamed += delta;
    return true;
  };
  auto stream = pipeline.answer(ask("Hello"), *route, &collect);
  ASSERT_TRUE(stream) << stream.error().to_string();
  EXPECT_TRUE(stream->fallback);
  EXPECT_EQ(streamed, stream->result.text);
  EXPECT_TRUE(tandem::testing::agree_for_the_first_half(stream->result.text, answer->result.text))
      << stream->result.text << "\n"
      << answer->result.text;  // greedy: the same local answer
}

// What goes to the cloud is pseudonymized from route()'s scan: a request it did not scan never
// leaves (the local model answers instead).
TEST_F(PipelineTest, ARequestOtherThanTheRoutedOneIsNeverSentToTheCloud) {
  Pipeline pipeline(parts(dead_cloud()));
  auto route = pipeline.route(ask("Hello"), RouteMode::kCloud);
  ASSERT_TRUE(route);
  ASSERT_EQ(route->privacy.size(), 1U);
  auto longer = ask("Hello");
  longer.messages.push_back({.role = "user", .content = "Mail jane.doe@example.com my SSN 078-05-1120"});
  auto same_length = ask("Mail jane.doe@example.com my SSN 078-05-1120");
  for (const auto& other : {longer, same_length}) {
    auto answer = pipeline.answer(other, *route, nullptr);
    ASSERT_TRUE(answer) << answer.error().to_string();
    EXPECT_TRUE(answer->fallback);
    EXPECT_FALSE(answer->egress.sent);
    EXPECT_NE(answer->fallback_reason.find("not the one its route was made for"), std::string::npos)
        << answer->fallback_reason;
  }
}

TEST_F(PipelineTest, AnOpenCircuitKeepsAutoLocalAndSaysWhy) {
  auto cloud = dead_cloud(/*circuit_failures=*/1);
  ASSERT_FALSE(cloud->complete(ask("Hi")));  // one failure opens the circuit
  EXPECT_FALSE(cloud->available());
  Pipeline pipeline(parts(cloud));
  auto route = pipeline.route(ask("Write a Python function that reverses a linked list."), RouteMode::kAuto);
  ASSERT_TRUE(route);
  EXPECT_EQ(route->decision.target, RouteTarget::kLocal);
  EXPECT_NE(route->decision.reasons.back().find("circuit open"), std::string::npos) << route->decision.reasons.back();
}

TEST_F(PipelineTest, CascadeKeepsAConfidentLocalAnswerAndEscalatesAnUnsureOne) {
  tandem::testing::TempDir dir;
  const auto outcomes = dir.file("router/cascade_outcomes.jsonl");
  auto lenient = parts(dead_cloud());
  lenient.policy.cascade_min_mean_logprob = -100;  // any local answer stands
  lenient.cascade_outcomes_path = outcomes;
  Pipeline keep(lenient);
  auto route = keep.route(ask("What is the capital of France?"), RouteMode::kCascade);
  ASSERT_TRUE(route);
  ASSERT_TRUE(route->decision.cascade);
  auto kept = keep.answer(ask("What is the capital of France?"), *route, nullptr);
  ASSERT_TRUE(kept) << kept.error().to_string();
  ASSERT_EQ(kept->attempts.size(), 1U);
  EXPECT_TRUE(kept->attempts[0].accepted);
  ASSERT_TRUE(kept->attempts[0].confidence);
  EXPECT_EQ(kept->answered_by, RouteTarget::kLocal);

  auto strict = parts(dead_cloud());
  strict.policy.cascade_min_mean_logprob = 0;  // no answer is that sure: always escalate
  strict.cascade_outcomes_path = outcomes;
  Pipeline escalate(strict);
  std::string streamed;
  const providers::DeltaCallback collect = [&](std::string_view delta) {
    streamed += delta;
    return true;
  };
  auto escalated = escalate.answer(ask("What is the capital of France?"), *route, &collect);
  ASSERT_TRUE(escalated) << escalated.error().to_string();
  ASSERT_EQ(escalated->attempts.size(), 2U);
  EXPECT_FALSE(escalated->attempts[0].accepted);
  EXPECT_EQ(escalated->attempts[1].target, RouteTarget::kCloud);
  EXPECT_FALSE(escalated->attempts[1].error.empty());  // the cloud is down...
  EXPECT_TRUE(escalated->fallback);                    // ...so the local answer stands
  EXPECT_EQ(streamed, escalated->result.text);         // held back, then sent once accepted
  EXPECT_TRUE(tandem::testing::agree_for_the_first_half(escalated->result.text, kept->result.text))
      << escalated->result.text << "\n"
      << kept->result.text;

  // Each verdict is a routing example: kept, then escalated (the cloud that failed does not change
  // what the cascade thought of the local answer).
  auto learned = router::read_routing_examples(outcomes);
  ASSERT_TRUE(learned) << learned.error().message;
  ASSERT_EQ(learned->size(), 2U);
  EXPECT_EQ((*learned)[0].prompt, "What is the capital of France?");
  EXPECT_TRUE((*learned)[0].weak_correct);
  EXPECT_FALSE((*learned)[1].weak_correct);
  EXPECT_TRUE((*learned)[1].strong_correct);
}

TEST_F(PipelineTest, AVerdictThatCannotBeKeptStillAnswersAndSaysSo) {
  auto unwritable = parts(dead_cloud());
  unwritable.policy.cascade_min_mean_logprob = -100;
  unwritable.cascade_outcomes_path = "/proc/tandem-cannot-write/cascade_outcomes.jsonl";
  Pipeline pipeline(unwritable);
  auto route = pipeline.route(ask("Name a colour."), RouteMode::kCascade);
  ASSERT_TRUE(route);
  auto answer = pipeline.answer(ask("Name a colour."), *route, nullptr);
  ASSERT_TRUE(answer) << answer.error().to_string();
  EXPECT_EQ(answer->answered_by, RouteTarget::kLocal);
  EXPECT_FALSE(answer->result.text.empty());
  ASSERT_FALSE(answer->route.decision.reasons.empty());
  EXPECT_NE(answer->route.decision.reasons.back().find("the cascade's verdict was not kept: cannot append"),
            std::string::npos)
      << answer->route.decision.reasons.back();
}

}  // namespace
}  // namespace tandem::pipeline
