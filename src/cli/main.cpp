// `tandem`: the command-line entry point. Only parses arguments and starts the chosen command.
#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"Tandem: a private small model and a public large model, used together."};
  app.require_subcommand(1);
  app.fallthrough();  // global options may also follow the subcommand: `tandem serve --set engine.slots=2`
  tandem::cli::GlobalOptions global;
  app.add_option("-c,--config", global.config_path, "TOML config file")->envname("TANDEM_CONFIG");
  app.add_option("--set", global.set, "override a setting: --set engine.slots=2 (repeatable)");

  int exit_code = 0;
  tandem::cli::add_ask_command(app, global, exit_code);
  tandem::cli::add_chat_command(app, global, exit_code);
  tandem::cli::add_serve_command(app, global, exit_code);
  tandem::cli::add_models_command(app, global, exit_code);
  tandem::cli::add_convert_command(app, global, exit_code);
  tandem::cli::add_embed_command(app, global, exit_code);
  tandem::cli::add_config_command(app, global, exit_code);
  tandem::cli::add_kb_command(app, global, exit_code);
  tandem::cli::add_router_command(app, global, exit_code);
  tandem::cli::add_pii_command(app, global, exit_code);
  tandem::cli::add_audit_command(app, global, exit_code);
  tandem::cli::add_keys_command(app, global, exit_code);
  tandem::cli::add_keyring_command(app, global, exit_code);
  tandem::cli::add_devices_command(app, global, exit_code);
  tandem::cli::add_plan_command(app, global, exit_code);
  tandem::cli::add_energy_command(app, global, exit_code);
  tandem::cli::add_version_command(app, exit_code);

  CLI11_PARSE(app, argc, argv);
  return exit_code;
}
