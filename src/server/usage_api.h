// What the answers served so far cost, as JSON for the web console's dashboard:
//   GET /tandem/v1/usage             the caller's tenant; an admin sees every tenant
//   GET /tandem/v1/usage?tenant=NAME admins only: one tenant
// -> {"tenant", "total", "all_cloud", "saved", "by_route": {route: totals},
//     "days": [{"day": "2026-11-29", "total", "all_cloud", "by_route"}]}
// where totals are {answers, tokens, energy_wh, co2_g, cost_usd, mean_latency_ms}. Built from the
// usage log (energy.usage_log) by energy::summarize_usage, the same figures as `tandem energy report`.
// Thread-safety: handlers run on httplib's threads; each request reads the log anew.
#pragma once

#include <optional>
#include <string>

#include "energy/usage_ledger.h"

namespace httplib {
class Server;
}

namespace tandem::server {

class Authenticator;

struct UsageSource {
  std::string usage_log;                    // energy.usage_log
  std::optional<privacy::Key> usage_key{};  // its data key; nullopt: stored in clear
  energy::CloudBaseline baseline;
};

// `auth` must outlive `http`.
void add_usage_routes(httplib::Server& http, UsageSource source, const Authenticator& auth);

}  // namespace tandem::server
