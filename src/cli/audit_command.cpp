// `tandem audit show | verify`: the audit log of what was sent to public models
// (privacy/audit_log.h), read and checked from the command line.
#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/keyring_setup.h"
#include "privacy/audit_log.h"

namespace tandem::cli {
namespace {

struct AuditArgs {
  std::string log;  // empty: the config's privacy.audit_log
  bool json = false;
  int64_t limit = 0;
  std::string tenant;
};

// "email:1,person:2"
std::string pseudonymized_text(const std::map<std::string, int64_t>& counts) {
  std::string text;
  for (const auto& [name, count] : counts) text += fmt::format("{}{}:{}", text.empty() ? "" : ",", name, count);
  return text.empty() ? "-" : text;
}

int run_show(const std::string& path, const std::optional<privacy::Key>& key, const AuditArgs& args) {
  auto entries = privacy::read_audit_log(path, key);
  if (!entries) {
    if (entries.error().code == ErrorCode::kNotFound) {
      std::cout << "no audit log at " << path << ": nothing has been sent to a public model yet\n";
      return 0;
    }
    std::cerr << "tandem audit show: " << entries.error().message << "; run `tandem audit verify`\n";
    return 1;
  }
  std::vector<privacy::AuditEntry> shown;
  for (auto& entry : *entries) {
    if (args.tenant.empty() || entry.tenant == args.tenant) shown.push_back(std::move(entry));
  }
  if (args.limit > 0 && shown.size() > static_cast<size_t>(args.limit)) {
    shown.erase(shown.begin(), shown.end() - args.limit);  // the most recent N
  }
  if (args.json) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const auto& e : shown) {
      out.push_back({{"sequence", e.sequence},
                     {"time", e.time},
                     {"tenant", e.tenant},
                     {"provider", e.provider},
                     {"model", e.model},
                     {"pseudonymized", e.pseudonymized},
                     {"sent_sha256", e.sent_sha256},
                     {"sent_bytes", e.sent_bytes},
                     {"previous_hash", e.previous_hash},
                     {"hash", e.hash}});
    }
    std::cout << out.dump() << "\n";
    return 0;
  }
  std::cout << fmt::format("{:>6}  {:<24} {:<12} {:<12} {:<20} {:<28} {:>8}  {}\n", "seq", "time", "tenant", "provider",
                           "model", "pseudonymized", "bytes", "sha256");
  for (const auto& e : shown) {
    std::cout << fmt::format("{:>6}  {:<24} {:<12} {:<12} {:<20} {:<28} {:>8}  {}\n", e.sequence, e.time, e.tenant,
                             e.provider, e.model, pseudonymized_text(e.pseudonymized), e.sent_bytes,
                             e.sent_sha256.substr(0, 12));
  }
  return 0;
}

int run_verify(const std::string& path, const std::optional<privacy::Key>& key, const AuditArgs&) {
  auto report = privacy::verify_audit_log(path, key);
  if (!report) {
    if (report.error().code == ErrorCode::kNotFound) {
      std::cout << "no audit log at " << path << ": nothing has been sent to a public model yet\n";
      return 0;
    }
    std::cerr << "tandem audit verify: " << report.error().message << "\n";
    return 1;
  }
  if (!report->ok) {
    std::cout << "audit log BROKEN (" << path << "): " << report->reason << "\n";
    return 1;
  }
  std::cout << fmt::format("audit log OK: {} entries, chain intact\n", report->entries);
  return 0;
}

}  // namespace

void add_audit_command(CLI::App& app, GlobalOptions& global, int& exit_code) {
  auto args = std::make_shared<AuditArgs>();
  static constexpr const char* kLogHelp = "the audit log to read (default: privacy.audit_log, <data dir>/audit.log)";
  // --log wins; otherwise the config says where the log is. The config's keyring opens it.
  using Runner = int (*)(const std::string&, const std::optional<privacy::Key>&, const AuditArgs&);
  auto with_path = [&global, &exit_code, args](Runner runner) {
    return [&global, &exit_code, args, runner] {
      auto config = global.load();
      if (!config) {
        exit_code = 2;
        return;
      }
      auto key = data_key(*config, kAuditKey);
      if (!key) {
        std::cerr << "tandem audit: " << key.error().message << "\n";
        exit_code = 1;
        return;
      }
      exit_code = runner(args->log.empty() ? config->privacy_audit_log : args->log, *key, *args);
    };
  };
  auto* audit = app.add_subcommand("audit", "The tamper-evident log of what was sent to public models: show, verify");
  audit->require_subcommand(1);

  auto* show = audit->add_subcommand("show", "List the entries: one per request sent to a public model");
  show->add_option("--log", args->log, kLogHelp);
  show->add_flag("--json", args->json, "one JSON array");
  show->add_option("--limit", args->limit, "only the most recent N entries (0: all)");
  show->add_option("--tenant", args->tenant, "only this tenant's entries");
  show->callback(with_path(run_show));

  auto* verify =
      audit->add_subcommand("verify", "Check the hash chain: finds edited, removed, reordered or cut entries");
  verify->add_option("--log", args->log, kLogHelp);
  verify->callback(with_path(run_verify));
}

}  // namespace tandem::cli
