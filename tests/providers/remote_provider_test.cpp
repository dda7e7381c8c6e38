// RemoteProvider against a real llama-server on loopback, directly and through the fault proxy:
// streaming, retries, Retry-After, error mapping, timeouts, resets, the circuit breaker, and that
// the API key never shows up in an error, a result or a log line.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "core/log.h"
#include "providers/llama_server.h"
#include "providers/provider_contract.h"
#include "providers/remote_provider.h"
#include "support/fault_proxy.h"

namespace tandem::providers {
namespace {

using namespace std::chrono_literals;
using testing::Fault;
using testing::FaultKind;
using testing::FaultProxy;

constexpr char kKeyVariable[] = "TANDEM_TEST_PROVIDER_KEY";
constexpr char kSecretKey[] = "sk-tandem-test-5f3a9c1e7b2d48069e1d";

ChatRequest greedy(const std::string& question, int32_t max_tokens = 12) {
  return greedy_request(question, max_tokens);
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Fast retries and short timeouts: the whole suite runs on two shared cores.
RemoteProviderOptions options_for(const std::string& base_url) {
  RemoteProviderOptions options;
  options.name = "test-cloud";
  options.base_url = base_url;
  options.model = "gemma-3-270m";
  options.api_key_env = kKeyVariable;
  options.input_usd_per_mtok = 1.5;
  options.output_usd_per_mtok = 6.0;
  options.timeout_ms = 60000;
  options.connect_timeout_ms = 2000;
  options.max_retries = 2;
  options.initial_backoff_ms = 20;
  options.max_backoff_ms = 3000;
  options.circuit.failure_threshold = 0;  // only the circuit test lets it open
  return options;
}

class RemoteProviderTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ::setenv(kKeyVariable, kSecretKey, 1);
    if (!testing::llama_server_available()) return;
    auto server = testing::LlamaServer::start();
    ASSERT_TRUE(server) << server.error().message;
    server_ = std::move(*server).release();
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  void SetUp() override {
    if (!testing::llama_server_available()) GTEST_SKIP() << "no llama-server at " << testing::llama_server_binary();
    ASSERT_NE(server_, nullptr);
    log::set_level(log::Level::kDebug);
    log::set_sink([this](log::Level, std::string_view component, std::string_view message) {
      std::lock_guard lock(log_mutex_);
      log_lines_.push_back(std::string(component) + ": " + std::string(message));
    });
    auto proxy = FaultProxy::start(server_->port());
    ASSERT_TRUE(proxy) << proxy.error().message;
    proxy_ = std::move(*proxy);
  }

  void TearDown() override {
    log::set_sink(nullptr);
    log::set_level(log::Level::kInfo);
    std::lock_guard lock(log_mutex_);
    for (const auto& line : log_lines_) EXPECT_EQ(line.find(kSecretKey), std::string::npos) << line;
  }

  std::unique_ptr<RemoteProvider> provider(const RemoteProviderOptions& options) {
    auto created = RemoteProvider::create(options);
    EXPECT_TRUE(created) << created.error().message;
    return created ? std::move(*created) : nullptr;
  }
  std::unique_ptr<RemoteProvider> via_proxy() { return provider(options_for(proxy_->base_url())); }

  // Every error is clear (names the provider) and never carries the key.
  static void expect_error(const Result<ChatResult>& result, ErrorCode code, const std::string& fragment) {
    ASSERT_FALSE(result.ok()) << "expected " << error_code_name(code) << ", got text: " << result->text;
    EXPECT_EQ(result.error().code, code) << result.error().message;
    EXPECT_NE(result.error().message.find("test-cloud"), std::string::npos) << result.error().message;
    EXPECT_NE(result.error().message.find(fragment), std::string::npos) << result.error().message;
    EXPECT_EQ(result.error().message.find(kSecretKey), std::string::npos) << result.error().message;
  }

  static Result<ChatResult> stream_collecting(Provider& provider, const ChatRequest& request,
                                              std::vector<std::string>& deltas) {
    return provider.stream(request, [&](std::string_view delta) {
      deltas.emplace_back(delta);
      return true;
    });
  }

  bool logged(std::string_view fragment) {
    std::lock_guard lock(log_mutex_);
    return std::any_of(log_lines_.begin(), log_lines_.end(),
                       [&](const std::string& line) { return line.find(fragment) != std::string::npos; });
  }

  static testing::LlamaServer* server_;
  std::unique_ptr<FaultProxy> proxy_;
  std::mutex log_mutex_;
  std::vector<std::string> log_lines_;
};
testing::LlamaServer* RemoteProviderTest::server_ = nullptr;

TEST_F(RemoteProviderTest, GreedyStreamMatchesCompletionWithUsageAndCost) {
  auto cloud = provider(options_for(server_->base_url()));
  ASSERT_TRUE(cloud);
  EXPECT_EQ(cloud->kind(), ProviderKind::kRemote);

  auto whole = cloud->complete(greedy("Name three colors."));
  ASSERT_TRUE(whole) << whole.error().message;
  EXPECT_FALSE(whole->text.empty());
  EXPECT_EQ(whole->provider, "test-cloud");
  EXPECT_EQ(whole->attempts, 1);
  ASSERT_TRUE(whole->usage.has_value());
  EXPECT_GT(whole->usage->prompt_tokens, 5);
  EXPECT_EQ(whole->usage->completion_tokens, 12);
  EXPECT_EQ(whole->finish_reason, FinishReason::kLength);
  EXPECT_DOUBLE_EQ(whole->cost_usd, (whole->usage->prompt_tokens * 1.5 + 12 * 6.0) / 1e6);

  std::vector<std::string> deltas;
  auto streamed = stream_collecting(*cloud, greedy("Name three colors."), deltas);
  ASSERT_TRUE(streamed) << streamed.error().message;
  EXPECT_GT(deltas.size(), 1u);
  std::string joined;
  for (const auto& d : deltas) joined += d;
  EXPECT_EQ(joined, streamed->text);
  EXPECT_EQ(streamed->text, whole->text);
  EXPECT_EQ(streamed->finish_reason, FinishReason::kLength);
  ASSERT_TRUE(streamed->usage.has_value()) << "llama-server sends usage with stream_options.include_usage";
  EXPECT_EQ(streamed->usage->prompt_tokens, whole->usage->prompt_tokens);
  EXPECT_EQ(streamed->usage->completion_tokens, 12);
  EXPECT_GT(streamed->time_to_first_token_ms, 0);
  EXPECT_GE(streamed->elapsed_ms, streamed->time_to_first_token_ms);
}

TEST_F(RemoteProviderTest, ProxyRelaysTheStreamEventByEventAndSendsTheKey) {
  auto cloud = via_proxy();
  std::vector<std::string> deltas;
  auto streamed = stream_collecting(*cloud, greedy("Say hello."), deltas);
  ASSERT_TRUE(streamed) << streamed.error().message;
  EXPECT_GT(deltas.size(), 1u);
  EXPECT_EQ(proxy_->last_authorization(), std::string("Bearer ") + kSecretKey);
  EXPECT_EQ(streamed->text.find(kSecretKey), std::string::npos);
}

TEST_F(RemoteProviderTest, TransientServerErrorsAndCloseImmediatelyAreRetried) {
  auto cloud = via_proxy();
  proxy_->set_fault({.kind = FaultKind::kStatus, .times = 2, .status = 503});
  auto after_503 = cloud->complete(greedy("Hi"));
  ASSERT_TRUE(after_503) << after_503.error().message;
  EXPECT_EQ(after_503->attempts, 3);
  EXPECT_EQ(proxy_->connections(), 3);
  EXPECT_TRUE(logged("HTTP 503")) << "each retry is logged with its reason";

  proxy_->set_fault({.kind = FaultKind::kCloseImmediately, .times = 1});
  std::vector<std::string> deltas;
  auto after_reset = stream_collecting(*cloud, greedy("Hi"), deltas);
  ASSERT_TRUE(after_reset) << after_reset.error().message;
  EXPECT_EQ(after_reset->attempts, 2);
  EXPECT_FALSE(deltas.empty());
}

TEST_F(RemoteProviderTest, RetryAfterIsHonoured) {
  auto cloud = via_proxy();
  proxy_->set_fault({.kind = FaultKind::kStatus, .times = 1, .status = 429, .retry_after_s = 1});
  const auto start = std::chrono::steady_clock::now();
  auto answer = cloud->complete(greedy("Hi", 4));
  ASSERT_TRUE(answer) << answer.error().message;
  EXPECT_EQ(answer->attempts, 2);
  EXPECT_GE(seconds_since(start), 1.0);
  EXPECT_GE(answer->elapsed_ms, 1000);
}

TEST_F(RemoteProviderTest, PersistentFailuresEndWithTheRightCode) {
  auto cloud = via_proxy();
  proxy_->set_fault({.kind = FaultKind::kStatus, .status = 500});
  expect_error(cloud->complete(greedy("Hi")), ErrorCode::kUnavailable, "HTTP 500");
  EXPECT_EQ(proxy_->connections(), 3);

  proxy_->set_fault({.kind = FaultKind::kStatus, .status = 429, .retry_after_s = 0});
  expect_error(cloud->complete(greedy("Hi")), ErrorCode::kResourceExhausted, "HTTP 429");

  // A Retry-After beyond max_backoff_ms ends the retries at once instead of stalling the caller.
  proxy_->set_fault({.kind = FaultKind::kStatus, .status = 429, .retry_after_s = 3600});
  const auto start = std::chrono::steady_clock::now();
  expect_error(cloud->complete(greedy("Hi")), ErrorCode::kResourceExhausted, "retry after 3600 s");
  EXPECT_LT(seconds_since(start), 2.0);

  proxy_->set_fault({.kind = FaultKind::kCloseImmediately});
  expect_error(cloud->complete(greedy("Hi")), ErrorCode::kUnavailable, "");
}

TEST_F(RemoteProviderTest, UnauthorizedIsNotRetriedAndNeverShowsTheKey) {
  auto cloud = via_proxy();
  proxy_->set_fault({.kind = FaultKind::kStatus, .status = 401});
  auto result = cloud->complete(greedy("Hi"));
  expect_error(result, ErrorCode::kUnavailable, "refused the credentials (HTTP 401");
  EXPECT_NE(result.error().message.find("[redacted]"), std::string::npos) << "the echoed key is redacted";
  EXPECT_EQ(proxy_->connections(), 1);
  EXPECT_EQ(cloud->circuit_state(), CircuitBreaker::State::kClosed) << "a 401 says nothing about health";

  proxy_->set_fault({.kind = FaultKind::kStatus, .status = 403});
  std::vector<std::string> deltas;
  expect_error(stream_collecting(*cloud, greedy("Hi"), deltas), ErrorCode::kUnavailable, "HTTP 403");
  EXPECT_TRUE(deltas.empty());
}

TEST_F(RemoteProviderTest, GarbageJsonIsAClearErrorAndNotRetried) {
  auto cloud = via_proxy();
  proxy_->set_fault({.kind = FaultKind::kGarbageJson});
  expect_error(cloud->complete(greedy("Hi")), ErrorCode::kInternal, "malformed JSON in the answer");
  std::vector<std::string> deltas;
  expect_error(stream_collecting(*cloud, greedy("Hi"), deltas), ErrorCode::kInternal,
               "malformed JSON in a stream chunk");
  EXPECT_TRUE(deltas.empty());
  EXPECT_EQ(proxy_->connections(), 2);
}

TEST_F(RemoteProviderTest, HangingServerTimesOutWithoutRetry) {
  auto options = options_for(proxy_->base_url());
  options.timeout_ms = 500;
  auto cloud = provider(options);
  proxy_->set_fault({.kind = FaultKind::kHang, .hang = 10s});
  const auto start = std::chrono::steady_clock::now();
  expect_error(cloud->complete(greedy("Hi")), ErrorCode::kDeadlineExceeded, "within 500 ms");
  // libcurl measures its timeout on its own millisecond clock, so allow it to fire a little early.
  EXPECT_GE(seconds_since(start), 0.45);
  EXPECT_LT(seconds_since(start), 3.0);
  EXPECT_EQ(proxy_->connections(), 1);
}

TEST_F(RemoteProviderTest, ResetMidStreamIsAnErrorAndNotRetriedAfterDeltas) {
  auto cloud = via_proxy();
  // llama-server's first event carries only the role; three events hold at least one delta.
  proxy_->set_fault({.kind = FaultKind::kResetMidStream, .after_events = 3});
  std::vector<std::string> deltas;
  auto cut = stream_collecting(*cloud, greedy("Count from one to twenty.", 24), deltas);
  expect_error(cut, ErrorCode::kUnavailable, "after part of the answer was streamed");
  EXPECT_FALSE(deltas.empty());
  EXPECT_EQ(proxy_->connections(), 1);

  // Reset before the first delta: nothing was delivered, so the stream is retried.
  proxy_->set_fault({.kind = FaultKind::kResetMidStream, .times = 1, .after_events = 0});
  deltas.clear();
  auto retried = stream_collecting(*cloud, greedy("Count from one to twenty.", 24), deltas);
  ASSERT_TRUE(retried) << retried.error().message;
  EXPECT_EQ(retried->attempts, 2);
}

TEST_F(RemoteProviderTest, ConnectionRefusedIsUnavailable) {
  auto options = options_for("http://127.0.0.1:" + std::to_string(testing::unused_loopback_port()) + "/v1");
  options.max_retries = 1;
  auto cloud = provider(options);
  expect_error(cloud->complete(greedy("Hi")), ErrorCode::kUnavailable, "");
}

TEST_F(RemoteProviderTest, CircuitOpensAfterFailuresAndHalfOpensAfterTheCoolDown) {
  auto options = options_for(proxy_->base_url());
  options.max_retries = 0;
  options.circuit = {.failure_threshold = 2, .cool_down = 300ms};
  auto cloud = provider(options);
  proxy_->set_fault({.kind = FaultKind::kStatus, .status = 503});

  expect_error(cloud->complete(greedy("Hi")), ErrorCode::kUnavailable, "HTTP 503");
  EXPECT_EQ(cloud->circuit_state(), CircuitBreaker::State::kClosed);
  expect_error(cloud->complete(greedy("Hi")), ErrorCode::kUnavailable, "HTTP 503");
  EXPECT_EQ(cloud->circuit_state(), CircuitBreaker::State::kOpen);
  expect_error(cloud->complete(greedy("Hi")), ErrorCode::kUnavailable, "circuit open");
  EXPECT_EQ(proxy_->connections(), 2) << "an open circuit sends nothing";

  // After the cool-down one probe goes through; it fails, so the circuit opens again.
  std::this_thread::sleep_for(350ms);
  expect_error(cloud->complete(greedy("Hi")), ErrorCode::kUnavailable, "HTTP 503");
  EXPECT_EQ(proxy_->connections(), 3);
  expect_error(cloud->complete(greedy("Hi")), ErrorCode::kUnavailable, "circuit open");

  // The next probe succeeds and closes it.
  proxy_->set_fault({});
  std::this_thread::sleep_for(350ms);
  auto probe = cloud->complete(greedy("Hi", 4));
  ASSERT_TRUE(probe) << probe.error().message;
  EXPECT_EQ(cloud->circuit_state(), CircuitBreaker::State::kClosed);
  EXPECT_TRUE(cloud->complete(greedy("Hi", 4)));
  EXPECT_EQ(proxy_->connections(), 5);
}

TEST_F(RemoteProviderTest, CancellationReturnsThePartialAnswer) {
  auto cloud = provider(options_for(server_->base_url()));
  expect_cancellation_contract(*cloud);

  auto request = greedy("Hi");
  request.cancel = std::make_shared<std::atomic<bool>>(true);
  auto never_sent = cloud->complete(request);
  ASSERT_TRUE(never_sent);
  EXPECT_EQ(never_sent->attempts, 0);
}

TEST(RemoteProviderOptionsTest, RefusesBadOptionsWithoutEchoingSecrets) {
  for (const std::string url : {"file:///etc/passwd", "gopher://127.0.0.1:70/1", "ftp://127.0.0.1/v1", "127.0.0.1/v1",
                                "http://user:hunter2@127.0.0.1/v1"}) {
    auto created = RemoteProvider::create(options_for(url));
    ASSERT_FALSE(created) << url;
    EXPECT_EQ(created.error().code, ErrorCode::kInvalidArgument) << url;
    EXPECT_EQ(created.error().message.find("hunter2"), std::string::npos);
  }
  auto options = options_for("http://127.0.0.1:9/v1");
  options.api_key_env = "TANDEM_TEST_UNSET_KEY_VARIABLE";
  auto missing_key = RemoteProvider::create(options);
  ASSERT_FALSE(missing_key);
  EXPECT_NE(missing_key.error().message.find("TANDEM_TEST_UNSET_KEY_VARIABLE"), std::string::npos);
}

}  // namespace
}  // namespace tandem::providers
