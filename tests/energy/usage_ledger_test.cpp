#include "energy/usage_ledger.h"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <thread>

#include "support/test_support.h"

namespace tandem::energy {
namespace {

using tandem::testing::TempDir;

TEST(UsageLedgerTest, AppendsFromManyThreadsAndReadsEveryRecordBack) {
  TempDir dir;
  const std::string path = dir.file("sub/usage.jsonl");
  auto ledger = UsageLedger::open(path);
  ASSERT_TRUE(ledger) << ledger.error().message;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        ASSERT_TRUE((*ledger)->append({.tenant = "acme", .route = "local", .prompt_tokens = 1, .energy_wh = 0.5}));
      }
    });
  }
  for (auto& t : threads) t.join();
  auto records = read_usage(path);
  ASSERT_TRUE(records) << records.error().message;
  ASSERT_EQ(records->size(), 100U);
  EXPECT_EQ(records->front().tenant, "acme");
  EXPECT_EQ(records->front().time.back(), 'Z');
}

TEST(UsageLedgerTest, SummarizesByRouteAndAgainstAnAllCloudBaseline) {
  const std::vector<UsageRecord> records = {
      {.time = "2026-11-28T10:00:00.000Z",
       .route = "local",
       .prompt_tokens = 400,
       .completion_tokens = 600,
       .energy_wh = 0.1,
       .energy_method = "rapl",
       .co2_g = 0.04,
       .cost_usd = 0},
      {.time = "2026-11-29T10:00:00.000Z",
       .route = "cloud",
       .prompt_tokens = 1000,
       .completion_tokens = 1000,
       .energy_wh = 1.2,
       .energy_method = "estimate",
       .co2_g = 0.5,
       .cost_usd = 0.03},
      {.time = "2026-11-29T11:00:00.000Z",
       .route = "knowledge",
       .prompt_tokens = 0,
       .completion_tokens = 2000,
       .energy_wh = 0.3,
       .energy_method = "rapl",
       .co2_g = 0.12,
       .cost_usd = 0},
  };
  const CloudBaseline baseline{
      .wh_per_1k_tokens = 0.6, .input_usd_per_mtok = 2.5, .output_usd_per_mtok = 10, .grid_gco2_per_kwh = 400};
  const auto report = summarize_usage(records, baseline);
  EXPECT_EQ(report.total.answers, 3);
  EXPECT_EQ(report.total.tokens, 5000);
  EXPECT_DOUBLE_EQ(report.total.energy_wh, 1.6);
  EXPECT_DOUBLE_EQ(report.by_route.at("cloud").cost_usd, 0.03);
  // Baseline: the cloud answer as it was, the others at 0.6 Wh per 1k tokens and the cloud's prices.
  EXPECT_DOUBLE_EQ(report.all_cloud.energy_wh, 1.2 + 0.6 + 1.2);
  EXPECT_DOUBLE_EQ(report.all_cloud.cost_usd, 0.03 + (400 * 2.5 + 600 * 10) / 1e6 + (2000 * 10) / 1e6);
  EXPECT_DOUBLE_EQ(report.all_cloud.co2_g, 0.5 + 0.6 * 0.4 + 1.2 * 0.4);
  EXPECT_DOUBLE_EQ(report.energy_wh_by_day.at("2026-11-29").at("knowledge"), 0.3);
  EXPECT_EQ(report.answers_by_method.at("rapl"), 2);
}

TEST(UsageLedgerTest, AMissingFileIsNoUsageAndAMalformedLineIsNamed) {
  TempDir dir;
  auto none = read_usage(dir.file("missing.jsonl"));
  ASSERT_TRUE(none);
  EXPECT_TRUE(none->empty());
  const std::string path = dir.file("usage.jsonl");
  {
    auto ledger = UsageLedger::open(path);
    ASSERT_TRUE(ledger);
    ASSERT_TRUE((*ledger)->append({.route = "local"}));
  }
  std::ofstream(path, std::ios::app) << "{\"route\": 3}\n";
  auto broken = read_usage(path);
  ASSERT_FALSE(broken);
  EXPECT_EQ(broken.error().code, ErrorCode::kDataLoss);
  EXPECT_NE(broken.error().message.find("line 2"), std::string::npos);
}

