// Daily budgets per API key: money (USD) and energy (Wh) spent on answers since midnight UTC. A
// key over either budget gets 429 with a Retry-After that runs to the next midnight UTC.
//
//   DailyBudgets budgets({.usd_per_day = 5, .wh_per_day = 50});
//   budgets.seed(*energy::read_usage(config.energy_usage_log));   // what today already spent
//   if (auto refusal = budgets.check(caller.key_id)) return reply_429(*refusal);
//   ...answer...
//   budgets.charge(caller.key_id, usage.cost_usd, usage.energy_wh);
//
// An answer is charged when it is done, so the request that crosses a budget is still answered;
// the next one is refused. The spend survives a restart through the usage log (seed()).
// Thread-safety: check(), charge() and seed() may be called from any number of threads.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "energy/usage_ledger.h"
#include "server/rate_limiter.h"

namespace tandem::server {

struct Budgets {
  double usd_per_day = 0;  // 0: no budget
  double wh_per_day = 0;   // 0: no budget
};

class DailyBudgets {
 public:
  using Now = std::function<std::chrono::system_clock::time_point()>;
  explicit DailyBudgets(Budgets budgets, Now now = std::chrono::system_clock::now);

  // Adds today's records (those with a key) to what each key has spent.
  void seed(const std::vector<energy::UsageRecord>& records);
  std::optional<RateLimiter::Refusal> check(const std::string& key_id);
  void charge(const std::string& key_id, double usd, double wh);

 private:
  struct Spent {
    double usd = 0;
    double wh = 0;
  };
  // Starts a new day's accounts when the UTC date has changed. Needs mutex_.
  void roll_over_locked(std::chrono::system_clock::time_point now);

  const Budgets budgets_;
  const Now now_;
  std::mutex mutex_;
  int64_t day_ = -1;  // days since the epoch, UTC
  std::unordered_map<std::string, Spent> spent_;
};

// "YYYY-MM-DD" of a time point, UTC.
std::string utc_date(std::chrono::system_clock::time_point when);

}  // namespace tandem::server
