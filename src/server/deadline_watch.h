// Enforces a deadline per request by setting the request's cancel flag when it passes; one
// thread serves every request, so a request that never produces a token is still stopped.
//
//   DeadlineWatch watch;
//   auto guard = watch.watch(std::chrono::steady_clock::now() + 300s, request.cancel);
//   auto result = engine.generate(request);  // the engine stops at the next step once cancelled
//   if (guard.expired()) reply(504);
//
// Thread-safety: watch() may be called from any thread. A Guard belongs to one request and must
// not outlive its DeadlineWatch; destroying it stops the watch.
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
    std::atomic<bool> expired{false};
  };

 public:
  class Guard {
   public:
    Guard(Guard&& other) noexcept;
    Guard& operator=(Guard&&) = delete;
    ~Guard();
    bool expired() const { return entry_->expired.load(); }

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

  // From `deadline` on, *cancel is set to true and the guard reports expired().
  Guard watch(Clock::time_point deadline, std::shared_ptr<std::atomic<bool>> cancel);

 private:
  void run();
  void release(const Key& key);

  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<Key, std::shared_ptr<Entry>> entries_;  // earliest deadline first
  uint64_t next_id_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace tandem::server