TEST(UsageLedgerTest, KeepsLatencyAndAveragesItOverTheAnswersThatRecordedIt) {
  TempDir dir;
  const std::string path = dir.file("usage.jsonl");
  {
    auto ledger = UsageLedger::open(path);
    ASSERT_TRUE(ledger);
    ASSERT_TRUE((*ledger)->append({.route = "local", .latency_ms = 300}));
    ASSERT_TRUE((*ledger)->append({.route = "local", .latency_ms = 100}));
  }
  // A record written before latency was kept counts as an answer, not as a zero latency.
  std::ofstream(path, std::ios::app) << R"({"time": "2026-11-28T10:00:00.000Z", "tenant": "local", "route": "local",)"
                                     << R"( "prompt_tokens": 1, "completion_tokens": 1, "energy_wh": 0,)"
                                     << R"( "energy_method": "rapl", "co2_g": 0, "cost_usd": 0})"
                                     << "\n";
  auto records = read_usage(path);
  ASSERT_TRUE(records) << records.error().message;
  ASSERT_EQ(records->size(), 3U);
  EXPECT_DOUBLE_EQ((*records)[0].latency_ms, 300);
  EXPECT_DOUBLE_EQ((*records)[2].latency_ms, 0);
  const auto report = summarize_usage(*records, {});
  EXPECT_EQ(report.total.answers, 3);
  EXPECT_EQ(report.total.timed_answers, 2);
  EXPECT_DOUBLE_EQ(report.total.mean_latency_ms(), 200);
  EXPECT_DOUBLE_EQ(UsageTotals{}.mean_latency_ms(), 0);
}

TEST(UsageLedgerTest, SummarizesEachDayAgainstItsOwnBaseline) {
  const std::vector<UsageRecord> records = {
      {.time = "2026-11-28T23:59:59.000Z", .route = "local", .prompt_tokens = 500, .completion_tokens = 500},
      {.time = "2026-11-29T00:00:01.000Z", .route = "cloud", .prompt_tokens = 10, .energy_wh = 0.2, .cost_usd = 0.01},
      {.time = "2026-11-29T08:00:00.000Z", .route = "knowledge", .completion_tokens = 2000, .energy_wh = 0.1},
  };
  const CloudBaseline baseline{.wh_per_1k_tokens = 0.6, .output_usd_per_mtok = 10};
  const auto days = summarize_usage_by_day(records, baseline);
  ASSERT_EQ(days.size(), 2U);
  EXPECT_EQ(days.at("2026-11-28").total.answers, 1);
  EXPECT_DOUBLE_EQ(days.at("2026-11-28").all_cloud.energy_wh, 0.6);
  const auto& second = days.at("2026-11-29");
  EXPECT_EQ(second.total.answers, 2);
  EXPECT_EQ(second.by_route.at("cloud").answers, 1);
  EXPECT_DOUBLE_EQ(second.all_cloud.energy_wh, 0.2 + 1.2);
  EXPECT_DOUBLE_EQ(second.all_cloud.cost_usd, 0.01 + 2000 * 10 / 1e6);
  // The days add up to the whole.
  const auto whole = summarize_usage(records, baseline);
  EXPECT_DOUBLE_EQ(days.at("2026-11-28").all_cloud.energy_wh + second.all_cloud.energy_wh, whole.all_cloud.energy_wh);
}

TEST(UsageLedgerTest, ASealedLogReadsBackWithItsKeyAndReportsAFlippedByteNamingTheFile) {
  TempDir dir;
  const std::string path = dir.file("usage.jsonl");
  privacy::Key key{};
  ASSERT_TRUE(privacy::random_bytes(key));
  {
    auto ledger = UsageLedger::open(path, key);
    ASSERT_TRUE(ledger) << ledger.error().message;
    ASSERT_TRUE((*ledger)->append({.tenant = "tenant-canary-31", .route = "cloud", .prompt_tokens = 7}));
    ASSERT_TRUE((*ledger)->append({.tenant = "acme", .route = "local", .completion_tokens = 3}));
  }
  std::ifstream in(path, std::ios::binary);
  std::string bytes{std::istreambuf_iterator<char>(in), {}};
  EXPECT_EQ(bytes.find("tenant-canary-31"), std::string::npos);
  auto records = read_usage(path, key);
  ASSERT_TRUE(records) << records.error().message;
  ASSERT_EQ(records->size(), 2U);
  EXPECT_EQ((*records)[0].tenant, "tenant-canary-31");
  EXPECT_EQ((*records)[1].completion_tokens, 3);

  bytes[bytes.size() - 3] ^= 0x10;
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
  auto damaged = read_usage(path, key);
  ASSERT_FALSE(damaged);
  EXPECT_EQ(damaged.error().code, ErrorCode::kDataLoss);
  EXPECT_NE(damaged.error().message.find(path), std::string::npos) << damaged.error().message;
}

}  // namespace
}  // namespace tandem::energy
