#include "server/budgets.h"

#include <gtest/gtest.h>

namespace tandem::server {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;

class DailyBudgetsTest : public ::testing::Test {
 protected:
  // 2026-11-29 23:00:00 UTC: one hour to midnight.
  Clock::time_point now_ = Clock::time_point(std::chrono::days(20'786)) + 23h;
  DailyBudgets::Now clock() {
    return [this] { return now_; };
  }
};

TEST_F(DailyBudgetsTest, AKeyOverItsMoneyBudgetWaitsUntilMidnightUtc) {
  ASSERT_EQ(utc_date(now_), "2026-11-29");
  DailyBudgets budgets({.usd_per_day = 1.0}, clock());
  EXPECT_FALSE(budgets.check("key-a"));
  budgets.charge("key-a", 0.6, 0);
  EXPECT_FALSE(budgets.check("key-a"));  // under the budget: the next answer may cross it
  budgets.charge("key-a", 0.6, 0);
  auto refused = budgets.check("key-a");
  ASSERT_TRUE(refused);
  EXPECT_EQ(refused->retry_after_s, 3600);
  EXPECT_NE(refused->message.find("1 USD"), std::string::npos) << refused->message;
  EXPECT_FALSE(budgets.check("key-b"));  // keys are apart
  now_ += 1h;                            // a new day
  EXPECT_FALSE(budgets.check("key-a"));
}

TEST_F(DailyBudgetsTest, EnergyBudgetsAndNoBudgets) {
  DailyBudgets energy({.wh_per_day = 0.5}, clock());
  energy.charge("key-a", 0, 0.5);
  auto refused = energy.check("key-a");
  ASSERT_TRUE(refused);
  EXPECT_NE(refused->message.find("energy budget of 0.5 Wh"), std::string::npos) << refused->message;

  DailyBudgets none({}, clock());
  none.charge("key-a", 1e9, 1e9);
  EXPECT_FALSE(none.check("key-a"));
  DailyBudgets local_user({.usd_per_day = 0.01}, clock());
  local_user.charge("", 5, 5);
  EXPECT_FALSE(local_user.check(""));  // the single local user has no key and no budget
}

TEST_F(DailyBudgetsTest, TodaysSpendSurvivesARestartThroughTheUsageLog) {
  DailyBudgets budgets({.usd_per_day = 1.0}, clock());
  budgets.seed({{.time = "2026-11-29T08:00:00.000Z", .key_id = "key-a", .cost_usd = 0.7},
                {.time = "2026-11-29T09:00:00.000Z", .key_id = "key-a", .cost_usd = 0.4},
                {.time = "2026-11-28T09:00:00.000Z", .key_id = "key-b", .cost_usd = 9},  // yesterday
                {.time = "2026-11-29T09:00:00.000Z", .key_id = "", .cost_usd = 9}});     // the local user
  EXPECT_TRUE(budgets.check("key-a"));
  EXPECT_FALSE(budgets.check("key-b"));
}

}  // namespace
}  // namespace tandem::server
