// Loading the configuration for every command (GlobalOptions::load), and `tandem config`:
// check a file, show the effective values, list every setting with its default.
#include <filesystem>
#include <iostream>
#include <optional>

#include "cli/commands.h"
#include "cli/keyring_setup.h"
#include "cli/pipeline_setup.h"
#include "core/log.h"
#include "core/words.h"

namespace tandem::cli {
namespace {

std::string toml_value(const SettingInfo& setting, const std::string& value) {
  if (setting.type != "string") return value;
  std::string quoted = "\"";
  for (char c : value) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return quoted + "\"";
}

// A TOML file of the given values, each with its help and environment variable as a comment.
void print_settings_as_toml(const std::vector<SettingInfo>& settings,
                            const std::function<std::string(const SettingInfo&)>& value_of) {
  std::string section;
  for (const auto& s : settings) {
    const auto dot = s.key.find('.');
    const std::string this_section = s.key.substr(0, dot);
    if (this_section != section) {
      std::cout << (section.empty() ? "" : "\n") << "[" << this_section << "]\n";
      section = this_section;
    }
    std::cout << "# " << s.help << " (env " << s.env << ", default " << toml_value(s, s.default_value) << ")\n"
              << s.key.substr(dot + 1) << " = " << toml_value(s, value_of(s)) << "\n";
  }
}

int check(const GlobalOptions& global, const std::string& file) {
  GlobalOptions checked = global;
  if (!file.empty()) checked.config_path = file;
  auto config = checked.load();
  if (!config) return 2;
  for (const auto& [what, path] :
       {std::pair{"chat model", config->engine_model}, {"embedding model", config->engine_embedding_model}}) {
    if (!std::filesystem::exists(path))
      std::cerr << "tandem config: warning: the " << what << " " << path << " does not exist\n";
  }
  // What each command would refuse at its start, said now: the cloud, the privacy lists, the
  // keyring's PCRs, the scripts the embedding models read.
  const std::vector<Status> checks = {
      make_cloud_provider(*config).status(),
      privacy_policy(*config).status(),
      keyring_options(*config).status(),
      ScriptSet::parse(config->engine_embedding_scripts).status(),
      config->knowledge_embedding_scripts.empty() ? Status{}
                                                  : ScriptSet::parse(config->knowledge_embedding_scripts).status(),
  };
  bool valid = true;
  for (const auto& st : checks) {
    if (st.ok()) continue;
    std::cerr << "tandem config: " << st.error().message << "\n";
    valid = false;
  }
  if (!valid) return 2;
  std::cout << "tandem config: " << (checked.config_path.empty() ? "defaults and environment" : checked.config_path)
            << " are valid\n";
  return 0;
}

}  // namespace

std::optional<Config> GlobalOptions::load() const {
  std::map<std::string, std::string> overrides;
  for (const auto& entry : set) {
    const auto eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << "tandem: --set expects key=value, got '" << entry << "'\n";
      return std::nullopt;
    }
    overrides[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  auto config = load_config(config_path, overrides);
  if (!config) {
    std::cerr << "tandem: " << config.error().message << "\n";
    return std::nullopt;
  }
  log::Level level;
  if (log::parse_level(config->log_level, &level)) log::set_level(level);
  return std::move(*config);
}

void add_config_command(CLI::App& app, GlobalOptions& global, int& exit_code) {
  auto* cmd = app.add_subcommand("config", "Check and show the configuration");
  cmd->require_subcommand(1);

  auto file = std::make_shared<std::string>();
  auto* check_cmd =
      cmd->add_subcommand("check", "Validate a config file (default: --config), with the environment and --set");
  check_cmd->add_option("file", *file, "TOML config file");
  check_cmd->callback([&global, &exit_code, file] { exit_code = check(global, *file); });

  auto* defaults =
      cmd->add_subcommand("defaults", "Every setting with its default, help and environment variable, as TOML");
  defaults->callback([&exit_code] {
    print_settings_as_toml(list_settings(), [](const SettingInfo& s) { return s.default_value; });
    exit_code = 0;
  });

  auto* show = cmd->add_subcommand("show", "The effective settings (file, environment, --set) as TOML");
  show->callback([&global, &exit_code] {
    auto config = global.load();
    if (!config) {
      exit_code = 2;
      return;
    }
    print_settings_as_toml(list_settings(), [&](const SettingInfo& s) { return setting_value(*config, s.key); });
    exit_code = 0;
  });
}

}  // namespace tandem::cli
