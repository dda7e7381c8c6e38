// `tandem keys create | list | revoke`: the API keys that `tandem serve` accepts (server/api_keys.h),
// kept in server.keys_file (default <data dir>/keys.json). A running server sees changes at once.
//
//   tandem keys create --tenant acme --scope admin    # prints the key, this once only
//   tandem keys list
//   tandem keys revoke 3f9a0c12d4e5
#include <fmt/format.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/keyring_setup.h"
#include "server/api_keys.h"

namespace tandem::cli {
namespace {

struct KeysArgs {
  std::string tenant;
  std::string scope = "user";
  std::string id;
  bool json = false;
};

int fail(std::string_view command, const Error& error) {
  std::cerr << "tandem keys " << command << ": " << error.message << "\n";
  return error.code == ErrorCode::kInvalidArgument || error.code == ErrorCode::kNotFound ? 2 : 1;
}

int run_create(server::ApiKeyStore& store, const KeysArgs& args) {
  auto scope = server::key_scope_from_name(args.scope);
  if (!scope) {
    return fail("create", make_error(ErrorCode::kInvalidArgument,
                                     fmt::format("unknown scope '{}': use user or admin", args.scope)));
  }
  auto created = store.create(args.tenant, *scope);
  if (!created) return fail("create", created.error());
  const auto& info = created->info;
  if (args.json) {
    std::cout << nlohmann::ordered_json{{"id", info.id},
                                        {"tenant", info.tenant},
                                        {"scope", server::key_scope_name(info.scope)},
                                        {"key", created->key}}
                     .dump()
              << "\n";
    return 0;
  }
  std::cout << fmt::format("created key {} for tenant '{}' (scope {}):\n\n  {}\n\n", info.id, info.tenant,
                           server::key_scope_name(info.scope), created->key)
            << "This key is shown only this once: only a salted hash of it is stored. Clients send it as\n"
            << "  Authorization: Bearer <key>\n";
  return 0;
}

int run_list(server::ApiKeyStore& store, const KeysArgs& args) {
  const auto keys = store.list();
  if (args.json) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const auto& k : keys) {
      out.push_back({{"id", k.id},
                     {"tenant", k.tenant},
                     {"scope", server::key_scope_name(k.scope)},
                     {"created_at", k.created_at},
                     {"revoked", k.revoked}});
    }
    std::cout << out.dump() << "\n";
    return 0;
  }
  if (keys.empty()) {
    std::cout << "no API keys in " << store.path() << "; create one with `tandem keys create --tenant NAME`\n";
    return 0;
  }
  std::cout << fmt::format("{:<12}  {:<20} {:<6} {:<20}  {}\n", "id", "tenant", "scope", "created", "status");
  for (const auto& k : keys) {
    std::cout << fmt::format("{:<12}  {:<20} {:<6} {:<20}  {}\n", k.id, k.tenant, server::key_scope_name(k.scope),
                             k.created_at, k.revoked ? "revoked" : "active");
  }
  return 0;
}

int run_revoke(server::ApiKeyStore& store, const KeysArgs& args) {
  if (auto st = store.revoke(args.id); !st) return fail("revoke", st.error());
  std::cout << "revoked key " << args.id << ": the server refuses it from the next request on\n";
  return 0;
}

}  // namespace

void add_keys_command(CLI::App& app, GlobalOptions& global, int& exit_code) {
  auto args = std::make_shared<KeysArgs>();
  auto* keys = app.add_subcommand("keys", "API keys for `tandem serve`: create, list, revoke");
  keys->require_subcommand(1);
  using Runner = int (*)(server::ApiKeyStore&, const KeysArgs&);
  auto on_run = [&global, &exit_code, args](std::string_view name, Runner runner) {
    return [&global, &exit_code, args, name, runner] {
      auto config = global.load();
      if (!config) {
        exit_code = 2;
        return;
      }
      auto key = data_key(*config, kApiKeysKey);
      if (!key) {
        exit_code = fail(name, key.error());
        return;
      }
      auto store = server::ApiKeyStore::open(config->server_keys_file, *key);
      exit_code = store ? runner(**store, *args) : fail(name, store.error());
    };
  };

  auto* create = keys->add_subcommand("create", "Create a key and print it (the only time it is shown)");
  create->add_option("--tenant", args->tenant, "whose key: 1-64 of A-Z a-z 0-9 _ -")->required();
  create->add_option("--scope", args->scope, "user (the API) | admin (also administration)")->capture_default_str();
  create->add_flag("--json", args->json, "one JSON object: id, tenant, scope, key");
  create->callback(on_run("create", run_create));

  auto* list = keys->add_subcommand("list", "List the keys (never their secrets), revoked ones included");
  list->add_flag("--json", args->json, "one JSON array");
  list->callback(on_run("list", run_list));

  auto* revoke = keys->add_subcommand("revoke", "Revoke a key by its id, as `tandem keys list` shows it");
  revoke->add_option("id", args->id, "the key's id (12 hex digits)")->required();
  revoke->callback(on_run("revoke", run_revoke));
}

}  // namespace tandem::cli
