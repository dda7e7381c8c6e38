#include "server/rate_limiter.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace tandem::server {
namespace {

RateLimits without_negatives(RateLimits limits) {
  limits.requests_per_minute = std::max<int64_t>(limits.requests_per_minute, 0);
  limits.tokens_per_minute = std::max<int64_t>(limits.tokens_per_minute, 0);
  return limits;
}

// Seconds until a bucket refilling at `per_minute` / 60 per second holds `needed`, from `level`.
double seconds_until(double level, double needed, int64_t per_minute) {
  return level >= needed ? 0.0 : (needed - level) * 60.0 / static_cast<double>(per_minute);
}

}  // namespace

RateLimiter::RateLimiter(RateLimits limits, std::function<Clock::time_point()> now)
    : limits_(without_negatives(limits)), now_(std::move(now)) {}

void RateLimiter::refill(Buckets& buckets, Clock::time_point now) const {
  // now_() is read outside the lock, so a thread may arrive with a time slightly older than the
  // last one used: it just refills nothing.
  if (now <= buckets.refilled_at) return;
  const double elapsed_s = std::chrono::duration<double>(now - buckets.refilled_at).count();
  const auto rpm = static_cast<double>(limits_.requests_per_minute);
  const auto tpm = static_cast<double>(limits_.tokens_per_minute);
  buckets.requests = std::min(rpm, buckets.requests + elapsed_s * rpm / 60.0);
  buckets.tokens = std::min(tpm, buckets.tokens + elapsed_s * tpm / 60.0);
  buckets.refilled_at = now;
}

bool RateLimiter::full_at(Buckets buckets, Clock::time_point now) const {
  refill(buckets, now);
  // An unlimited dimension has capacity 0 and so is always full.
  return buckets.requests >= static_cast<double>(limits_.requests_per_minute) &&
         buckets.tokens >= static_cast<double>(limits_.tokens_per_minute);
}

void RateLimiter::drop_idle(Clock::time_point now) {
  std::erase_if(buckets_by_key_, [&](const auto& entry) { return full_at(entry.second, now); });
  prune_at_ = std::max(kPruneAtKeys, 2 * buckets_by_key_.size());
}

RateLimiter::Buckets& RateLimiter::buckets_of(const std::string& key_id, Clock::time_point now) {
  if (auto found = buckets_by_key_.find(key_id); found != buckets_by_key_.end()) {
    refill(found->second, now);
    return found->second;
  }
  if (buckets_by_key_.size() + 1 >= prune_at_) drop_idle(now);
  Buckets fresh{static_cast<double>(limits_.requests_per_minute), static_cast<double>(limits_.tokens_per_minute), now};
  return buckets_by_key_.emplace(key_id, fresh).first->second;
}

std::optional<RateLimiter::Refusal> RateLimiter::admit(const std::string& key_id, int64_t tokens) {
  if (!limited()) return std::nullopt;
  tokens = std::max<int64_t>(tokens, 0);

  if (limits_.tokens_per_minute > 0 && tokens > limits_.tokens_per_minute) {
    return Refusal{"this request may use up to " + std::to_string(tokens) +
                       " tokens (prompt + max_tokens), more than the limit of " +
                       std::to_string(limits_.tokens_per_minute) +
                       " tokens per minute, so it can never be admitted: lower max_tokens or shorten the prompt",
                   0};
  }

  const Clock::time_point now = now_();
  std::lock_guard lock(mutex_);
  Buckets& buckets = buckets_of(key_id, now);

  const bool requests_short = limits_.requests_per_minute > 0 && buckets.requests < 1.0;
  const bool tokens_short = limits_.tokens_per_minute > 0 && buckets.tokens < static_cast<double>(tokens);
  if (!requests_short && !tokens_short) {
    if (limits_.requests_per_minute > 0) buckets.requests -= 1.0;
    if (limits_.tokens_per_minute > 0) buckets.tokens -= static_cast<double>(tokens);
    return std::nullopt;
  }

  double wait_s = 0;
  std::string reached;
  if (requests_short) {
    wait_s = seconds_until(buckets.requests, 1.0, limits_.requests_per_minute);
    reached = std::to_string(limits_.requests_per_minute) + " requests per minute";
  }
  if (tokens_short) {
    wait_s = std::max(wait_s, seconds_until(buckets.tokens, static_cast<double>(tokens), limits_.tokens_per_minute));
    if (!reached.empty()) reached += " and ";
    reached += std::to_string(limits_.tokens_per_minute) + " tokens per minute";
  }
  const int64_t retry_after_s = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(wait_s)));
  return Refusal{"rate limit reached: " + reached + "; retry after " + std::to_string(retry_after_s) + " s",
                 retry_after_s};
}

void RateLimiter::refund(const std::string& key_id, int64_t unused_tokens) {
  if (limits_.tokens_per_minute <= 0 || unused_tokens <= 0) return;
  std::lock_guard lock(mutex_);
  auto found = buckets_by_key_.find(key_id);
  if (found == buckets_by_key_.end()) return;
  Buckets& buckets = found->second;
  buckets.tokens =
      std::min(static_cast<double>(limits_.tokens_per_minute), buckets.tokens + static_cast<double>(unused_tokens));
}

size_t RateLimiter::tracked_keys() const {
  std::lock_guard lock(mutex_);
  return buckets_by_key_.size();
}

}  // namespace tandem::server
