// `tandem serve` as a real process on loopback with the real Gemma 3 270M: the OpenAI API,
// determinism, concurrency, cancellation, hostile input, start-up failures and graceful drain.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "support/server_process.h"
#include "support/test_support.h"

namespace tandem::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

json chat_body(const std::string& prompt, int max_tokens, bool stream = false) {
  json body = {{"model", "tandem/local"},
               {"messages", {{{"role", "user"}, {"content", prompt}}}},
               {"temperature", 0},
               {"max_tokens", max_tokens}};
  if (stream) {
    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};
  }
  return body;
}

std::string completion_text(const httplib::Result& res) {
  if (!res || res->status != 200) {
    ADD_FAILURE() << "request failed: "
                  << (res ? std::to_string(res->status) + " " + res->body : httplib::to_string(res.error()));
    return {};
  }
  return json::parse(res->body)["choices"][0]["message"]["content"].get<std::string>();
}

// Polls /health until `done` accepts it.
json wait_for_health(int port, const std::function<bool(const httplib::Result&)>& done, std::chrono::seconds timeout) {
  auto client = loopback_client(port);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    auto res = client.Get("/health");
    if (done(res)) return res ? json::parse(res->body) : json();
    std::this_thread::sleep_for(50ms);
  }
  ADD_FAILURE() << "/health never reached the expected state";
  return {};
}

class ServerIntegrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!std::filesystem::exists(chat_model_path())) return;
    auto started = ServerProcess::start({"--model", chat_model_path()});
    ASSERT_TRUE(started) << started.error().message;
    server_ = std::move(*started);
  }
  static void TearDownTestSuite() {
    if (server_) {
      EXPECT_EQ(server_->stop(), 0) << server_->process().stderr_text();
    }
    server_.reset();
  }
  void SetUp() override {
    if (!std::filesystem::exists(chat_model_path())) {
      GTEST_SKIP() << "no chat model at " << chat_model_path() << " (run scripts/setup.sh)";
    }
    ASSERT_TRUE(server_) << "the server did not start";
  }
  int port() const { return server_->port(); }

  static std::unique_ptr<ServerProcess> server_;
};

std::unique_ptr<ServerProcess> ServerIntegrationTest::server_;

TEST_F(ServerIntegrationTest, ChatCompletion) {
  auto client = loopback_client(port());
  auto res = post_json(client, "/v1/chat/completions", chat_body("What is the capital of France?", 16));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->get_header_value("X-Tandem-Route"), "local");
  auto body = json::parse(res->body);
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["choices"][0]["message"]["role"], "assistant");
  EXPECT_FALSE(body["choices"][0]["message"]["content"].get<std::string>().empty());
  EXPECT_TRUE(body["choices"][0]["finish_reason"] == "stop" || body["choices"][0]["finish_reason"] == "length");
  const auto& usage = body["usage"];
  EXPECT_GT(usage["prompt_tokens"].get<int>(), 5);
  EXPECT_GE(usage["completion_tokens"].get<int>(), 1);
  EXPECT_LE(usage["completion_tokens"].get<int>(), 16);
  EXPECT_EQ(usage["total_tokens"], usage["prompt_tokens"].get<int>() + usage["completion_tokens"].get<int>());
  EXPECT_EQ(body["tandem"]["route"], "local");
  EXPECT_GT(body["tandem"]["timings"]["prompt_ms"].get<double>(), 0);

  auto models = json::parse(client.Get("/v1/models")->body);
  EXPECT_EQ(models["data"][0]["id"], body["model"]);
  auto health = json::parse(client.Get("/health")->body);
  EXPECT_EQ(health["status"], "ok");
  EXPECT_EQ(health["slots"], 4);
}

