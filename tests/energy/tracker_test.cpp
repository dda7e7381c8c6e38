#include "energy/tracker.h"

#include <gtest/gtest.h>

namespace tandem::energy {
namespace {

// A meter whose cumulative joules the test sets; it can be told to fail.
class ScriptedMeter final : public EnergyMeter {
 public:
  explicit ScriptedMeter(double* joules, bool* fail) : joules_(joules), fail_(fail) {}
  Result<EnergySample> read() override {
    if (*fail_) return make_error(ErrorCode::kUnavailable, "meter gone");
    return EnergySample{.joules = *joules_, .method = EnergyMethod::kRapl, .scope = "cpu package 0"};
  }
  EnergyMethod method() const override { return EnergyMethod::kRapl; }
  std::string scope() const override { return "cpu package 0"; }

 private:
  double* joules_;
  bool* fail_;
};

class EnergyTrackerTest : public ::testing::Test {
 protected:
  double joules_ = 100;
  bool fail_ = false;
  EnergyTracker tracker_{std::make_unique<ScriptedMeter>(&joules_, &fail_)};
};

TEST_F(EnergyTrackerTest, ARequestAloneGetsEverythingMeasuredWhileItRan) {
  const auto ticket = tracker_.begin();
  joules_ += 36;
  const auto used = tracker_.end(ticket);
  EXPECT_DOUBLE_EQ(used.joules, 36);
  EXPECT_DOUBLE_EQ(used.watt_hours(), 0.01);
  EXPECT_EQ(used.method, EnergyMethod::kRapl);
  EXPECT_EQ(used.scope, "cpu package 0");
  EXPECT_TRUE(used.complete);
}

TEST_F(EnergyTrackerTest, OverlappingRequestsShareEachIntervalEqually) {
  const auto a = tracker_.begin();
  joules_ += 10;  // a alone
  const auto b = tracker_.begin();
  joules_ += 20;  // a and b
  const auto used_a = tracker_.end(a);
  joules_ += 5;  // b alone
  const auto used_b = tracker_.end(b);
  EXPECT_DOUBLE_EQ(used_a.joules, 10 + 10);
  EXPECT_DOUBLE_EQ(used_b.joules, 10 + 5);
  // Nothing measured between requests is charged to anyone.
  joules_ += 1000;
  const auto c = tracker_.begin();
  joules_ += 1;
  EXPECT_DOUBLE_EQ(tracker_.end(c).joules, 1);
}

TEST_F(EnergyTrackerTest, AFailedReadMakesTheFigureALowerBoundAndSaysSo) {
  const auto ticket = tracker_.begin();
  joules_ += 4;
  fail_ = true;
  const auto other = tracker_.begin();  // this read fails
  fail_ = false;
  joules_ += 6;
  const auto used = tracker_.end(ticket);
  EXPECT_FALSE(used.complete);
  EXPECT_DOUBLE_EQ(used.joules, 0);  // the failed read lost the interval's start
  EXPECT_FALSE(tracker_.end(other).complete);
  const auto later = tracker_.begin();
  joules_ += 2;
  const auto fine = tracker_.end(later);
  EXPECT_TRUE(fine.complete);
  EXPECT_DOUBLE_EQ(fine.joules, 2);
}

TEST_F(EnergyTrackerTest, AnUnknownTicketGetsNothing) {
  EXPECT_DOUBLE_EQ(tracker_.end(12345).joules, 0);
}

TEST_F(EnergyTrackerTest, TheFirstTokenSplitsPromptFromGenerationEnergy) {
  const auto a = tracker_.begin();
  joules_ += 8;  // a's prompt, alone
  const auto b = tracker_.begin();
  joules_ += 4;  // a's prompt with b running
  tracker_.first_token(a);
  joules_ += 6;             // a generating with b
  tracker_.first_token(a);  // only the first mark counts
  const auto used = tracker_.end(a);
  EXPECT_TRUE(used.prompt_measured);
  EXPECT_DOUBLE_EQ(used.prompt_joules, 8 + 2);
  EXPECT_DOUBLE_EQ(used.generation_joules(), 3);
  EXPECT_DOUBLE_EQ(used.joules, 13);
  const auto unmarked = tracker_.end(b);
  EXPECT_FALSE(unmarked.prompt_measured);
  EXPECT_DOUBLE_EQ(unmarked.prompt_joules, 0);
}

TEST_F(EnergyTrackerTest, WithoutAMarkThePromptShareFollowsTheEngineTimes) {
  const auto ticket = tracker_.begin();
  joules_ += 40;
  auto used = tracker_.end(ticket);
  used.split_by_time(/*prompt_ms=*/25, /*generation_ms=*/75);
  EXPECT_DOUBLE_EQ(used.prompt_joules, 10);
  EXPECT_DOUBLE_EQ(used.generation_joules(), 30);
  Attribution measured{.joules = 40, .prompt_joules = 30, .prompt_measured = true};
  measured.split_by_time(25, 75);
  EXPECT_DOUBLE_EQ(measured.prompt_joules, 30) << "a measured split is kept";
  Attribution empty{.joules = 5};
  empty.split_by_time(0, 0);
  EXPECT_DOUBLE_EQ(empty.prompt_joules, 0);
}

}  // namespace
}  // namespace tandem::energy
