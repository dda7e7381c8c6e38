// Enforces a deadline per request by setting the request's cancel flag when it passes; one
// thread serves every request, so a request that never produces a token is still stopped. Given
// the request's connection, it also cancels the request when the client hangs up: an abandoned
// answer (a client that timed out, and may be retrying) stops taking a slot.
//
//   DeadlineWatch watch;
//   auto guard = watch.watch(std::chrono::steady_clock::now() + 300s, request.cancel, socket);
//   auto result = engine.generate(request);  // the engine stops at the next step once cancelled
//   if (guard.hung_up()) return;              // nobody is left to read the answer
//   if (guard.expired()) reply(504);
//
// Thread-safety: watch() may be called from any thread. A Guard belongs to one request and must
// not outlive its DeadlineWatch; destroying it stops the watch (and the socket is not touched
// after that, so it may be closed then).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

namespace tandem::server {

class DeadlineWatch {
  using Clock = std::chrono::steady_clock;
  using Key = std::pair<Clock::time_point, uint64_t>;
  struct Entry {
    std::shared_ptr<std::atomic<bool>> cancel;
    int socket = -1;
    std::atomic<bool> expired{false};
    std::atomic<bool> hung_up{false};
  };

 public:
  class Guard {
   public:
    Guard(Guard&& other) noexcept;
    Guard& operator=(Guard&&) = delete;
    ~Guard();
    bool expired() const { return entry_->expired.load(); }
    bool hung_up() const { return entry_->hung_up.load(); }

   private:
    friend class DeadlineWatch;
    Guard(DeadlineWatch* owner, Key key, std::shared_ptr<Entry> entry)
        : owner_(owner), key_(key), entry_(std::move(entry)) {}
    DeadlineWatch* owner_;
    Key key_;
    std::shared_ptr<Entry> entry_;
  };

  DeadlineWatch();
  ~DeadlineWatch();
  DeadlineWatch(const DeadlineWatch&) = delete;
  DeadlineWatch& operator=(const DeadlineWatch&) = delete;

  // From `deadline` on, *cancel is set to true and the guard reports expired(). With `socket`
  // (the request's connection, >= 0), the same once the peer closes it, and hung_up() says so.
  Guard watch(Clock::time_point deadline, std::shared_ptr<std::atomic<bool>> cancel, int socket = -1);

  // How often connections are looked at; deadlines are kept to the millisecond.
  static constexpr std::chrono::milliseconds kHangUpPoll{200};

 private:
  void run();
  void release(const Key& key);
  void cancel_hung_up();  // with mutex_ held

  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<Key, std::shared_ptr<Entry>> entries_;  // earliest deadline first
  uint64_t next_id_ = 0;
  size_t sockets_ = 0;  // entries with a socket: while there are any, the thread polls
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace tandem::server
