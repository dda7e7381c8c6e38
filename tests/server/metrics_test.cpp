#include "server/metrics.h"

#include <gtest/gtest.h>

namespace tandem::server {
namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos || text.starts_with(line + "\n");
}

TEST(MetricsTest, CountsTokensEnergyCostAndLatencyByRoute) {
  Metrics metrics;
  metrics.record({.route = "local", .prompt_tokens = 10, .completion_tokens = 5, .seconds = 0.3, .energy_wh = 0.5});
  metrics.record({.route = "local", .prompt_tokens = 2, .completion_tokens = 1, .seconds = 7, .energy_wh = 0.25});
  metrics.record(
      {.route = "cloud", .prompt_tokens = 4, .completion_tokens = 8, .seconds = 1.5, .energy_wh = 1, .cost_usd = 0.02});
  const std::string text = metrics.prometheus_text();
  EXPECT_TRUE(has_line(text, R"(tandem_requests_total{route="local"} 2)")) << text;
  EXPECT_TRUE(has_line(text, R"(tandem_requests_total{route="cloud"} 1)"));
  EXPECT_TRUE(has_line(text, R"(tandem_tokens_total{route="local",kind="prompt"} 12)"));
  EXPECT_TRUE(has_line(text, R"(tandem_tokens_total{route="cloud",kind="completion"} 8)"));
  EXPECT_TRUE(has_line(text, R"(tandem_energy_wh_total{route="local"} 0.75)"));
  EXPECT_TRUE(has_line(text, R"(tandem_cost_usd_total{route="cloud"} 0.02)"));
  // Cumulative buckets: 0.3 s falls in le=0.5 and above; 7 s only from le=10.
  EXPECT_TRUE(has_line(text, R"(tandem_request_duration_seconds_bucket{route="local",le="0.25"} 0)"));
  EXPECT_TRUE(has_line(text, R"(tandem_request_duration_seconds_bucket{route="local",le="0.5"} 1)"));
  EXPECT_TRUE(has_line(text, R"(tandem_request_duration_seconds_bucket{route="local",le="10"} 2)"));
  EXPECT_TRUE(has_line(text, R"(tandem_request_duration_seconds_bucket{route="local",le="+Inf"} 2)"));
  EXPECT_TRUE(has_line(text, R"(tandem_request_duration_seconds_count{route="local"} 2)"));
  EXPECT_TRUE(has_line(text, "tandem_cloud_share 0.3333333333333333"));
  EXPECT_TRUE(has_line(text, "# TYPE tandem_request_duration_seconds histogram"));
}

TEST(MetricsTest, NothingAnsweredYetIsAValidEmptyExposition) {
  const std::string text = Metrics().prometheus_text();
  EXPECT_TRUE(has_line(text, "tandem_cloud_share 0"));
  EXPECT_EQ(text.find("route="), std::string::npos);
}

}  // namespace
}  // namespace tandem::server
