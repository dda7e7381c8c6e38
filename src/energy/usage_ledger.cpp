#include "energy/usage_ledger.h"

#include <nlohmann/json.hpp>

#include "core/clock.h"

namespace tandem::energy {
namespace {

using nlohmann::json;

json to_json(const UsageRecord& r) {
  return {{"time", r.time},
          {"tenant", r.tenant},
          {"key_id", r.key_id},
          {"route", r.route},
          {"prompt_tokens", r.prompt_tokens},
          {"completion_tokens", r.completion_tokens},
          {"energy_wh", r.energy_wh},
          {"energy_method", r.energy_method},
          {"co2_g", r.co2_g},
          {"cost_usd", r.cost_usd},
          {"latency_ms", r.latency_ms}};
}

}  // namespace

Result<std::unique_ptr<UsageLedger>> UsageLedger::open(const std::string& path,
                                                       const std::optional<privacy::Key>& key) {
  auto log = privacy::RecordLog::open(path, key);
  if (!log) return log.error();
  return std::unique_ptr<UsageLedger>(new UsageLedger(std::move(*log)));
}

UsageLedger::~UsageLedger() = default;

Status UsageLedger::append(UsageRecord record) {
  if (record.time.empty()) record.time = utc_now_rfc3339();
  return log_->append(to_json(record).dump(-1, ' ', false, json::error_handler_t::replace));
}

Result<std::vector<UsageRecord>> read_usage(const std::string& path, const std::optional<privacy::Key>& key) {
  std::vector<UsageRecord> records;
  auto stored = privacy::read_records(path, key);
  if (!stored) {
    if (stored.error().code == ErrorCode::kNotFound) return records;
    return stored.error();
  }
  int64_t number = 0;
  for (const auto& line : stored->records) {
    ++number;
    if (line.empty()) continue;
    const json j = json::parse(line, nullptr, false);
    try {
      if (!j.is_object()) throw json::type_error::create(302, "not an object", nullptr);
      records.push_back({.time = j.at("time"),
                         .tenant = j.at("tenant"),
                         .key_id = j.value("key_id", ""),
                         .route = j.at("route"),
                         .prompt_tokens = j.at("prompt_tokens"),
                         .completion_tokens = j.at("completion_tokens"),
                         .energy_wh = j.at("energy_wh"),
                         .energy_method = j.at("energy_method"),
                         .co2_g = j.at("co2_g"),
                         .cost_usd = j.at("cost_usd"),
                         .latency_ms = j.value("latency_ms", 0.0)});
    } catch (const json::exception&) {
      return make_error(ErrorCode::kDataLoss, path + ": line " + std::to_string(number) + " is not a usage record");
    }
  }
  if (stored->torn_tail) {
    return make_error(ErrorCode::kDataLoss,
                      path + ": record " + std::to_string(number + 1) + " was cut off by a crash (or damaged)");
  }
  return records;
}

CloudBaseline cloud_baseline(const Config& config) {
  return {.wh_per_1k_tokens = config.energy_cloud_wh_per_1k_tokens,
          .input_usd_per_mtok = config.cloud_input_usd_per_mtok,
          .output_usd_per_mtok = config.cloud_output_usd_per_mtok,
          .grid_gco2_per_kwh = config.energy_grid_gco2_per_kwh};
}

void UsageTotals::add(const UsageTotals& other) {
  answers += other.answers;
  tokens += other.tokens;
  energy_wh += other.energy_wh;
  co2_g += other.co2_g;
  cost_usd += other.cost_usd;
  timed_answers += other.timed_answers;
  latency_ms += other.latency_ms;
}

UsageReport summarize_usage(const std::vector<UsageRecord>& records, const CloudBaseline& baseline) {
  UsageReport report;
  for (const auto& r : records) {
    const int64_t tokens = r.prompt_tokens + r.completion_tokens;
    const UsageTotals actual{.answers = 1,
                             .tokens = tokens,
                             .energy_wh = r.energy_wh,
                             .co2_g = r.co2_g,
                             .cost_usd = r.cost_usd,
                             .timed_answers = r.latency_ms > 0 ? 1 : 0,
                             .latency_ms = r.latency_ms};
    report.by_route[r.route].add(actual);
    report.total.add(actual);
    if (r.route == "cloud") {
      report.all_cloud.add(actual);
    } else {
      const double wh = static_cast<double>(tokens) / 1000.0 * baseline.wh_per_1k_tokens;
      report.all_cloud.add({.answers = 1,
                            .tokens = tokens,
                            .energy_wh = wh,
                            .co2_g = wh * baseline.grid_gco2_per_kwh / 1000.0,
                            .cost_usd = (static_cast<double>(r.prompt_tokens) * baseline.input_usd_per_mtok +
                                         static_cast<double>(r.completion_tokens) * baseline.output_usd_per_mtok) /
                                        1e6});
    }
    report.energy_wh_by_day[r.time.substr(0, 10)][r.route] += r.energy_wh;
    ++report.answers_by_method[r.energy_method];
  }
  return report;
}

std::map<std::string, UsageReport> summarize_usage_by_day(const std::vector<UsageRecord>& records,
                                                          const CloudBaseline& baseline) {
  std::map<std::string, std::vector<UsageRecord>> days;
  for (const auto& r : records) days[r.time.substr(0, 10)].push_back(r);
  std::map<std::string, UsageReport> out;
  for (const auto& [day, of_day] : days) out[day] = summarize_usage(of_day, baseline);
  return out;
}

}  // namespace tandem::energy
