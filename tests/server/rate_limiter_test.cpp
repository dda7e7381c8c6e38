#include "server/rate_limiter.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace tandem::server {
namespace {

using namespace std::chrono_literals;

// A clock that moves only when the test says so. Reads are atomic for the threaded test.
class FakeClock {
 public:
  RateLimiter::Clock::time_point now() const {
    return RateLimiter::Clock::time_point(RateLimiter::Clock::duration(elapsed_ticks_.load()));
  }
  void advance(RateLimiter::Clock::duration by) { elapsed_ticks_ += by.count(); }
  std::function<RateLimiter::Clock::time_point()> source() {
    return [this] { return now(); };
  }

 private:
  // Far from the epoch, like a real steady clock.
  std::atomic<RateLimiter::Clock::rep> elapsed_ticks_{RateLimiter::Clock::duration(1000h).count()};
};

int admitted_in_a_row(RateLimiter& limiter, const std::string& key_id, int64_t tokens, int attempts) {
  int admitted = 0;
  for (int i = 0; i < attempts; ++i) admitted += limiter.admit(key_id, tokens) ? 0 : 1;
  return admitted;
}

TEST(RateLimiterTest, NoLimitsAdmitEverythingAndTrackNothing) {
  FakeClock clock;
  RateLimiter limiter({}, clock.source());
  EXPECT_EQ(admitted_in_a_row(limiter, "k1", 1'000'000, 10'000), 10'000);
  limiter.refund("k1", 5);
  EXPECT_EQ(limiter.tracked_keys(), 0u);
}

TEST(RateLimiterTest, RequestAfterTheMinutesShareWaitsForTheNextRefill) {
  FakeClock clock;
  RateLimiter limiter({.requests_per_minute = 60}, clock.source());
  EXPECT_EQ(admitted_in_a_row(limiter, "k1", 0, 60), 60);

  auto refusal = limiter.admit("k1", 0);
  ASSERT_TRUE(refusal.has_value());
  EXPECT_EQ(refusal->retry_after_s, 1);
  EXPECT_NE(refusal->message.find("60 requests per minute"), std::string::npos) << refusal->message;
  EXPECT_EQ(refusal->message.find("tokens"), std::string::npos) << refusal->message;
  EXPECT_EQ(refusal->message.find("k1"), std::string::npos) << "the message never names the key";

  clock.advance(1s);
  EXPECT_FALSE(limiter.admit("k1", 0).has_value());
  EXPECT_TRUE(limiter.admit("k1", 0).has_value());
}

TEST(RateLimiterTest, RetryAfterIsRoundedUp) {
  FakeClock clock;
  RateLimiter limiter({.requests_per_minute = 7}, clock.source());  // one every 8.57 s
  EXPECT_EQ(admitted_in_a_row(limiter, "k1", 0, 7), 7);
  auto refusal = limiter.admit("k1", 0);
  ASSERT_TRUE(refusal.has_value());
  EXPECT_EQ(refusal->retry_after_s, 9);

  clock.advance(8s);
  ASSERT_TRUE(limiter.admit("k1", 0).has_value());
  clock.advance(1s);
  EXPECT_FALSE(limiter.admit("k1", 0).has_value());
}

TEST(RateLimiterTest, IdleKeyRefillsToOneMinuteAndNoMore) {
  FakeClock clock;
  RateLimiter limiter({.requests_per_minute = 10}, clock.source());
  EXPECT_EQ(admitted_in_a_row(limiter, "k1", 0, 10), 10);
  clock.advance(1h);
  EXPECT_EQ(admitted_in_a_row(limiter, "k1", 0, 20), 10);
}

TEST(RateLimiterTest, TokensPerMinuteRefuseAndRefundGivesBack) {
  FakeClock clock;
  RateLimiter limiter({.tokens_per_minute = 1'000}, clock.source());
  EXPECT_FALSE(limiter.admit("k1", 800).has_value());

  auto refusal = limiter.admit("k1", 300);  // 200 left: 100 more come in 6 s at 16.7 per second
  ASSERT_TRUE(refusal.has_value());
  EXPECT_EQ(refusal->retry_after_s, 6);
  EXPECT_NE(refusal->message.find("1000 tokens per minute"), std::string::npos) << refusal->message;
  EXPECT_EQ(refusal->message.find("requests"), std::string::npos) << refusal->message;

  limiter.refund("k1", 500);  // the 800 reserved used only 300
  EXPECT_FALSE(limiter.admit("k1", 700).has_value());
  EXPECT_TRUE(limiter.admit("k1", 1).has_value());
}

TEST(RateLimiterTest, RefundNeverFillsBeyondTheLimit) {
  FakeClock clock;
  RateLimiter limiter({.tokens_per_minute = 1'000}, clock.source());
  EXPECT_FALSE(limiter.admit("k1", 10).has_value());
  limiter.refund("k1", 1'000'000);
  limiter.refund("unknown", 10);
  limiter.refund("k1", -50);
  EXPECT_FALSE(limiter.admit("k1", 1'000).has_value());
  EXPECT_TRUE(limiter.admit("k1", 1).has_value());
  EXPECT_EQ(limiter.tracked_keys(), 1u);
}

TEST(RateLimiterTest, RefusedRequestChargesNeitherBucket) {
  FakeClock clock;
  {
    // Refused for tokens: its request is not charged.
    RateLimiter limiter({.requests_per_minute = 2, .tokens_per_minute = 100}, clock.source());
    EXPECT_FALSE(limiter.admit("k1", 100).has_value());
    EXPECT_TRUE(limiter.admit("k1", 50).has_value());
    EXPECT_FALSE(limiter.admit("k1", 0).has_value());
    EXPECT_TRUE(limiter.admit("k1", 0).has_value());
  }
  {
    // Refused for requests: its tokens are not charged.
    RateLimiter limiter({.requests_per_minute = 60, .tokens_per_minute = 60}, clock.source());
    EXPECT_EQ(admitted_in_a_row(limiter, "k1", 0, 60), 60);
    EXPECT_TRUE(limiter.admit("k1", 60).has_value());
    clock.advance(1s);
    EXPECT_FALSE(limiter.admit("k1", 60).has_value());
  }
}

TEST(RateLimiterTest, BothLimitsReachedNamesBothAndWaitsForTheLater) {
  FakeClock clock;
  RateLimiter limiter({.requests_per_minute = 60, .tokens_per_minute = 600}, clock.source());
  EXPECT_FALSE(limiter.admit("k1", 600).has_value());
  EXPECT_EQ(admitted_in_a_row(limiter, "k1", 0, 59), 59);
  auto refusal = limiter.admit("k1", 50);  // a request in 1 s, 50 tokens in 5 s
  ASSERT_TRUE(refusal.has_value());
  EXPECT_EQ(refusal->retry_after_s, 5);
  EXPECT_NE(refusal->message.find("60 requests per minute and 600 tokens per minute"), std::string::npos)
      << refusal->message;

  clock.advance(5s);
  EXPECT_FALSE(limiter.admit("k1", 50).has_value());
}

TEST(RateLimiterTest, RequestLargerThanAMinuteOfTokensCanNeverFit) {
  FakeClock clock;
  RateLimiter limiter({.requests_per_minute = 60, .tokens_per_minute = 1'000}, clock.source());
  auto refusal = limiter.admit("k1", 1'001);
  ASSERT_TRUE(refusal.has_value());
  EXPECT_EQ(refusal->retry_after_s, 0);  // waiting cannot help: answered 400, not 429
  EXPECT_NE(refusal->message.find("can never be admitted"), std::string::npos) << refusal->message;
  EXPECT_NE(refusal->message.find("1001 tokens"), std::string::npos) << refusal->message;
  EXPECT_NE(refusal->message.find("1000 tokens per minute"), std::string::npos) << refusal->message;
  EXPECT_NE(refusal->message.find("max_tokens"), std::string::npos) << refusal->message;

  // Nothing was charged: a whole minute's worth still fits, and the request count is intact.
  EXPECT_FALSE(limiter.admit("k1", 1'000).has_value());
  EXPECT_EQ(admitted_in_a_row(limiter, "k1", 0, 60), 59);
}

TEST(RateLimiterTest, KeysAreIndependent) {
  FakeClock clock;
  RateLimiter limiter({.requests_per_minute = 3, .tokens_per_minute = 100}, clock.source());
  EXPECT_EQ(admitted_in_a_row(limiter, "k1", 10, 5), 3);
  EXPECT_EQ(admitted_in_a_row(limiter, "k2", 10, 5), 3);
  EXPECT_FALSE(limiter.admit("k3", 100).has_value());
  EXPECT_TRUE(limiter.admit("k3", 1).has_value());
  EXPECT_FALSE(limiter.admit("k4", 100).has_value());
  EXPECT_EQ(limiter.tracked_keys(), 4u);
}

TEST(RateLimiterTest, NegativeTokensCountAsNone) {
  FakeClock clock;
  RateLimiter limiter({.tokens_per_minute = 10}, clock.source());
  EXPECT_FALSE(limiter.admit("k1", -100).has_value());
  EXPECT_FALSE(limiter.admit("k1", 10).has_value());
  EXPECT_TRUE(limiter.admit("k1", 1).has_value());
}

TEST(RateLimiterTest, ConcurrentAdmitsNeverExceedTheLimit) {
  FakeClock clock;  // never advanced: nothing refills
  constexpr int kThreads = 8;
  constexpr int kAttemptsPerThread = 1'000;
  constexpr int64_t kLimit = 5'000;
  RateLimiter limiter({.requests_per_minute = kLimit, .tokens_per_minute = 10 * kLimit}, clock.source());

  std::atomic<int64_t> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kAttemptsPerThread; ++i) {
        if (!limiter.admit("shared", 3)) ++admitted;
        limiter.admit("own-" + std::to_string(i % 7), 1);  // other keys in the map meanwhile
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(admitted.load(), kLimit);
}

TEST(RateLimiterTest, IdleKeysAreDroppedWhenTheMapGrowsLarge) {
  FakeClock clock;
  RateLimiter limiter({.requests_per_minute = 60}, clock.source());
  const auto key = [](size_t i) { return "key-" + std::to_string(i); };

  // Below the threshold nothing is swept, even when every key is idle.
  for (size_t i = 0; i + 1 < RateLimiter::kPruneAtKeys; ++i) ASSERT_FALSE(limiter.admit(key(i), 0));
  EXPECT_EQ(limiter.tracked_keys(), RateLimiter::kPruneAtKeys - 1);

  // A minute later they are all full again, and the key that reaches the threshold sweeps them.
  clock.advance(60s);
  EXPECT_FALSE(limiter.admit("new", 0).has_value());
  EXPECT_EQ(limiter.tracked_keys(), 1u);
}

TEST(RateLimiterTest, BusyKeysSurviveTheSweepAndKeepTheirState) {
  FakeClock clock;
  RateLimiter limiter({.requests_per_minute = 1}, clock.source());
  const auto key = [](size_t i) { return "key-" + std::to_string(i); };

  // Every key is busy (its one request per minute spent): a sweep may drop none of them.
  const size_t busy_keys = RateLimiter::kPruneAtKeys + 10;
  for (size_t i = 0; i < busy_keys; ++i) ASSERT_FALSE(limiter.admit(key(i), 0));
  EXPECT_EQ(limiter.tracked_keys(), busy_keys);
  for (size_t i = 0; i < busy_keys; i += 997) EXPECT_TRUE(limiter.admit(key(i), 0).has_value()) << key(i);

  // Half a minute on they are still busy, and the map keeps growing past the old threshold without
  // a sweep per new key (the next one waits until the map doubles).
  clock.advance(30s);
  EXPECT_FALSE(limiter.admit("late", 0).has_value());
  EXPECT_EQ(limiter.tracked_keys(), busy_keys + 1);

  // Once idle, the next sweep (when the map has doubled) drops them, keeping the busy ones.
  clock.advance(30s);
  size_t next = busy_keys;
  for (size_t size_before = limiter.tracked_keys();; ++next) {
    ASSERT_FALSE(limiter.admit(key(next), 0));
    if (limiter.tracked_keys() < size_before) break;
    size_before = limiter.tracked_keys();
    ASSERT_LT(next, 3 * busy_keys) << "never swept";
  }
  EXPECT_GT(next, 2 * RateLimiter::kPruneAtKeys - 20) << "swept before the map doubled";
  const size_t added_since = next + 1 - busy_keys;  // all busy: charged a moment ago
  EXPECT_EQ(limiter.tracked_keys(), added_since + 1) << "the new keys and the late one";
  EXPECT_TRUE(limiter.admit("late", 0).has_value()) << "a busy key's state survives the sweep";
  EXPECT_FALSE(limiter.admit(key(0), 0).has_value()) << "a dropped key starts over full";
}

}  // namespace
}  // namespace tandem::server
