// Per-key rate limits for `tandem serve`: requests per minute and tokens per minute, answered with
// 429 and a Retry-After that says when the same request would be admitted.
//
//   RateLimiter limiter({.requests_per_minute = 60, .tokens_per_minute = 40'000});
//   if (auto refusal = limiter.admit(key_id, prompt_tokens + max_tokens)) {
//     ApiError e = api_error(make_error(ErrorCode::kResourceExhausted, refusal->message));
//     e.retry_after_s = refusal->retry_after_s;
//     return reply_error(res, e);                                   // 429, Retry-After: 3
//   }
//   auto result = generate(request);
//   limiter.refund(key_id, prompt_tokens + max_tokens - result.used_tokens);
//
// Each key has two token buckets: one of requests, one of tokens. A bucket holds at most its
// per-minute limit (so a key idle for a minute may spend a whole minute's worth at once) and refills
// continuously at limit / 60 per second. A request needs 1 request and `tokens` tokens; both buckets
// are checked before either is charged, so a refused request costs nothing. A limit of 0 is no
// limit. Tokens are charged up front at the caller's estimate (prompt + max_tokens), because the
// real use is known only at the end; refund() gives back what was not used.
//
// A request asking for more tokens than a whole minute allows could never be admitted: it is refused
// at once with a message that says so and retry_after_s = 0 (the server answers 400, which clients
// do not retry). It is not charged.
//
// Memory: a full bucket pair is exactly what an unknown key gets, so dropping it loses nothing.
// When a new key would grow the map to kPruneAtKeys entries or more, every full (idle for long
// enough) pair is dropped; if the keys still there are all busy, the next sweep waits until the map
// has doubled, so sweeps cost O(1) per new key. The map therefore never holds more than kPruneAtKeys
// entries or twice the keys busy at the last sweep, whichever is more; never every key ever seen.
//
// Thread-safety: one RateLimiter may be shared by any number of threads; one mutex guards the
// buckets and is held for a hash lookup and a few arithmetic operations. `now` is called without it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace tandem::server {

struct RateLimits {
  int64_t requests_per_minute = 0;  // 0: unlimited
  int64_t tokens_per_minute = 0;    // 0: unlimited
};

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  // The map size that triggers a sweep of idle keys.
  static constexpr size_t kPruneAtKeys = 10'000;

  // Why a request was refused: the message names the limit(s) reached, never the key, and
  // retry_after_s (>= 1, rounded up) is for the Retry-After header. Callers answer it as
  // kResourceExhausted (HTTP 429), or, when waiting cannot help (retry_after_s 0: the request is
  // larger than a minute's tokens), as kInvalidArgument (HTTP 400), which clients do not retry.
  struct Refusal {
    std::string message;
    int64_t retry_after_s = 0;
  };

  // `now` is injectable so that tests move a fake clock instead of sleeping. Negative limits count
  // as 0 (unlimited); the server validates its settings before this.
  explicit RateLimiter(RateLimits limits, std::function<Clock::time_point()> now = Clock::now);

  // Admits one request of caller `key_id` that will use about `tokens` tokens (prompt estimate +
  // max_tokens) and charges it, or says why not and how long to wait, charging nothing.
  std::optional<Refusal> admit(const std::string& key_id, int64_t tokens);

  // Gives back tokens reserved by admit() that were not used (actual usage known afterwards). The
  // bucket never grows beyond its limit; a key already dropped as idle is left alone.
  void refund(const std::string& key_id, int64_t unused_tokens);

  // How many keys have buckets now (for metrics and tests).
  size_t tracked_keys() const;

 private:
  // Levels are doubles because refill is continuous; they are exact for whole seconds of refill at
  // whole per-minute limits, which is what the tests and most settings use.
  struct Buckets {
    double requests = 0;
    double tokens = 0;
    Clock::time_point refilled_at;
  };

  bool limited() const { return limits_.requests_per_minute > 0 || limits_.tokens_per_minute > 0; }
  // Adds what accrued since refilled_at, capped at the limits.
  void refill(Buckets& buckets, Clock::time_point now) const;
  // Whether both would be at their limits at `now`, like a new key's: then dropping them loses nothing.
  bool full_at(Buckets buckets, Clock::time_point now) const;
  // Buckets of `key_id`, created full for a new key (after a sweep when the map is large).
  Buckets& buckets_of(const std::string& key_id, Clock::time_point now);
  // Drops every pair that is full at `now`; the caller holds mutex_.
  void drop_idle(Clock::time_point now);

  const RateLimits limits_;
  const std::function<Clock::time_point()> now_;

  mutable std::mutex mutex_;  // guards everything below
  std::unordered_map<std::string, Buckets> buckets_by_key_;
  size_t prune_at_ = kPruneAtKeys;
};

}  // namespace tandem::server
