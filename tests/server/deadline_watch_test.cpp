// DeadlineWatch sets the cancel flag at the deadline or when the client hangs up, and never
// after the guard is gone.
#include "server/deadline_watch.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

namespace tandem::server {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

bool wait_for_flag(const std::atomic<bool>& flag, std::chrono::milliseconds timeout) {
  auto until = Clock::now() + timeout;
  while (!flag.load() && Clock::now() < until) std::this_thread::sleep_for(1ms);
  return flag.load();
}

TEST(DeadlineWatchTest, CancelsAtTheDeadline) {
  DeadlineWatch watch;
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  auto start = Clock::now();
  auto guard = watch.watch(start + 50ms, cancel);
  EXPECT_FALSE(guard.expired());
  ASSERT_TRUE(wait_for_flag(*cancel, 5s));
  EXPECT_GE(Clock::now() - start, 50ms);
  EXPECT_TRUE(guard.expired());
}

TEST(DeadlineWatchTest, ReleasedGuardNeverFires) {
  DeadlineWatch watch;
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  { auto guard = watch.watch(Clock::now() + 30ms, cancel); }
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(cancel->load());
}

TEST(DeadlineWatchTest, EarlierDeadlineAddedLaterFiresFirst) {
  DeadlineWatch watch;
  auto late = std::make_shared<std::atomic<bool>>(false);
  auto early = std::make_shared<std::atomic<bool>>(false);
  auto late_guard = watch.watch(Clock::now() + 1h, late);
  auto early_guard = watch.watch(Clock::now() + 20ms, early);
  ASSERT_TRUE(wait_for_flag(*early, 5s));
  EXPECT_FALSE(late->load());
  EXPECT_FALSE(late_guard.expired());
}

TEST(DeadlineWatchTest, MovedGuardKeepsWatching) {
  DeadlineWatch watch;
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  auto guard = watch.watch(Clock::now() + 20ms, cancel);
  DeadlineWatch::Guard moved(std::move(guard));
  ASSERT_TRUE(wait_for_flag(*cancel, 5s));
  EXPECT_TRUE(moved.expired());
}

TEST(DeadlineWatchTest, CancelsWhenThePeerClosesTheConnectionButNotWhenItSendsMore) {
  int ends[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, ends), 0);
  DeadlineWatch watch;
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  auto guard = watch.watch(Clock::now() + 1h, cancel, ends[0]);
  ASSERT_EQ(write(ends[1], "GET / HTTP/1.1\r\n", 16), 16);  // a pipelined request is not a hang-up
  std::this_thread::sleep_for(3 * DeadlineWatch::kHangUpPoll);
  EXPECT_FALSE(cancel->load());
  close(ends[1]);
  ASSERT_TRUE(wait_for_flag(*cancel, 5s));
  EXPECT_TRUE(guard.hung_up());
  EXPECT_FALSE(guard.expired());
  close(ends[0]);
}

TEST(DeadlineWatchTest, ReleasedConnectionIsNotPolled) {
  int ends[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, ends), 0);
  DeadlineWatch watch;
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  { auto guard = watch.watch(Clock::now() + 1h, cancel, ends[0]); }
  close(ends[1]);
  std::this_thread::sleep_for(3 * DeadlineWatch::kHangUpPoll);
  EXPECT_FALSE(cancel->load());
  close(ends[0]);
}

}  // namespace
}  // namespace tandem::server
