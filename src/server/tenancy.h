// Who sent a request, and what of the shared knowledge base they may see. Every request carries
// an API key (`Authorization: Bearer tdm_...`) naming its tenant and scope, unless the server runs
// in single-user local mode (server.auth = "none", loopback only), where the one local user sees
// everything.
//
//   Authenticator auth(keys.get());                    // null store: single-user local mode
//   auto caller = auth.authenticate(req);              // kUnauthenticated without a valid key
//   std::string stored = tenant_collection(*caller, "contracts");        // "@acme/contracts"
//   auto shown = visible_collection(*caller, stored);                    // "contracts"
//
// Tenants share one knowledge base; each tenant's collections live under the prefix "@TENANT/",
// and everything the HTTP API returns is filtered and stripped through visible_collection(), so a
// tenant can neither list, read, delete nor search another tenant's documents, nor learn that they
// exist (their ids answer 404, as unknown ones do).
// Thread-safety: Authenticator is immutable and reads a thread-safe key store; the rest are pure.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "server/api_keys.h"

namespace httplib {
struct Request;
}

namespace tandem::knowledge {
class KnowledgeBase;
}

namespace tandem::server {

struct Caller {
  std::string key_id{};  // empty: the single local user, who has no key and no rate limits
  std::string tenant{};  // empty: the single local user
  KeyScope scope = KeyScope::kAdmin;
  // The tenant as the audit log and the logs name it.
  std::string audit_name() const { return tenant.empty() ? "local" : tenant; }
};

class Authenticator {
 public:
  explicit Authenticator(const ApiKeyStore* keys) : keys_(keys) {}
  Result<Caller> authenticate(const httplib::Request& req) const;
  bool single_user() const { return keys_ == nullptr; }

 private:
  const ApiKeyStore* keys_;
};

std::string tenant_collection(const Caller& caller, std::string_view name);
// The stored names of the collections `caller` may search or ground in: the ones asked for, under
// the tenant's prefix, or all of the tenant's when none is asked for (the single local user: as
// asked, where none means all). Empty for a tenant without any; kNotFound, naming it as the
// caller knows it, for an asked collection that does not exist.
Result<std::vector<std::string>> searchable_collections(knowledge::KnowledgeBase& kb, const Caller& caller,
                                                        const std::vector<std::string>& asked);
// The name `caller` knows a stored collection by, or nullopt when it belongs to another tenant.
std::optional<std::string> visible_collection(const Caller& caller, std::string_view stored);

}  // namespace tandem::server
