// The HTTP server in process on loopback, over scripted engines: routing, limits, error mapping,
// streaming, cancellation, deadlines and drain, without a model.
#include "server/server.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <condition_variable>
#include <future>
#include <thread>

#include "support/server_process.h"

namespace tandem::server {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using testing::loopback_client;
using testing::post_json;

// Emits "w0 w1 ..." one word per `step` up to max_tokens; honours the cancel flag and drain.
class ScriptedChatEngine final : public engine::ChatEngine {
 public:
  std::chrono::milliseconds step{1};
  std::optional<Error> failure;  // returned at once instead of generating

  Result<engine::GenerationResult> generate(const engine::GenerationRequest& request,
                                            const engine::DeltaCallback& on_delta) override {
    if (failure) return *failure;
    {
      std::lock_guard lock(mutex_);
      if (draining_) return make_error(ErrorCode::kUnavailable, "the engine is shutting down");
      ++active_;
    }
    engine::GenerationResult result;
    result.finish_reason = engine::FinishReason::kLength;
    for (int i = 0; i < request.sampling.max_tokens; ++i) {
      if (request.cancel->load() || cancel_all_) {
        result.finish_reason = engine::FinishReason::kCancelled;
        break;
      }
      std::this_thread::sleep_for(step);
      const std::string word = fmt::format("w{} ", i);
      result.text += word;
      ++result.usage.completion_tokens;
      if (on_delta && !on_delta(word)) request.cancel->store(true);
    }
    result.usage.prompt_tokens = static_cast<int32_t>(request.messages.size());
    std::lock_guard lock(mutex_);
    if (result.finish_reason == engine::FinishReason::kCancelled) ++cancelled_;
    --active_;
    idle_.notify_all();
    return result;
  }
  Result<std::string> render_prompt(const std::vector<engine::ChatMessage>&) const override { return std::string(); }
  Result<int32_t> count_tokens(std::string_view) const override { return 0; }
  engine::ModelInfo info() const override {
    engine::ModelInfo info;
    info.name = "scripted";
    info.slots = 2;
    return info;
  }
  int32_t active_requests() const override {
    std::lock_guard lock(mutex_);
    return active_;
  }
  int cancelled() const {
    std::lock_guard lock(mutex_);
    return cancelled_;
  }
  void drain(std::chrono::milliseconds deadline) override {
    std::unique_lock lock(mutex_);
    draining_ = true;
    if (!idle_.wait_for(lock, deadline, [&] { return active_ == 0; })) cancel_all_ = true;
    idle_.wait(lock, [&] { return active_ == 0; });
  }

 private:
  mutable std::mutex mutex_;
  std::condition_variable idle_;
  int active_ = 0;
  int cancelled_ = 0;
  bool draining_ = false;
  std::atomic<bool> cancel_all_{false};
};

class ScriptedEmbedder final : public engine::Embedder {
 public:
  Result<engine::EmbeddingResult> embed(const std::vector<std::string>& inputs) override {
    engine::EmbeddingResult result;
    for (const auto& input : inputs) result.vectors.push_back({static_cast<float>(input.size()), 0, 0});
    result.prompt_tokens = static_cast<int32_t>(inputs.size());
    return result;
  }
  int32_t dimensions() const override { return 3; }
  engine::ModelInfo info() const override {
    engine::ModelInfo info;
    info.name = "scripted-embed";
    return info;
  }
  Result<int32_t> count_tokens(std::string_view text) const override { return static_cast<int32_t>(text.size()); }
  int32_t max_input_tokens() const override { return 512; }
};

json chat_body(int max_tokens, bool stream = false) {
  return {{"messages", {{{"role", "user"}, {"content", "Hi"}}}}, {"max_tokens", max_tokens}, {"stream", stream}};
}

class ServerTest : public ::testing::Test {
 protected:
  ServerTest() {
    config_.server_host = "127.0.0.1";
    config_.server_port = 0;
    config_.server_threads = 8;
    config_.server_max_body_bytes = 4096;
    config_.server_auth = "none";  // API keys have tests of their own (tests/integration)
  }
  void start(engine::Embedder* embedder = nullptr) {
    auto created = Server::create(config_, chat_, embedder);
    ASSERT_TRUE(created) << created.error().message;
    server_ = std::move(*created);
    ASSERT_TRUE(server_->start().ok());
  }
  void TearDown() override {
    if (server_) server_->shutdown(5s);
  }
  httplib::Client client() const { return loopback_client(server_->port()); }
  json error_of(const httplib::Result& res) const { return json::parse(res->body)["error"]; }

