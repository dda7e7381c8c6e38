// A circuit breaker for one provider: after `failure_threshold` consecutive failures it opens and
// refuses calls at once; after `cool_down` it lets exactly one probe through (half-open); the
// probe's success closes it, its failure opens it for another cool-down.
//
//   CircuitBreaker breaker({.failure_threshold = 5, .cool_down = std::chrono::seconds(30)});
//   if (!breaker.try_acquire()) return make_error(ErrorCode::kUnavailable, "circuit open");
//   auto outcome = call();
//   breaker.record(outcome ? CircuitBreaker::Outcome::kSuccess : CircuitBreaker::Outcome::kFailure);
//
// Every successful try_acquire must be followed by exactly one record.
// Thread-safety: all member functions may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string_view>

namespace tandem::providers {

class CircuitBreaker {
 public:
  using Clock = std::chrono::steady_clock;
  enum class State { kClosed, kOpen, kHalfOpen };
  enum class Outcome {
    kSuccess,       // the provider answered (a 4xx about the request counts: the provider is up)
    kFailure,       // the provider failed (connection, timeout, 5xx, 429, malformed answer)
    kInconclusive,  // nothing learnt (the caller cancelled); a half-open probe may be retried
  };

  struct Options {
    int32_t failure_threshold = 5;  // <= 0: never opens
    std::chrono::milliseconds cool_down{30000};
  };

  // `now` is injectable for tests.
  explicit CircuitBreaker(Options options, std::function<Clock::time_point()> now = Clock::now);

  // True when a call may go ahead now: closed, or the one half-open probe.
  bool try_acquire();
  void record(Outcome outcome);
  State state() const;

 private:
  const Options options_;
  const std::function<Clock::time_point()> now_;
  mutable std::mutex mutex_;
  State state_ = State::kClosed;
  int32_t consecutive_failures_ = 0;
  Clock::time_point opened_at_{};
  bool probe_in_flight_ = false;
};

std::string_view circuit_state_name(CircuitBreaker::State state);  // "closed", "open", "half-open"

}  // namespace tandem::providers
