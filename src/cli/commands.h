// The `tandem` subcommands. Each add_*_command registers one subcommand on the app; the
// callback it installs sets `exit_code`. main.cpp only wires them together.
// Thread-safety: start-up code, single-threaded.
#pragma once

#include <CLI/CLI.hpp>

#include <map>
#include <optional>
#include <string>

#include "core/config.h"

namespace tandem::cli {

// Options every command shares: the config file and `--set key=value` overrides.
struct GlobalOptions {
  std::string config_path;
  std::vector<std::string> set;
  // Loads the config (file, environment, --set) or prints the error and returns nullopt.
  std::optional<Config> load() const;
};

void add_ask_command(CLI::App& app, GlobalOptions& global, int& exit_code);
void add_chat_command(CLI::App& app, GlobalOptions& global, int& exit_code);
void add_serve_command(CLI::App& app, GlobalOptions& global, int& exit_code);
void add_models_command(CLI::App& app, GlobalOptions& global, int& exit_code);
void add_convert_command(CLI::App& app, GlobalOptions& global, int& exit_code);
void add_embed_command(CLI::App& app, GlobalOptions& global, int& exit_code);
void add_config_command(CLI::App& app, GlobalOptions& global, int& exit_code);
void add_kb_command(CLI::App& app, GlobalOptions& global, int& exit_code);
void add_pii_command(CLI::App& app, GlobalOptions& global, int& exit_code);
void add_audit_command(CLI::App& app, GlobalOptions& global, int& exit_code);
void add_keys_command(CLI::App& app, GlobalOptions& global, int& exit_code);
void add_keyring_command(CLI::App& app, GlobalOptions& global, int& exit_code);
void add_devices_command(CLI::App& app, GlobalOptions& global, int& exit_code);
void add_plan_command(CLI::App& app, GlobalOptions& global, int& exit_code);
void add_energy_command(CLI::App& app, GlobalOptions& global, int& exit_code);
void add_router_command(CLI::App& app, GlobalOptions& global, int& exit_code);
void add_version_command(CLI::App& app, int& exit_code);

}  // namespace tandem::cli
