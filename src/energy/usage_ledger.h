// Every answered request's usage, kept so that `tandem energy report` can show the totals by route
// and what routing saved against sending everything to the cloud.
//
//   auto ledger = energy::UsageLedger::open(config.energy_usage_log);   // JSON Lines, appended
//   ledger->append({.tenant = "acme", .route = "local", .prompt_tokens = 40, .completion_tokens = 120,
//                   .energy_wh = 0.004, .energy_method = "rapl", .co2_g = 0.0018, .cost_usd = 0});
//   auto report = energy::summarize_usage(*energy::read_usage(path), baseline);
//
// A record holds counts and figures, never the text of a request. With the keyring's "usage" data
// key the log is a sealed record log (privacy/sealed_file.h); without one, JSON Lines.
// Thread-safety: append() may be called from any number of threads; the rest are pure.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/status.h"
#include "privacy/sealed_file.h"

namespace tandem::energy {

struct UsageRecord {
  std::string time{};    // UTC RFC 3339; append() fills it when empty
  std::string tenant{};  // "local": the single local user
  std::string key_id{};  // the API key that asked; empty for the single local user
  std::string route{};   // "local", "cloud" or "knowledge"
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  double energy_wh = 0;
  std::string energy_method{};  // "rapl", "nvml" or "estimate"
  double co2_g = 0;
  double cost_usd = 0;
  double latency_ms = 0;  // arrival to the last byte generated; 0: not recorded (older records)
};

class UsageLedger {
 public:
  // Creates the file (and its folder) when missing; kUnavailable when it cannot be opened. With
  // `key`, a clear log from an earlier version is sealed in place.
  static Result<std::unique_ptr<UsageLedger>> open(const std::string& path,
                                                   const std::optional<privacy::Key>& key = std::nullopt);
  ~UsageLedger();
  UsageLedger(const UsageLedger&) = delete;
  UsageLedger& operator=(const UsageLedger&) = delete;

  // One record, one write() and fdatasync(): a crash never leaves half a record followed by more.
  Status append(UsageRecord record);

 private:
  explicit UsageLedger(std::unique_ptr<privacy::RecordLog> log) : log_(std::move(log)) {}
  const std::unique_ptr<privacy::RecordLog> log_;
};

// All records of `path` (none when it does not exist); kDataLoss naming the record of a malformed,
// tampered or cut-off one.
Result<std::vector<UsageRecord>> read_usage(const std::string& path,
                                            const std::optional<privacy::Key>& key = std::nullopt);

// What the same answers would have cost had the cloud given them all.
struct CloudBaseline {
  double wh_per_1k_tokens = 0.6;
  double input_usd_per_mtok = 0;
  double output_usd_per_mtok = 0;
  double grid_gco2_per_kwh = 445;
};

// The baseline the configuration describes: energy.cloud_wh_per_1k_tokens, the cloud's prices and
// energy.grid_gco2_per_kwh.
CloudBaseline cloud_baseline(const Config& config);

struct UsageTotals {
  int64_t answers = 0;
  int64_t tokens = 0;
  double energy_wh = 0;
  double co2_g = 0;
  double cost_usd = 0;
  int64_t timed_answers = 0;  // the answers that recorded their latency
  double latency_ms = 0;      // summed over the timed answers
  double mean_latency_ms() const { return timed_answers > 0 ? latency_ms / static_cast<double>(timed_answers) : 0; }
  void add(const UsageTotals& other);
};

struct UsageReport {
  std::map<std::string, UsageTotals> by_route;
  UsageTotals total;
  UsageTotals all_cloud;                                                  // the baseline: every answer from the cloud
  std::map<std::string, std::map<std::string, double>> energy_wh_by_day;  // "2026-11-29" -> route -> Wh
  std::map<std::string, int64_t> answers_by_method;                       // how the energy figures were obtained
};

UsageReport summarize_usage(const std::vector<UsageRecord>& records, const CloudBaseline& baseline);

// One report per UTC day ("2026-11-29"), each against its own all-cloud baseline.
std::map<std::string, UsageReport> summarize_usage_by_day(const std::vector<UsageRecord>& records,
                                                          const CloudBaseline& baseline);

}  // namespace tandem::energy
