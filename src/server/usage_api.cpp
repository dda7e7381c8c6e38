#include "server/usage_api.h"

#include "server/http_reply.h"
#include "server/tenancy.h"

namespace tandem::server {
namespace {

using httplib::Request;
using httplib::Response;
using nlohmann::json;

json totals_json(const energy::UsageTotals& t) {
  return {{"answers", t.answers}, {"tokens", t.tokens},     {"energy_wh", t.energy_wh},
          {"co2_g", t.co2_g},     {"cost_usd", t.cost_usd}, {"mean_latency_ms", t.mean_latency_ms()}};
}

json report_json(const energy::UsageReport& report) {
  json by_route = json::object();
  for (const auto& [route, totals] : report.by_route) by_route[route] = totals_json(totals);
  return {{"total", totals_json(report.total)}, {"all_cloud", totals_json(report.all_cloud)}, {"by_route", by_route}};
}

void reply_status(Response& res, const Error& error, const std::string& param = {}) {
  reply_error(res, api_error(error, param));
}

}  // namespace

void add_usage_routes(httplib::Server& http, UsageSource source, const Authenticator& auth) {
  http.Get("/tandem/v1/usage", [source = std::move(source), &auth](const Request& req, Response& res) {
    auto caller = auth.authenticate(req);
    if (!caller) return reply_status(res, caller.error());
    // A user sees their own tenant; an admin every tenant, or the one asked for.
    std::string tenant = req.get_param_value("tenant");
    if (caller->scope != KeyScope::kAdmin) {
      if (!tenant.empty() && tenant != caller->audit_name()) {
        return reply_status(res, make_error(ErrorCode::kPermissionDenied, "another tenant's usage needs an admin key"),
                            "tenant");
      }
      tenant = caller->audit_name();
    }
    auto records = energy::read_usage(source.usage_log, source.usage_key);
    if (!records) return reply_status(res, records.error());
    if (!tenant.empty()) {
      std::erase_if(*records, [&](const energy::UsageRecord& r) { return r.tenant != tenant; });
    }
    const auto report = energy::summarize_usage(*records, source.baseline);
    json body = report_json(report);
    body["tenant"] = tenant.empty() ? json(nullptr) : json(tenant);
    body["saved"] = {{"energy_wh", report.all_cloud.energy_wh - report.total.energy_wh},
                     {"co2_g", report.all_cloud.co2_g - report.total.co2_g},
                     {"cost_usd", report.all_cloud.cost_usd - report.total.cost_usd}};
    json days = json::array();
    for (const auto& [day, of_day] : energy::summarize_usage_by_day(*records, source.baseline)) {
      json item = report_json(of_day);
      item["day"] = day;
      days.push_back(std::move(item));
    }
    body["days"] = std::move(days);
    reply_json(res, body);
  });
}

}  // namespace tandem::server
