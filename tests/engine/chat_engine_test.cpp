// ChatEngine against the real Gemma 3 270M: determinism, concurrency, limits and errors.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <future>
#include <optional>
#include <thread>

#include "engine/engine.h"
#include "engine/text_stream.h"
#include "support/test_support.h"

namespace tandem::engine {
namespace {

GenerationRequest greedy(const std::string& question, int max_tokens = 24) {
  GenerationRequest r;
  r.messages = {{"user", question}};
  r.sampling.temperature = 0;
  r.sampling.max_tokens = max_tokens;
  return r;
}

class ChatEngineTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ChatEngineOptions options;
    options.model_path = testing::chat_model_path();
    options.context = 4096;
    options.slots = 4;
    options.queue = 8;
    auto loaded = ChatEngine::load(options);
    ASSERT_TRUE(loaded.ok()) << loaded.error().message;
    engine_ = std::move(*loaded).release();
  }
  static void TearDownTestSuite() {
    delete engine_;
    engine_ = nullptr;
  }
  static ChatEngine* engine_;
};
ChatEngine* ChatEngineTest::engine_ = nullptr;

TEST_F(ChatEngineTest, GreedyIsDeterministicAndStreamsTheSameText) {
  auto first = engine_->generate(greedy("Name three colors."));
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_FALSE(first->text.empty());
  EXPECT_GT(first->usage.prompt_tokens, 5);
  EXPECT_EQ(first->usage.completion_tokens, 24);
  EXPECT_EQ(first->finish_reason, FinishReason::kLength);

  std::string streamed;
  int deltas = 0;
  auto second = engine_->generate(greedy("Name three colors."), [&](std::string_view d) {
    streamed += d;
    ++deltas;
    return true;
  });
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(tandem::testing::agree_for_the_first_half(second->text, first->text)) << second->text << "\n"
                                                                                    << first->text;
  EXPECT_EQ(streamed, second->text);
  EXPECT_GT(deltas, 1);
  // The second run reuses the cached prompt prefix of the first.
  EXPECT_GT(second->usage.cached_prompt_tokens, 0);
}

TEST_F(ChatEngineTest, TokenScoresDescribeTheGeneratedTokensWithoutChangingThem) {
  auto plain = engine_->generate(greedy("Name three colors."));
  auto request = greedy("Name three colors.");
  request.sampling.score_tokens = true;
  auto scored = engine_->generate(request);
  ASSERT_TRUE(plain && scored);
  EXPECT_EQ(scored->text, plain->text);
  EXPECT_FALSE(plain->confidence);
  ASSERT_TRUE(scored->confidence);
  EXPECT_EQ(scored->confidence->tokens, scored->usage.completion_tokens);
  EXPECT_LE(scored->confidence->mean_logprob, 0.0);
  EXPECT_LE(scored->confidence->min_logprob, scored->confidence->mean_logprob);
  // Greedy picks the most likely token, so each has probability > 1 / vocabulary size.
  EXPECT_GT(scored->confidence->min_logprob, -std::log(262144.0));
}

// Each concurrent request gets its own answer: the one it gets alone. Not always byte for byte
// (which requests share a batch depends on timing; see closest_answer), so each must agree
// longer with its own solo answer than with any other.
TEST_F(ChatEngineTest, ConcurrentRequestsEachGetTheirOwnSoloAnswer) {
  const std::vector<std::string> questions = {"What is 2+2?", "Write a haiku about rain.", "Say hello in French.",
                                              "What color is the sky?"};
  std::vector<std::string> solo;
  for (const auto& q : questions) {
    auto r = engine_->generate(greedy(q, 20));
    ASSERT_TRUE(r.ok());
    solo.push_back(r->text);
  }
  std::vector<std::future<Result<GenerationResult>>> futures;
  for (const auto& q : questions) {
    futures.push_back(std::async(std::launch::async, [&, q] { return engine_->generate(greedy(q, 20)); }));
  }
  for (size_t i = 0; i < questions.size(); ++i) {
    auto r = futures[i].get();
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(tandem::testing::closest_answer(r->text, solo), i)
        << "question " << i << "\nconcurrent: " << r->text << "\nsolo: " << solo[i];
  }
  EXPECT_EQ(engine_->active_requests(), 0);
}