TEST_F(ServerIntegrationTest, GreedyIsDeterministicAndStreamingMatches) {
  auto client = loopback_client(port());
  const std::string prompt = "Name three colours.";
  std::string first = completion_text(post_json(client, "/v1/chat/completions", chat_body(prompt, 24)));
  std::string second = completion_text(post_json(client, "/v1/chat/completions", chat_body(prompt, 24)));
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(first, second);

  auto res = post_json(client, "/v1/chat/completions", chat_body(prompt, 24, /*stream=*/true));
  ASSERT_TRUE(res);
  ASSERT_EQ(res->status, 200) << res->body;
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/event-stream");
  EXPECT_EQ(streamed_text(res->body), first);

  auto events = sse_data(res->body);
  ASSERT_GE(events.size(), 4u);
  EXPECT_EQ(json::parse(events.front())["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(events.back(), "[DONE]");
  auto usage_chunk = json::parse(events[events.size() - 2]);
  EXPECT_TRUE(usage_chunk["choices"].empty());
  EXPECT_GE(usage_chunk["usage"]["completion_tokens"].get<int>(), 1);
  auto finish_chunk = json::parse(events[events.size() - 3]);
  EXPECT_FALSE(finish_chunk["choices"][0]["finish_reason"].is_null());
  EXPECT_EQ(finish_chunk["tandem"]["route"], "local");
}

TEST_F(ServerIntegrationTest, ConcurrentRequestsEqualTheirSoloResults) {
  const std::vector<std::string> prompts = {"Say hello.", "What is 2 + 2?", "Name a fruit.", "Describe the sea."};
  std::vector<std::string> solo;
  auto client = loopback_client(port());
  for (const auto& p : prompts)
    solo.push_back(completion_text(post_json(client, "/v1/chat/completions", chat_body(p, 20))));

  std::vector<std::future<std::string>> together;
  for (const auto& p : prompts) {
    together.push_back(std::async(std::launch::async, [this, p] {
      auto own_client = loopback_client(port());
      return completion_text(post_json(own_client, "/v1/chat/completions", chat_body(p, 20)));
    }));
  }
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(together[i].get(), solo[i]) << prompts[i];
}

TEST_F(ServerIntegrationTest, ClientDisconnectMidStreamFreesTheSlot) {
  auto client = loopback_client(port());
  int content_chunks = 0;
  auto res = post_streaming(client, "/v1/chat/completions",
                            chat_body("Count from one to one thousand in words.", 1500, /*stream=*/true),
                            [&](std::string_view data) {
                              content_chunks += static_cast<int>(sse_data(data).size());
                              return content_chunks < 4;  // then hang up
                            });
  EXPECT_FALSE(res);  // the client cancelled
  EXPECT_GE(content_chunks, 4);
  // 1500 tokens take minutes here; the slot must come back long before that.
  wait_for_health(
      port(),
      [](const httplib::Result& r) { return r && r->status == 200 && json::parse(r->body)["active_requests"] == 0; },
      30s);
  EXPECT_FALSE(completion_text(post_json(client, "/v1/chat/completions", chat_body("Say hi.", 4))).empty());
}

struct BadRequest {
  std::string name;
  std::string body;
  int status;
  std::string param;  // empty: no param expected
  std::string code;   // empty: no code expected
};

TEST_F(ServerIntegrationTest, HostileInputIsRejectedAndTheServerKeepsServing) {
  const std::string hi = R"("messages": [{"role": "user", "content": "Hi"}])";
  const std::vector<BadRequest> cases = {
      {"malformed JSON", R"({"messages": [)", 400, "", ""},
      {"not an object", R"("hello")", 400, "", ""},
      {"temperature as string", "{" + hi + R"(, "temperature": "warm"})", 400, "temperature", ""},
      {"messages as object", R"({"messages": {"role": "user"}})", 400, "messages", ""},
      {"content as number", R"({"messages": [{"role": "user", "content": 42}]})", 400, "messages[0].content", ""},
      {"unknown role", R"({"messages": [{"role": "robot", "content": "Hi"}]})", 400, "messages[0].role", ""},
      {"unknown model", R"({"model": "gpt-9", )" + hi + "}", 404, "model", "model_not_found"},
      {"empty messages", R"({"messages": []})", 400, "messages", ""},
      {"invalid UTF-8", "{\"messages\": [{\"role\": \"user\", \"content\": \"\xc3\x28\"}]}", 400, "", ""},
      {"max_tokens -1", "{" + hi + R"(, "max_tokens": -1})", 400, "max_tokens", ""},
      {"max_tokens 10^9", "{" + hi + R"(, "max_tokens": 1000000000})", 400, "max_tokens", ""},
      {"n = 2", "{" + hi + R"(, "n": 2})", 400, "n", ""},
      {"stream as string", "{" + hi + R"(, "stream": "true"})", 400, "stream", ""},
  };
  auto client = loopback_client(port());
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    auto res = client.Post("/v1/chat/completions", c.body, "application/json");
    ASSERT_TRUE(res);
    EXPECT_EQ(res->status, c.status) << res->body;
    auto error = json::parse(res->body)["error"];
    EXPECT_FALSE(error["message"].get<std::string>().empty());
    EXPECT_EQ(error["param"], c.param.empty() ? json() : json(c.param));
    if (!c.code.empty()) {
      EXPECT_EQ(error["code"], c.code);
    }
  }

  // 50 MB: refused by size before it is parsed.
  std::string huge = R"({"messages": [{"role": "user", "content": ")" + std::string(50 << 20, 'a') + R"("}]})";
  auto res = client.Post("/v1/chat/completions", huge, "application/json");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 413);
  EXPECT_EQ(json::parse(res->body)["error"]["code"], "request_too_large");

  auto unknown_route = client.Get("/v1/nothing");
  ASSERT_TRUE(unknown_route);
  EXPECT_EQ(unknown_route->status, 404);
  EXPECT_TRUE(json::parse(unknown_route->body).contains("error"));

  EXPECT_FALSE(completion_text(post_json(client, "/v1/chat/completions", chat_body("Say hi.", 4))).empty());
}

