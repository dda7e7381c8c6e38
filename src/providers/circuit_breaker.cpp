#include "providers/circuit_breaker.h"

namespace tandem::providers {

CircuitBreaker::CircuitBreaker(Options options, std::function<Clock::time_point()> now)
    : options_(options), now_(std::move(now)) {}

bool CircuitBreaker::try_acquire() {
  std::lock_guard lock(mutex_);
  switch (state_) {
    case State::kClosed:
      return true;
    case State::kOpen:
      if (now_() - opened_at_ < options_.cool_down) return false;
      state_ = State::kHalfOpen;
      probe_in_flight_ = true;
      return true;
    case State::kHalfOpen:
      if (probe_in_flight_) return false;
      probe_in_flight_ = true;
      return true;
  }
  return false;
}

void CircuitBreaker::record(Outcome outcome) {
  std::lock_guard lock(mutex_);
  const bool was_probe = state_ == State::kHalfOpen;
  if (was_probe) probe_in_flight_ = false;
  switch (outcome) {
    case Outcome::kSuccess:
      state_ = State::kClosed;
      consecutive_failures_ = 0;
      break;
    case Outcome::kFailure:
      ++consecutive_failures_;
      if (was_probe || (options_.failure_threshold > 0 && consecutive_failures_ >= options_.failure_threshold)) {
        state_ = State::kOpen;
        opened_at_ = now_();
      }
      break;
    case Outcome::kInconclusive:
      break;
  }
}

CircuitBreaker::State CircuitBreaker::state() const {
  std::lock_guard lock(mutex_);
  return state_;
}

std::string_view circuit_state_name(CircuitBreaker::State state) {
  switch (state) {
    case CircuitBreaker::State::kClosed:
      return "closed";
    case CircuitBreaker::State::kOpen:
      return "open";
    case CircuitBreaker::State::kHalfOpen:
      return "half-open";
  }
  return "unknown";
}

}  // namespace tandem::providers