TEST_F(ChatEngineTest, StopSequenceEndsGeneration) {
  const auto question = "Write two sentences about the sea.";
  auto full = engine_->generate(greedy(question, 40));
  ASSERT_TRUE(full.ok());
  ASSERT_GT(full->text.size(), 20u) << full->text;
  // Stop at a piece of the known greedy answer: the text must end right before it.
  const std::string stop = full->text.substr(12, 3);
  auto request = greedy(question, 40);
  request.sampling.stop = {stop};
  auto stopped = engine_->generate(request);
  ASSERT_TRUE(stopped.ok());
  EXPECT_EQ(stopped->finish_reason, FinishReason::kStop);
  EXPECT_EQ(stopped->text, full->text.substr(0, full->text.find(stop)));
}

TEST_F(ChatEngineTest, CancellingFromTheCallbackFreesTheSlot) {
  int deltas = 0;
  auto r = engine_->generate(greedy("Tell me a long story about a dragon.", 200), [&](std::string_view) {
    return ++deltas < 3;
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(deltas, 3) << "no delta may arrive after the callback said stop";
  EXPECT_EQ(r->finish_reason, FinishReason::kCancelled);
  EXPECT_LT(r->usage.completion_tokens, 200);
  EXPECT_EQ(engine_->active_requests(), 0);
  auto after = engine_->generate(greedy("Hi", 4));
  EXPECT_TRUE(after.ok());
}

TEST_F(ChatEngineTest, CancelFlagFromAnotherThread) {
  auto request = greedy("Tell me a long story about a castle.", 400);
  request.cancel = std::make_shared<std::atomic<bool>>(false);
  auto future = std::async(std::launch::async, [&] { return engine_->generate(request); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  request.cancel->store(true);
  auto r = future.get();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->finish_reason, FinishReason::kCancelled);
}

TEST_F(ChatEngineTest, ChineseOutputStreamsAsValidUtf8) {
  auto request = greedy("用中文介绍一下北京。", 40);
  std::string all;
  auto r = engine_->generate(request, [&](std::string_view d) {
    EXPECT_TRUE(is_valid_utf8(d)) << "delta split a character";
    all += d;
    return true;
  });
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(is_valid_utf8(all));
  EXPECT_EQ(all, r->text);
}

TEST_F(ChatEngineTest, ContextOverflowIsAnErrorWithTokenCounts) {
  std::string long_text;
  for (int i = 0; i < 800; ++i) long_text += "word" + std::to_string(i) + " ";
  auto r = engine_->generate(greedy(long_text, 200));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kContextOverflow);
  EXPECT_NE(r.error().message.find("context window per request is 1024"), std::string::npos) << r.error().message;
}

TEST_F(ChatEngineTest, TruncatePolicyDropsOldestTurnsAndReportsIt) {
  std::string filler;
  for (int i = 0; i < 300; ++i) filler += "item" + std::to_string(i) + " ";
  GenerationRequest r = greedy("What is 1+1?", 16);
  r.messages = {{"system", "Be brief."}, {"user", filler}, {"assistant", "ok"}, {"user", filler},
                {"assistant", "ok"}, {"user", "What is 1+1?"}};
  r.overflow = OverflowPolicy::kTruncate;
  auto result = engine_->generate(r);
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_GT(result->usage.truncated_messages, 0);
  EXPECT_LE(result->usage.prompt_tokens + 16, 1024);
}

TEST_F(ChatEngineTest, RejectsInvalidRequests) {
  GenerationRequest empty;
  auto r = engine_->generate(empty);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);

  auto bad = greedy("hi");
  bad.sampling.max_tokens = 0;
  EXPECT_EQ(engine_->generate(bad).error().code, ErrorCode::kInvalidArgument);
  bad = greedy("hi");
  bad.sampling.top_p = 1.5f;
  EXPECT_EQ(engine_->generate(bad).error().code, ErrorCode::kInvalidArgument);
  bad = greedy("hi");
  bad.lora = "no-such-adapter";
  EXPECT_EQ(engine_->generate(bad).error().code, ErrorCode::kNotFound);
}

TEST_F(ChatEngineTest, SeededSamplingIsReproducible) {
  // Same seed and same cache state give the same sample. (A prompt served from the prefix cache
  // decodes fewer tokens at once, and batch-size-dependent kernels may shift the logits slightly.)
  auto request = greedy("Invent a name for a cat.", 16);
  request.sampling.temperature = 1.0f;
  request.sampling.seed = 42;
  auto unrelated = greedy("Something else entirely.", 2);
  ASSERT_TRUE(engine_->generate(unrelated).ok());
  auto a = engine_->generate(request);
  ASSERT_TRUE(engine_->generate(unrelated).ok());
  auto b = engine_->generate(request);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->text, b->text);
  request.sampling.seed = 7;
  ASSERT_TRUE(engine_->generate(unrelated).ok());
  auto c = engine_->generate(request);
  ASSERT_TRUE(c.ok());
  EXPECT_NE(c->text, a->text);
}

