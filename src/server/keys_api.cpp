#include "server/keys_api.h"

#include "server/api_keys.h"
#include "server/http_reply.h"
#include "server/tenancy.h"

namespace tandem::server {
namespace {

using httplib::Request;
using httplib::Response;
using nlohmann::json;

json key_json(const ApiKeyInfo& info) {
  return {{"id", info.id},
          {"tenant", info.tenant},
          {"scope", key_scope_name(info.scope)},
          {"created_at", info.created_at},
          {"revoked", info.revoked}};
}

void reply_status(Response& res, const Error& error, const std::string& param = {}) {
  reply_error(res, api_error(error, param));
}

void create(ApiKeyStore& keys, const Request& req, Response& res) {
  const json doc = json::parse(req.body, nullptr, false);
  if (!doc.is_object() || !doc.contains("tenant") || !doc["tenant"].is_string()) {
    return reply_status(res,
                        make_error(ErrorCode::kInvalidArgument,
                                   "the body must be {\"tenant\": NAME, \"scope\": "
                                   "\"user\"|\"admin\"}"),
                        "tenant");
  }
  auto scope = key_scope_from_name(doc.value("scope", "user"));
  if (!scope) return reply_status(res, make_error(ErrorCode::kInvalidArgument, "scope must be user or admin"), "scope");
  auto created = keys.create(doc["tenant"].get<std::string>(), *scope);
  if (!created) return reply_status(res, created.error(), "tenant");
  json body = key_json(created->info);
  body["key"] = created->key;
  reply_json(res, body, 201);
}

}  // namespace

void add_keys_routes(httplib::Server& http, ApiKeyStore* keys, const Authenticator& auth) {
  // Every route needs keys to manage and an admin to manage them.
  auto for_admins = [keys, &auth](auto handler) {
    return [keys, &auth, handler](const Request& req, Response& res) {
      if (!keys) {
        return reply_status(res, make_error(ErrorCode::kNotFound, "single-user local mode has no API keys"));
      }
      auto caller = auth.authenticate(req);
      if (!caller) return reply_status(res, caller.error());
      if (caller->scope != KeyScope::kAdmin) {
        return reply_status(res, make_error(ErrorCode::kPermissionDenied, "managing API keys needs an admin key"));
      }
      handler(*keys, req, res);
    };
  };
  http.Get("/tandem/v1/keys", for_admins([](ApiKeyStore& store, const Request&, Response& res) {
             json data = json::array();
             for (const auto& info : store.list()) data.push_back(key_json(info));
             reply_json(res, {{"data", data}});
           }));
  http.Post("/tandem/v1/keys", for_admins(create));
  http.Delete(R"(/tandem/v1/keys/([0-9a-f]{1,64}))",
              for_admins([](ApiKeyStore& store, const Request& req, Response& res) {
                const std::string id = req.matches[1].str();
                if (auto st = store.revoke(id); !st) return reply_status(res, st.error());
                reply_json(res, {{"id", id}, {"revoked", true}});
              }));
}

}  // namespace tandem::server
