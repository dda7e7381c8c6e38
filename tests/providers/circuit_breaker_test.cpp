// CircuitBreaker's state machine on a fake clock.
#include "providers/circuit_breaker.h"

#include <gtest/gtest.h>

namespace tandem::providers {
namespace {

using namespace std::chrono_literals;
using State = CircuitBreaker::State;
using Outcome = CircuitBreaker::Outcome;

class CircuitBreakerTest : public ::testing::Test {
 protected:
  CircuitBreaker::Clock::time_point now_{};
  CircuitBreaker breaker_{{.failure_threshold = 3, .cool_down = 10s}, [this] { return now_; }};

  void fail_once() {
    ASSERT_TRUE(breaker_.try_acquire());
    breaker_.record(Outcome::kFailure);
  }
};

TEST_F(CircuitBreakerTest, OpensAfterConsecutiveFailuresOnly) {
  fail_once();
  fail_once();
  ASSERT_TRUE(breaker_.try_acquire());
  breaker_.record(Outcome::kSuccess);  // resets the count
  fail_once();
  fail_once();
  EXPECT_EQ(breaker_.state(), State::kClosed);
  fail_once();
  EXPECT_EQ(breaker_.state(), State::kOpen);
  EXPECT_FALSE(breaker_.try_acquire());
}

TEST_F(CircuitBreakerTest, HalfOpenLetsOneProbeThrough) {
  for (int i = 0; i < 3; ++i) fail_once();
  now_ += 9s;
  EXPECT_FALSE(breaker_.try_acquire());
  now_ += 1s;
  EXPECT_TRUE(breaker_.try_acquire());
  EXPECT_EQ(breaker_.state(), State::kHalfOpen);
  EXPECT_FALSE(breaker_.try_acquire()) << "only one probe at a time";

  breaker_.record(Outcome::kFailure);  // the probe failed: a fresh cool-down
  EXPECT_EQ(breaker_.state(), State::kOpen);
  now_ += 5s;
  EXPECT_FALSE(breaker_.try_acquire());
  now_ += 5s;
  ASSERT_TRUE(breaker_.try_acquire());
  breaker_.record(Outcome::kSuccess);
  EXPECT_EQ(breaker_.state(), State::kClosed);
  EXPECT_TRUE(breaker_.try_acquire());
}

TEST_F(CircuitBreakerTest, InconclusiveProbeFreesTheSlot) {
  for (int i = 0; i < 3; ++i) fail_once();
  now_ += 10s;
  ASSERT_TRUE(breaker_.try_acquire());
  breaker_.record(Outcome::kInconclusive);
  EXPECT_EQ(breaker_.state(), State::kHalfOpen);
  EXPECT_TRUE(breaker_.try_acquire()) << "a cancelled probe lets the next call probe";
}

}  // namespace
}  // namespace tandem::providers