  Config config_;
  ScriptedChatEngine chat_;
  std::unique_ptr<Server> server_;
};

TEST_F(ServerTest, HealthAndModels) {
  start();
  auto c = client();
  auto health = c.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(json::parse(health->body), json({{"status", "ok"}, {"active_requests", 0}, {"slots", 2}}));
  auto models = json::parse(c.Get("/v1/models")->body);
  ASSERT_EQ(models["data"].size(), 2u);
  EXPECT_EQ(models["data"][0]["id"], "scripted");
  EXPECT_EQ(models["data"][1]["id"], "tandem/local");
  EXPECT_EQ(models["data"][1]["tandem"]["of"], "scripted");

  auto alias = c.Get("/v1/models/tandem/local");
  ASSERT_EQ(alias->status, 200) << alias->body;
  EXPECT_EQ(json::parse(alias->body), models["data"][1]);
  auto unknown = c.Get("/v1/models/gpt-4o");
  EXPECT_EQ(unknown->status, 404);
  EXPECT_EQ(error_of(unknown)["code"], "model_not_found");
  EXPECT_NE(error_of(unknown)["message"].get<std::string>().find("'scripted'"), std::string::npos);
}

TEST_F(ServerTest, CompletionAndStreamCarryTheSameText) {
  start();
  auto c = client();
  auto res = post_json(c, "/v1/chat/completions", chat_body(3));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->get_header_value("X-Tandem-Route"), "local");
  EXPECT_EQ(json::parse(res->body)["choices"][0]["message"]["content"], "w0 w1 w2 ");

  auto streamed = post_json(c, "/v1/chat/completions", chat_body(3, true));
  ASSERT_TRUE(streamed);
  ASSERT_EQ(streamed->status, 200);
  EXPECT_EQ(streamed->get_header_value("X-Tandem-Route"), "local");
  EXPECT_EQ(testing::streamed_text(streamed->body), "w0 w1 w2 ");
  EXPECT_EQ(testing::sse_data(streamed->body).back(), "[DONE]");
}

TEST_F(ServerTest, AcceptsTheEngineModelNameAndTheAlias) {
  start();
  auto c = client();
  for (const char* model : {"scripted", "tandem/local"}) {
    json body = chat_body(1);
    body["model"] = model;
    EXPECT_EQ(post_json(c, "/v1/chat/completions", body)->status, 200) << model;
  }
  json unknown = chat_body(1);
  unknown["model"] = "gpt-4o";
  auto res = post_json(c, "/v1/chat/completions", unknown);
  EXPECT_EQ(res->status, 404);
  EXPECT_EQ(error_of(res)["code"], "model_not_found");
}

TEST_F(ServerTest, EngineErrorsKeepTheirMeaning) {
  start();
  auto c = client();
  chat_.failure = make_error(ErrorCode::kResourceExhausted, "queue full");
  auto busy = post_json(c, "/v1/chat/completions", chat_body(1));
  EXPECT_EQ(busy->status, 429);
  EXPECT_FALSE(busy->get_header_value("Retry-After").empty());

  chat_.failure = make_error(ErrorCode::kContextOverflow, "the prompt has 9000 tokens");
  auto overflow = post_json(c, "/v1/chat/completions", chat_body(1));
  EXPECT_EQ(overflow->status, 400);
  EXPECT_EQ(error_of(overflow)["code"], "context_length_exceeded");
  EXPECT_EQ(error_of(overflow)["message"], "the prompt has 9000 tokens");

  // After the headers of a stream went out, the error arrives as an event.
  auto streamed = post_json(c, "/v1/chat/completions", chat_body(1, true));
  ASSERT_EQ(streamed->status, 200);
  auto events = testing::sse_data(streamed->body);
  ASSERT_EQ(events.size(), 2u);  // the role chunk, then the error
  EXPECT_EQ(json::parse(events[1])["error"]["code"], "context_length_exceeded");
}

TEST_F(ServerTest, OversizedBodyIs413WithAnOpenAIError) {
  start();
  auto c = client();
  auto res = c.Post("/v1/chat/completions", std::string(8192, ' '), "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413);
  EXPECT_EQ(error_of(res)["code"], "request_too_large");
  EXPECT_NE(error_of(res)["message"].get<std::string>().find("server.max_body_bytes"), std::string::npos);
}

// curl --data without a Content-Type: the HTTP library's own 8 KiB limit for form bodies, named as
// such, since the configured limit is far from reached.
TEST_F(ServerTest, AFormEncodedBodyOver8KiBIs413NamingThatLimit) {
  config_.server_max_body_bytes = 1 << 20;
  start();
  auto c = client();
  auto form = c.Post("/v1/chat/completions", std::string(9000, ' '), "application/x-www-form-urlencoded");
  ASSERT_TRUE(form);
  EXPECT_EQ(form->status, 413);
  const std::string message = error_of(form)["message"];
  EXPECT_NE(message.find("8192 bytes"), std::string::npos) << message;
  EXPECT_NE(message.find("application/json"), std::string::npos) << message;
}

TEST_F(ServerTest, RequestDeadlineCancelsAndAnswers504) {
  config_.server_request_timeout_s = 1;
  chat_.step = 20ms;
  start();
  auto c = client();
  auto started = std::chrono::steady_clock::now();
  auto res = post_json(c, "/v1/chat/completions", chat_body(1000));  // 20 s of work
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 504);
  EXPECT_EQ(error_of(res)["code"], "timeout");

  auto streamed = post_json(c, "/v1/chat/completions", chat_body(1000, true));
  ASSERT_TRUE(streamed);
  auto events = testing::sse_data(streamed->body);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(json::parse(events.back())["error"]["code"], "timeout");
  EXPECT_EQ(chat_.cancelled(), 2);
}

