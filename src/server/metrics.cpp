#include "server/metrics.h"

#include <fmt/format.h>

namespace tandem::server {

void Metrics::record(const AnsweredRequest& request) {
  std::lock_guard lock(mutex_);
  PerRoute& r = routes_[request.route];
  ++r.requests;
  r.prompt_tokens += request.prompt_tokens;
  r.completion_tokens += request.completion_tokens;
  r.energy_wh += request.energy_wh;
  r.cost_usd += request.cost_usd;
  r.seconds_sum += request.seconds;
  for (size_t i = 0; i < kLatencyBuckets.size(); ++i) {
    if (request.seconds <= kLatencyBuckets[i]) ++r.buckets[i];
  }
}

std::string Metrics::prometheus_text() const {
  std::lock_guard lock(mutex_);
  std::string out;
  auto family = [&](std::string_view name, std::string_view type, std::string_view help, auto value_of) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    for (const auto& [route, r] : routes_) out += fmt::format("{}{{route=\"{}\"}} {}\n", name, route, value_of(r));
  };
  family("tandem_requests_total", "counter", "Chat requests answered, by where they ran.",
         [](const PerRoute& r) { return r.requests; });
  out +=
      "# HELP tandem_tokens_total Tokens of the answered requests, by route and kind.\n"
      "# TYPE tandem_tokens_total counter\n";
  for (const auto& [route, r] : routes_) {
    out += fmt::format("tandem_tokens_total{{route=\"{}\",kind=\"prompt\"}} {}\n", route, r.prompt_tokens);
    out += fmt::format("tandem_tokens_total{{route=\"{}\",kind=\"completion\"}} {}\n", route, r.completion_tokens);
  }
  family("tandem_energy_wh_total", "counter",
         "Energy of the answers in Wh (measured locally, estimated for the cloud).",
         [](const PerRoute& r) { return r.energy_wh; });
  family("tandem_cost_usd_total", "counter", "Money spent on the answers in USD.",
         [](const PerRoute& r) { return r.cost_usd; });
  out +=
      "# HELP tandem_request_duration_seconds Time from arrival to the last generated token.\n"
      "# TYPE tandem_request_duration_seconds histogram\n";
  for (const auto& [route, r] : routes_) {
    for (size_t i = 0; i < kLatencyBuckets.size(); ++i) {
      out += fmt::format("tandem_request_duration_seconds_bucket{{route=\"{}\",le=\"{}\"}} {}\n", route,
                         kLatencyBuckets[i], r.buckets[i]);
    }
    out += fmt::format("tandem_request_duration_seconds_bucket{{route=\"{}\",le=\"+Inf\"}} {}\n", route, r.requests);
    out += fmt::format("tandem_request_duration_seconds_sum{{route=\"{}\"}} {}\n", route, r.seconds_sum);
    out += fmt::format("tandem_request_duration_seconds_count{{route=\"{}\"}} {}\n", route, r.requests);
  }
  int64_t all = 0;
  int64_t cloud = 0;
  for (const auto& [route, r] : routes_) {
    all += r.requests;
    if (route == "cloud") cloud = r.requests;
  }
  out += fmt::format(
      "# HELP tandem_cloud_share Share of answered requests that the cloud answered.\n"
      "# TYPE tandem_cloud_share gauge\ntandem_cloud_share {}\n",
      all == 0 ? 0.0 : static_cast<double>(cloud) / static_cast<double>(all));
  return out;
}

std::string relearning_prometheus_text(const pipeline::RelearningStatus& status) {
  std::string out;
  auto sample = [&](std::string_view name, std::string_view type, std::string_view help, size_t value) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n{} {}\n", name, help, name, type, name, value);
  };
  sample("tandem_router_learned_examples", "gauge", "Intent examples learned from the large model, in all.",
         status.learned);
  sample("tandem_router_learned_examples_in_use", "gauge",
         "Learned intent examples the intent classifier in service was retrained on.", status.learned_in_use);
  sample("tandem_router_retrainings_total", "counter", "Retrainings of the intent classifier that went into service.",
         status.retrainings);
  sample("tandem_router_retraining_failures_total", "counter", "Retrainings of the intent classifier that failed.",
         status.failures);
  return out;
}

}  // namespace tandem::server
