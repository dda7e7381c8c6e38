// API keys over HTTP, for admins (a web console or a script), under /tandem/v1/keys:
//   GET    /tandem/v1/keys              every key: id, tenant, scope, created_at, revoked (no secret)
//   POST   /tandem/v1/keys              {"tenant": "acme", "scope": "user"|"admin"} -> the new key,
//                                       shown this once (201)
//   DELETE /tandem/v1/keys/{id}         revokes it; it stops working at once
// A user key gets 403; in single-user local mode (no keys) every route answers 404.
// Thread-safety: handlers run on httplib's threads; the key store is thread-safe.
#pragma once

namespace httplib {
class Server;
}

namespace tandem::server {

class ApiKeyStore;
class Authenticator;

// `keys` may be null (single-user local mode); it and `auth` must outlive `http`.
void add_keys_routes(httplib::Server& http, ApiKeyStore* keys, const Authenticator& auth);

}  // namespace tandem::server