TEST_F(ServerTest, ClientHangingUpCancelsTheGeneration) {
  chat_.step = 20ms;
  start();
  auto c = client();
  int pieces = 0;
  auto res = testing::post_streaming(c, "/v1/chat/completions", chat_body(1000, true),
                                     [&](std::string_view) { return ++pieces < 3; });
  EXPECT_FALSE(res);
  const auto deadline = std::chrono::steady_clock::now() + 10s;  // 1000 steps would take 20 s
  while (chat_.cancelled() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(chat_.cancelled(), 1);
  EXPECT_EQ(chat_.active_requests(), 0);
}

TEST_F(ServerTest, ClientHangingUpOnAWholeAnswerCancelsItToo) {
  chat_.step = 20ms;
  start();
  auto c = client();
  c.set_read_timeout(300ms);  // gives up long before the 20 s of work are done, as a client's timeout would
  auto started = std::chrono::steady_clock::now();
  EXPECT_FALSE(post_json(c, "/v1/chat/completions", chat_body(1000)));
  const auto deadline = started + 10s;
  while (chat_.cancelled() == 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(chat_.cancelled(), 1);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 5s);
  while (chat_.active_requests() > 0 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(chat_.active_requests(), 0);
}

TEST_F(ServerTest, ShutdownRefusesNewWorkAndLetsRunningRequestsFinish) {
  chat_.step = 10ms;
  start();
  auto running = std::async(std::launch::async, [this] {
    auto c = client();
    return post_json(c, "/v1/chat/completions", chat_body(100));  // about 1 s
  });
  while (chat_.active_requests() == 0) std::this_thread::sleep_for(1ms);
  auto shutdown = std::async(std::launch::async, [this] { server_->shutdown(30s); });

  auto c = client();
  auto health = c.Get("/health");
  while (health && health->status == 200) health = c.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 503);
  EXPECT_EQ(json::parse(health->body)["status"], "draining");
  auto refused = post_json(c, "/v1/chat/completions", chat_body(1));
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->status, 503);
  EXPECT_FALSE(refused->get_header_value("Retry-After").empty());

  auto finished = running.get();
  ASSERT_TRUE(finished);
  EXPECT_EQ(finished->status, 200);
  EXPECT_EQ(json::parse(finished->body)["usage"]["completion_tokens"], 100);
  shutdown.get();
  EXPECT_FALSE(c.Get("/health"));  // the listener is gone
}

TEST_F(ServerTest, EmbeddingsWithoutAnEmbedderAre503) {
  start();
  auto c = client();
  auto res = post_json(c, "/v1/embeddings", {{"input", "hello"}});
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(error_of(res)["type"], "server_error");
}

TEST_F(ServerTest, Embeddings) {
  ScriptedEmbedder embedder;
  start(&embedder);
  auto c = client();
  auto res = post_json(c, "/v1/embeddings", {{"input", {"a", "bbb"}}, {"model", "scripted-embed"}});
  ASSERT_EQ(res->status, 200) << res->body;
  auto body = json::parse(res->body);
  EXPECT_EQ(body["data"][1]["embedding"], json::array({3.0, 0.0, 0.0}));
  EXPECT_EQ(body["usage"]["prompt_tokens"], 2);
  EXPECT_EQ(json::parse(c.Get("/v1/models")->body)["data"].size(), 3u);
  EXPECT_EQ(json::parse(c.Get("/v1/models/scripted-embed")->body)["tandem"]["kind"], "embedding");

  auto other_model = post_json(c, "/v1/embeddings", {{"input", "a"}, {"model", "text-embedding-3-small"}});
  EXPECT_EQ(other_model->status, 404);
  EXPECT_EQ(error_of(other_model)["code"], "model_not_found");
  auto wrong_dimensions = post_json(c, "/v1/embeddings", {{"input", "a"}, {"dimensions", 1536}});
  EXPECT_EQ(wrong_dimensions->status, 400);
  EXPECT_EQ(error_of(wrong_dimensions)["param"], "dimensions");
}

}  // namespace
}  // namespace tandem::server
