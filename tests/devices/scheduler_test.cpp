#include "devices/scheduler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <thread>

namespace tandem::devices {
namespace {

using ::testing::HasSubstr;

Replica replica(std::string device, double pp, double tg, double watts = 0) {
  Replica r;
  r.device = std::move(device);
  r.prompt_tokens_per_second = pp;
  r.generation_tokens_per_second = tg;
  r.watts = watts;
  return r;
}

Work work(int64_t prompt, int64_t max_tokens) {
  Work w;
  w.prompt_tokens = prompt;
  w.max_tokens = max_tokens;
  return w;
}

TEST(ChooseReplica, AnIdleGpuFinishesFirst) {
  auto choice =
      choose_replica({replica("CPU", 400, 40), replica("CUDA0", 8000, 400)}, work(100, 100), Objective::kFastest);
  ASSERT_TRUE(choice) << choice.error().to_string();
  EXPECT_EQ(choice->replica, 1u);
  EXPECT_NEAR(choice->expected_seconds, 100.0 / 8000 + 100.0 / 400, 1e-9);
  EXPECT_THAT(choice->reason, HasSubstr("CUDA0 is expected to finish first"));
}

TEST(ChooseReplica, ABusyGpuLosesToAnIdleCpuWhenItsQueueIsLongEnough) {
  Replica gpu = replica("CUDA0", 8000, 400);
  gpu.queued_generation_tokens = 4000;  // 10 s of generation ahead
  auto choice = choose_replica({replica("CPU", 400, 40), gpu}, work(100, 100), Objective::kFastest);
  ASSERT_TRUE(choice);
  EXPECT_EQ(choice->replica, 0u);  // CPU: 0.25 + 2.5 s; GPU: 10 + 0.26 s
  EXPECT_NEAR(choice->expected_seconds, 100.0 / 400 + 100.0 / 40, 1e-9);
}

TEST(ChooseReplica, LeastEnergyCanPreferTheSlowerDevice) {
  // CUDA0: 0.0125 + 0.25 s at 700 W = 184 J; CPU: 0.25 + 2.5 s at 45 W = 124 J.
  const std::vector<Replica> replicas = {replica("CUDA0", 8000, 400, 700), replica("CPU", 400, 40, 45)};
  auto fastest = choose_replica(replicas, work(100, 100), Objective::kFastest);
  auto frugal = choose_replica(replicas, work(100, 100), Objective::kLeastEnergy);
  ASSERT_TRUE(fastest && frugal);
  EXPECT_EQ(fastest->replica, 0u);
  EXPECT_EQ(frugal->replica, 1u);
  EXPECT_NEAR(frugal->expected_joules, (100.0 / 400 + 100.0 / 40) * 45, 1e-9);
  EXPECT_THAT(frugal->reason, HasSubstr("CPU is expected to use the least energy"));
}

TEST(ChooseReplica, LeastEnergyWithoutPowerFiguresFallsBackToTheFastestAndSaysSo) {
  auto choice =
      choose_replica({replica("CPU", 400, 40), replica("CUDA0", 8000, 400)}, work(10, 10), Objective::kLeastEnergy);
  ASSERT_TRUE(choice);
  EXPECT_EQ(choice->replica, 1u);
  EXPECT_THAT(choice->reason, HasSubstr("no replica has a power figure"));
}

TEST(ChooseReplica, LeastEnergyPassesOverReplicasWithoutAPowerFigure) {
  auto choice =
      choose_replica({replica("CUDA0", 8000, 400), replica("CPU", 400, 40, 45)}, work(10, 10), Objective::kLeastEnergy);
  ASSERT_TRUE(choice);
  EXPECT_EQ(choice->replica, 1u);
}

TEST(ChooseReplica, BadInputIsAClearError) {
  EXPECT_EQ(choose_replica({}, work(1, 1), Objective::kFastest).error().code, ErrorCode::kInvalidArgument);
  auto unmeasured = choose_replica({replica("RPC0", 0, 10)}, work(1, 1), Objective::kFastest);
  ASSERT_FALSE(unmeasured);
  EXPECT_THAT(unmeasured.error().message, HasSubstr("RPC0 has no measured throughput"));
  EXPECT_FALSE(choose_replica({replica("CPU", 1, 1)}, work(-1, 1), Objective::kFastest));
}

TEST(Scheduler, QueuesSpreadRequestsAndReleaseEmptiesThem) {
  // Two equal replicas: the second request goes where the first did not.
  Scheduler scheduler({replica("CUDA0", 1000, 100), replica("CUDA1", 1000, 100)});
  auto first = scheduler.acquire(work(100, 100), Objective::kFastest);
  auto second = scheduler.acquire(work(100, 100), Objective::kFastest);
  ASSERT_TRUE(first && second);
  EXPECT_NE(first->replica, second->replica);
  EXPECT_EQ(scheduler.replicas()[first->replica].queued_generation_tokens, 100);
  scheduler.release(*first);
  scheduler.release(*second);
  for (const auto& r : scheduler.replicas()) {
    EXPECT_EQ(r.queued_prompt_tokens, 0);
    EXPECT_EQ(r.queued_generation_tokens, 0);
  }
}

TEST(Scheduler, MeasuredRatesMoveTheFiguresAndChangeTheChoice) {
  // The configured guess says CUDA0 is fast; what it really does (10 tokens/s) wins over time.
  Scheduler scheduler({replica("CUDA0", 1000, 100), replica("CPU", 200, 40)});
  auto first = scheduler.acquire(work(100, 100), Objective::kFastest);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->replica, 0U);
  scheduler.release(*first);
  scheduler.observe(0, 50, 10);
  EXPECT_DOUBLE_EQ(scheduler.replicas()[0].generation_tokens_per_second, 100 + 0.2 * (10 - 100));
  EXPECT_DOUBLE_EQ(scheduler.replicas()[0].prompt_tokens_per_second, 1000 + 0.2 * (50 - 1000));
  for (int i = 0; i < 20; ++i) scheduler.observe(0, 50, 10);
  scheduler.observe(1, 0, -1);  // nothing measured: unchanged
  EXPECT_DOUBLE_EQ(scheduler.replicas()[1].generation_tokens_per_second, 40);
  auto later = scheduler.acquire(work(100, 100), Objective::kFastest);
  ASSERT_TRUE(later);
  EXPECT_EQ(later->replica, 1U);
  EXPECT_THAT(later->choice.reason, HasSubstr("CPU is expected to finish first"));
}

TEST(Scheduler, ConcurrentCallersKeepTheQueuesConsistent) {
  Scheduler scheduler({replica("CUDA0", 1000, 100), replica("CPU", 100, 10)});
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        auto ticket = scheduler.acquire(work(10, 20), Objective::kFastest);
        ASSERT_TRUE(ticket);
        scheduler.release(*ticket);
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : scheduler.replicas()) EXPECT_EQ(r.queued_generation_tokens, 0);
}

}  // namespace
}  // namespace tandem::devices
