// What `tandem serve` has answered, in Prometheus' text format at GET /metrics: requests, tokens,
// latency, energy and cost by route, and the cloud's share of routed answers.
//
//   Metrics metrics;
//   metrics.record({.route = "local", .prompt_tokens = 12, .completion_tokens = 40,
//                   .seconds = 0.8, .energy_wh = 0.002, .cost_usd = 0});
//   reply(metrics.prometheus_text());
//   // tandem_requests_total{route="local"} 1
//   // tandem_request_duration_seconds_bucket{route="local",le="1"} 1 ...
//
// Routes are "local", "cloud" and "knowledge" (answers grounded in the user's documents).
// Thread-safety: record() and prometheus_text() may be called from any number of threads.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "pipeline/intent_relearning.h"

namespace tandem::server {

struct AnsweredRequest {
  std::string route = "local";
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  double seconds = 0;  // arrival to last byte generated
  double energy_wh = 0;
  double cost_usd = 0;
};

class Metrics {
 public:
  void record(const AnsweredRequest& request);
  std::string prometheus_text() const;

  // Upper bounds of the latency histogram's buckets, in seconds (+Inf is implied).
  static constexpr std::array<double, 10> kLatencyBuckets = {0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

 private:
  struct PerRoute {
    int64_t requests = 0;
    int64_t prompt_tokens = 0;
    int64_t completion_tokens = 0;
    double energy_wh = 0;
    double cost_usd = 0;
    double seconds_sum = 0;
    std::array<int64_t, kLatencyBuckets.size()> buckets{};  // cumulative counts, as Prometheus wants
  };
  mutable std::mutex mutex_;
  std::map<std::string, PerRoute> routes_;
};

// The intent classifier's relearning (router.relearn_every), for /metrics when it is on.
std::string relearning_prometheus_text(const pipeline::RelearningStatus& status);

}  // namespace tandem::server
