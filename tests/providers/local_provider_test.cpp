// LocalProvider over the real engine, side by side with RemoteProvider over llama-server running
// the same model: the pipeline must see the same shape whichever side answered.
#include "providers/local_provider.h"

#include <gtest/gtest.h>

#include "providers/llama_server.h"
#include "providers/provider_contract.h"
#include "providers/remote_provider.h"
#include "support/test_support.h"

namespace tandem::providers {
namespace {

ChatRequest greedy(const std::string& question, int32_t max_tokens = 12) {
  ChatRequest request;
  request.messages = {{"system", "You are brief."}, {"user", question}};
  request.sampling.temperature = 0;
  request.sampling.max_tokens = max_tokens;
  return request;
}

class LocalProviderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    engine::ChatEngineOptions options;
    options.model_path = testing::chat_model_path();
    options.context = 2048;
    options.slots = 2;
    options.threads = 2;
    auto engine = engine::ChatEngine::load(options);
    ASSERT_TRUE(engine) << engine.error().message;
    engine_ = std::move(*engine).release();
  }
  static void TearDownTestSuite() {
    delete engine_;
    engine_ = nullptr;
  }
  void SetUp() override { ASSERT_NE(engine_, nullptr); }

  static engine::ChatEngine* engine_;
};
engine::ChatEngine* LocalProviderTest::engine_ = nullptr;

TEST_F(LocalProviderTest, StreamsTheSameTextAsItCompletes) {
  LocalProvider local(*engine_);
  EXPECT_EQ(local.kind(), ProviderKind::kLocal);
  EXPECT_EQ(local.name(), "local/gemma-3-270m-q4_k_m");

  auto whole = local.complete(greedy("Name three colors."));
  ASSERT_TRUE(whole) << whole.error().message;
  std::string joined;
  auto streamed = local.stream(greedy("Name three colors."), [&](std::string_view delta) {
    joined += delta;
    return true;
  });
  ASSERT_TRUE(streamed) << streamed.error().message;
  EXPECT_EQ(streamed->text, whole->text);
  EXPECT_EQ(joined, whole->text);
  ASSERT_TRUE(whole->usage.has_value());
  EXPECT_EQ(whole->usage->completion_tokens, 12);
  EXPECT_EQ(whole->cost_usd, 0);
  EXPECT_EQ(whole->attempts, 1);
}

TEST_F(LocalProviderTest, CancellationMatchesTheRemoteContract) {
  LocalProvider local(*engine_);
  expect_cancellation_contract(local);
}

TEST_F(LocalProviderTest, LocalAndRemoteGiveTheSameAnswer) {
  if (!testing::llama_server_available()) GTEST_SKIP() << "no llama-server at " << testing::llama_server_binary();
  auto server = testing::LlamaServer::start();
  ASSERT_TRUE(server) << server.error().message;
  auto remote = RemoteProvider::create({.name = "cloud", .base_url = (*server)->base_url(), .model = "gemma"});
  ASSERT_TRUE(remote) << remote.error().message;
  LocalProvider local(*engine_);

  for (Provider* provider : std::vector<Provider*>{&local, remote->get()}) {
    SCOPED_TRACE(provider->name());
    auto empty = provider->complete(ChatRequest{});
    ASSERT_FALSE(empty);
    EXPECT_EQ(empty.error().code, ErrorCode::kInvalidArgument);

    std::string joined;
    auto result = provider->stream(greedy("What is the capital of France?"), [&](std::string_view delta) {
      joined += delta;
      return true;
    });
    ASSERT_TRUE(result) << result.error().message;
    EXPECT_EQ(result->provider, provider->name());
    EXPECT_FALSE(result->model.empty());
    EXPECT_FALSE(result->text.empty());
    EXPECT_EQ(joined, result->text);
    EXPECT_NE(result->finish_reason, FinishReason::kCancelled);
    ASSERT_TRUE(result->usage.has_value());
    EXPECT_GT(result->usage->completion_tokens, 0);
    EXPECT_LE(result->usage->completion_tokens, 12);
    EXPECT_EQ(result->attempts, 1);
    EXPECT_GT(result->time_to_first_token_ms, 0);
    EXPECT_GE(result->elapsed_ms, result->time_to_first_token_ms);
  }

  // Same model, template, tokenizer and KV layout: the same prompt cost and the same greedy text.
  auto local_answer = local.complete(greedy("What is the capital of France?"));
  auto remote_answer = (*remote)->complete(greedy("What is the capital of France?"));
  ASSERT_TRUE(local_answer && remote_answer);
  EXPECT_EQ(local_answer->usage->prompt_tokens, remote_answer->usage->prompt_tokens);
  EXPECT_EQ(local_answer->usage->completion_tokens, remote_answer->usage->completion_tokens);
  EXPECT_EQ(local_answer->finish_reason, remote_answer->finish_reason);
  EXPECT_EQ(local_answer->text, remote_answer->text);
}

}  // namespace
}  // namespace tandem::providers
