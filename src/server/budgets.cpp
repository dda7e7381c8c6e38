#include "server/budgets.h"

#include <fmt/format.h>

#include <ctime>

namespace tandem::server {
namespace {

int64_t days_since_epoch(std::chrono::system_clock::time_point when) {
  return std::chrono::duration_cast<std::chrono::days>(when.time_since_epoch()).count();
}

}  // namespace

std::string utc_date(std::chrono::system_clock::time_point when) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(when);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  return fmt::format("{:04}-{:02}-{:02}", utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday);
}

DailyBudgets::DailyBudgets(Budgets budgets, Now now) : budgets_(budgets), now_(std::move(now)) {}

void DailyBudgets::roll_over_locked(std::chrono::system_clock::time_point now) {
  const int64_t today = days_since_epoch(now);
  if (today == day_) return;
  day_ = today;
  spent_.clear();
}

void DailyBudgets::seed(const std::vector<energy::UsageRecord>& records) {
  const auto now = now_();
  const std::string today = utc_date(now);
  std::lock_guard lock(mutex_);
  roll_over_locked(now);
  for (const auto& r : records) {
    if (r.key_id.empty() || !r.time.starts_with(today)) continue;
    spent_[r.key_id].usd += r.cost_usd;
    spent_[r.key_id].wh += r.energy_wh;
  }
}

std::optional<RateLimiter::Refusal> DailyBudgets::check(const std::string& key_id) {
  if (key_id.empty() || (budgets_.usd_per_day <= 0 && budgets_.wh_per_day <= 0)) return std::nullopt;
  const auto now = now_();
  std::lock_guard lock(mutex_);
  roll_over_locked(now);
  const Spent spent = spent_[key_id];
  std::string over;
  if (budgets_.usd_per_day > 0 && spent.usd >= budgets_.usd_per_day) {
    over = fmt::format("the daily budget of {} USD (spent {:.4f})", budgets_.usd_per_day, spent.usd);
  } else if (budgets_.wh_per_day > 0 && spent.wh >= budgets_.wh_per_day) {
    over = fmt::format("the daily energy budget of {} Wh (spent {:.4f})", budgets_.wh_per_day, spent.wh);
  } else {
    return std::nullopt;
  }
  const auto midnight = std::chrono::system_clock::time_point(std::chrono::days(day_ + 1));
  const auto wait = std::chrono::ceil<std::chrono::seconds>(midnight - now).count();
  return RateLimiter::Refusal{fmt::format("this key has used {}; it renews at midnight UTC", over),
                              std::max<int64_t>(1, wait)};
}

void DailyBudgets::charge(const std::string& key_id, double usd, double wh) {
  if (key_id.empty()) return;
  const auto now = now_();
  std::lock_guard lock(mutex_);
  roll_over_locked(now);
  spent_[key_id].usd += usd;
  spent_[key_id].wh += wh;
}

}  // namespace tandem::server
