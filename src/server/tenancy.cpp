#include "server/tenancy.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <httplib.h>

#include <algorithm>

#include "knowledge/knowledge_base.h"

namespace tandem::server {

Result<Caller> Authenticator::authenticate(const httplib::Request& req) const {
  if (!keys_) return Caller{};
  const std::string header = req.get_header_value("Authorization");
  constexpr std::string_view kBearer = "Bearer ";
  if (header.empty()) {
    return make_error(ErrorCode::kUnauthenticated,
                      "this server needs an API key: send 'Authorization: Bearer <key>' (tandem keys create)");
  }
  const std::string_view key = std::string_view(header).substr(header.starts_with(kBearer) ? kBearer.size() : 0);
  auto known = keys_->authenticate(key);
  // The key is never echoed: not even a rejected one.
  if (!known)
    return make_error(ErrorCode::kUnauthenticated, "the API key is not valid (unknown, malformed or revoked)");
  return Caller{.key_id = known->id, .tenant = known->tenant, .scope = known->scope};
}

std::string tenant_collection(const Caller& caller, std::string_view name) {
  if (caller.tenant.empty()) return std::string(name);
  return "@" + caller.tenant + "/" + std::string(name);
}

std::optional<std::string> visible_collection(const Caller& caller, std::string_view stored) {
  if (caller.tenant.empty()) return std::string(stored);
  const std::string prefix = "@" + caller.tenant + "/";
  if (!stored.starts_with(prefix)) return std::nullopt;
  return std::string(stored.substr(prefix.size()));
}

Result<std::vector<std::string>> searchable_collections(knowledge::KnowledgeBase& kb, const Caller& caller,
                                                        const std::vector<std::string>& asked) {
  if (asked.empty() && caller.tenant.empty()) return std::vector<std::string>{};  // all of them
  auto all = kb.collections();
  if (!all) return all.error();
  std::vector<std::string> visible;
  for (const auto& c : *all) {
    if (auto name = visible_collection(caller, c.name)) visible.push_back(std::move(*name));
  }
  std::vector<std::string> stored;
  if (asked.empty()) {
    for (const auto& name : visible) stored.push_back(tenant_collection(caller, name));
    return stored;
  }
  for (const auto& name : asked) {
    if (std::find(visible.begin(), visible.end(), name) == visible.end()) {
      // Named as the caller knows it: a tenant never sees the prefix that keeps it apart.
      return make_error(ErrorCode::kNotFound,
                        fmt::format("the collection '{}' does not exist; you have {}", name,
                                    visible.empty() ? "none" : fmt::format("'{}'", fmt::join(visible, "', '"))));
    }
    stored.push_back(tenant_collection(caller, name));
  }
  return stored;
}

}  // namespace tandem::server