TEST_F(ServerIntegrationTest, PortInUseFailsWithAClearMessage) {
  auto out =
      run_tandem({"serve", "--host", "127.0.0.1", "--port", std::to_string(port()), "--model", chat_model_path()}, 60s);
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_NE(out.stderr_text.find("cannot listen on 127.0.0.1:" + std::to_string(port())), std::string::npos)
      << out.stderr_text;
}

TEST(ServeProcessTest, InvalidSettingIsRefusedBeforeLoading) {
  auto out = run_tandem({"--set", "server.port=http", "serve"}, 60s);
  EXPECT_EQ(out.exit_code, 2);
  EXPECT_NE(out.stderr_text.find("server.port"), std::string::npos) << out.stderr_text;
  auto no_equals = run_tandem({"--set", "server.port", "serve"}, 60s);
  EXPECT_EQ(no_equals.exit_code, 2);
  EXPECT_NE(no_equals.stderr_text.find("key=value"), std::string::npos) << no_equals.stderr_text;
}

TEST(ServeProcessTest, MissingModelFailsWithAClearMessage) {
  TempDir dir;
  const std::string missing = dir.file("no-such-model.gguf");
  auto out = run_tandem({"serve", "--port", "0", "--model", missing}, 60s);
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_NE(out.stderr_text.find(missing), std::string::npos) << out.stderr_text;
  EXPECT_EQ(out.stdout_text.find("listening"), std::string::npos);
}

TEST(ServeProcessTest, TruncatedModelFailsWithAClearMessage) {
  if (!std::filesystem::exists(chat_model_path())) GTEST_SKIP() << "no chat model at " << chat_model_path();
  TempDir dir;
  const std::string truncated = dir.file("truncated.gguf");
  {
    std::ifstream in(chat_model_path(), std::ios::binary);
    std::ofstream out(truncated, std::ios::binary);
    std::vector<char> head(4 << 20);
    in.read(head.data(), static_cast<std::streamsize>(head.size()));
    out.write(head.data(), in.gcount());
  }
  auto out = run_tandem({"serve", "--port", "0", "--model", truncated}, 60s);
  EXPECT_EQ(out.exit_code, 1);
  EXPECT_NE(out.stderr_text.find(truncated), std::string::npos) << out.stderr_text;
  EXPECT_EQ(out.stdout_text.find("listening"), std::string::npos);
}

TEST(ServeProcessTest, SigtermLetsTheRunningRequestFinish) {
  if (!std::filesystem::exists(chat_model_path())) GTEST_SKIP() << "no chat model at " << chat_model_path();
  // A drain deadline far beyond the request, so only the request's own end can finish it.
  auto started = ServerProcess::start({"--model", chat_model_path()}, {"TANDEM_SERVER_DRAIN_TIMEOUT_S=300"});
  ASSERT_TRUE(started) << started.error().message;
  auto& server = **started;

  std::string body;
  bool signalled = false;
  auto client = loopback_client(server.port());
  auto res = post_streaming(client, "/v1/chat/completions", chat_body("Write a long story about a dragon.", 32, true),
                            [&](std::string_view data) {
                              body += data;
                              if (!signalled && !streamed_text(body).empty()) {
                                signalled = true;  // generation is under way: now ask the server to stop
                                server.process().send_signal(SIGTERM);
                                auto health = wait_for_health(
                                    server.port(), [](const httplib::Result& r) { return r && r->status == 503; }, 10s);
                                EXPECT_EQ(health["status"], "draining");
                                auto other_client = loopback_client(server.port());
                                auto refused = post_json(other_client, "/v1/chat/completions", chat_body("Hi", 4));
                                EXPECT_TRUE(refused && refused->status == 503);
                              }
                              return true;
                            });
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_TRUE(signalled);
  auto events = sse_data(body);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back(), "[DONE]") << server.process().stderr_text();
  EXPECT_EQ(server.process().wait(30s), 0) << server.process().stderr_text();
}

}  // namespace
}  // namespace tandem::testing