TEST(ChatEngineLoad, MissingFileIsNotFound) {
  ChatEngineOptions options;
  options.model_path = "/nonexistent/model.gguf";
  auto r = ChatEngine::load(options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kNotFound);
}

TEST(ChatEngineLoad, APlacementOnAnUnknownDeviceIsInvalidArgument) {
  ChatEngineOptions options;
  options.model_path = testing::chat_model_path();
  options.placement.devices = {"NOPE0"};
  options.placement.gpu_layers = 5;
  auto unknown = ChatEngine::load(options);
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(unknown.error().message.find("no device NOPE0"), std::string::npos) << unknown.error().message;

  options.placement.devices = {"CPU"};
  options.placement.tensor_split = {1, 1};
  auto mismatched = ChatEngine::load(options);
  ASSERT_FALSE(mismatched.ok());
  EXPECT_NE(mismatched.error().message.find("one ratio per device"), std::string::npos);
}

TEST(ChatEngineLoad, TruncatedAndForeignFilesAreDataLoss) {
  testing::TempDir dir;
  {
    std::ifstream in(testing::chat_model_path(), std::ios::binary);
    std::vector<char> head(4 << 20);
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    std::ofstream(dir.file("truncated.gguf"), std::ios::binary).write(head.data(), in.gcount());
    std::ofstream(dir.file("text.gguf")) << "this is not a model";
  }
  for (const char* name : {"truncated.gguf", "text.gguf"}) {
    ChatEngineOptions options;
    options.model_path = dir.file(name);
    auto r = ChatEngine::load(options);
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_EQ(r.error().code, ErrorCode::kDataLoss) << name;
    EXPECT_NE(r.error().message.find(name), std::string::npos);
  }
}

std::unique_ptr<ChatEngine> load_small_engine(int32_t slots, int32_t queue) {
  ChatEngineOptions options;
  options.model_path = testing::chat_model_path();
  options.context = 1024;
  options.slots = slots;
  options.queue = queue;
  auto engine = ChatEngine::load(options);
  EXPECT_TRUE(engine.ok()) << engine.error().message;
  return engine.ok() ? std::move(*engine) : nullptr;
}

// Starts a request and returns once its first delta arrived, so it certainly holds a slot.
std::future<Result<GenerationResult>> start_running(ChatEngine& engine, const GenerationRequest& request) {
  auto started = std::make_shared<std::promise<void>>();
  auto running = std::async(std::launch::async, [&engine, request, started] {
    bool signalled = false;
    return engine.generate(request, [&](std::string_view) {
      if (!signalled) started->set_value();
      signalled = true;
      return true;
    });
  });
  started->get_future().wait();
  return running;
}

TEST(ChatEngineQueue, FullQueueIsResourceExhausted) {
  auto engine = load_small_engine(1, 0);
  ASSERT_NE(engine, nullptr);
  auto running = start_running(*engine, greedy("Tell me a story.", 64));
  auto rejected = engine->generate(greedy("Hi", 4));
  ASSERT_FALSE(rejected.ok());
  EXPECT_EQ(rejected.error().code, ErrorCode::kResourceExhausted);
  EXPECT_TRUE(running.get().ok());
}

TEST(ChatEngineDrain, RefusesNewWorkAndFinishesRunning) {
  auto engine = load_small_engine(2, 8);
  ASSERT_NE(engine, nullptr);
  auto running = start_running(*engine, greedy("Tell me a story.", 32));
  // The deadline only bounds the wait; drain returns as soon as the running request is done.
  auto drainer = std::async(std::launch::async, [&] { engine->drain(std::chrono::minutes(10)); });
  // Requests are refused from the moment drain has begun (tiny ones may slip in before that).
  std::optional<Error> refusal;
  for (int attempt = 0; attempt < 1000 && !refusal; ++attempt) {
    auto r = engine->generate(greedy("Hi", 1));
    if (!r.ok()) refusal = r.error();
  }
  ASSERT_TRUE(refusal.has_value()) << "drain never began";
  EXPECT_EQ(refusal->code, ErrorCode::kUnavailable) << refusal->message;
  auto finished = running.get();
  ASSERT_TRUE(finished.ok());
  EXPECT_EQ(finished->finish_reason, FinishReason::kLength);
  drainer.get();
}

}  // namespace
}  // namespace tandem::engine
