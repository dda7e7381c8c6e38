// A fault-injecting HTTP proxy on loopback for provider tests: it relays requests to a real
// upstream (llama-server), records what it received and, on demand, answers with the failures a
// public cloud produces.
//
//   auto proxy = FaultProxy::start(llama_server_port);
//   ASSERT_TRUE(proxy) << proxy.error().message;
//   (*proxy)->set_fault({.kind = FaultKind::kStatus, .times = 2, .status = 429, .retry_after_s = 1});
//   provider options.base_url = (*proxy)->base_url();     // two 429s, then pass-through
//   // ~FaultProxy stops accepting, wakes hanging connections and joins every thread.
//
// Each connection carries one request (the proxy answers with Connection: close). Its own sockets
// give it what an HTTP server library hides: closing without an answer and real TCP resets.
// Thread-safety: set_fault and the counters may be called from any thread while requests run.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"

namespace tandem::testing {

enum class FaultKind {
  kPassThrough,       // relay to the upstream; streams are relayed event by event
  kStatus,            // answer `status` with an OpenAI error body that echoes the Authorization
                      // header (as careless servers do), plus Retry-After when retry_after_s >= 0
  kGarbageJson,       // 200 with a body that is not JSON; a stream gets an event that is not JSON
  kHang,              // read the request, then answer nothing for `hang` (or until the proxy stops)
  kResetMidStream,    // relay `after_events` events of the upstream answer, then reset the connection
  kCloseImmediately,  // reset the connection before reading the request
};

struct Fault {
  FaultKind kind = FaultKind::kPassThrough;
  int times = -1;          // requests that get the fault before the proxy passes through; -1: all
  int status = 503;        // kStatus
  int retry_after_s = -1;  // kStatus: seconds for Retry-After; < 0: no header
  int after_events = 2;    // kResetMidStream
  std::chrono::milliseconds hang{std::chrono::seconds(30)};  // kHang
};

class FaultProxy {
 public:
  static Result<std::unique_ptr<FaultProxy>> start(int upstream_port);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  int port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  void set_fault(const Fault& fault);
  int connections() const { return connections_.load(); }  // every attempt opens one
  std::string last_authorization() const;
  // Every request body received, in order: what left the device.
  std::vector<std::string> request_bodies() const;

 private:
  FaultProxy(int listen_fd, int port, int upstream_port);
  void accept_loop();
  void serve(int fd);
  Fault next_fault();
  bool relay(int fd, const std::string& path, const std::string& body, const std::string& authorization, bool streaming,
             const Fault& fault);

  const int listen_fd_;
  const int port_;
  const int upstream_port_;
  std::atomic<bool> stopping_{false};
  std::atomic<int> connections_{0};
  mutable std::mutex mutex_;  // guards fault_, last_authorization_, request_bodies_, workers_
  Fault fault_;
  std::string last_authorization_;
  std::vector<std::string> request_bodies_;
  std::vector<std::thread> workers_;
  std::thread acceptor_;
};

}  // namespace tandem::testing
