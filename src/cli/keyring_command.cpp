// `tandem keyring status | init | add | rotate`: the keys of encryption at rest (privacy/keyring.h).
#include <fmt/format.h>

#include <filesystem>
#include <iostream>

#include "cli/commands.h"
#include "cli/keyring_setup.h"

namespace tandem::cli {
namespace {

void print_status(const privacy::KeyringStatus& status) {
  std::cout << "keyring " << status.path << "\n"
            << "  master key " << status.master_id << ", opened with " << status.opened_with << "\n"
            << "  slots: " << fmt::format("{}", fmt::join(status.slots, "; ")) << "\n"
            << "  protection: " << status.protection << "\n";
  if (status.data_keys.empty()) std::cout << "  no data keys yet (each is made when its files are first written)\n";
  for (const auto& [purpose, id] : status.data_keys) std::cout << "  data key " << purpose << ": " << id << "\n";
}

bool encryption_off(const Config& config) {
  if (config.security_encryption != "off") return false;
  std::cout << "encryption at rest is off (security.encryption = off): files are stored in clear\n";
  return true;
}

int run(const Config& config, const std::string& command, const std::string& mode) {
  auto options = keyring_options(config);
  if (!options) {
    std::cerr << "tandem keyring: " << options.error().message << "\n";
    return 2;
  }
  if (!mode.empty()) options->mode = mode;
  if (command == "status" && !std::filesystem::exists(options->path)) {
    std::cout << "no keyring yet at " << options->path << "; it is made when Tandem first writes your data (mode "
              << options->mode << ", `tandem keyring init` makes it now)\n";
    return 0;
  }
  auto keyring = command == "init" ? privacy::Keyring::create(*options) : privacy::Keyring::open(*options);
  if (!keyring) {
    std::cerr << "tandem keyring " << command << ": " << keyring.error().message << "\n";
    return 1;
  }
  if (command == "add") {
    if (mode.empty() || mode == "auto") {
      std::cerr << "tandem keyring add: name the slot with --mode tpm|passphrase|local\n";
      return 2;
    }
    if (auto st = (*keyring)->add_slot(*options); !st) {
      std::cerr << "tandem keyring add: " << st.error().message << "\n";
      return st.error().code == ErrorCode::kInvalidArgument ? 2 : 1;
    }
    std::cout << "added a " << mode << " slot: it opens the same master key\n";
  }
  if (command == "rotate") {
    if (auto st = (*keyring)->rotate(*options); !st) {
      std::cerr << "tandem keyring rotate: " << st.error().message << "\n";
      return 1;
    }
    std::cout << "new master key; the data keys were re-wrapped, no data was re-encrypted\n";
  }
  print_status((*keyring)->status());
  return 0;
}

}  // namespace

void add_keyring_command(CLI::App& app, GlobalOptions& global, int& exit_code) {
  auto mode = std::make_shared<std::string>();
  auto* keyring =
      app.add_subcommand("keyring", "The keys of encryption at rest: status, init, add, rotate (security.* settings)");
  keyring->require_subcommand(1);
  auto add = [&](const char* name, const char* help, bool with_mode) {
    auto* sub = keyring->add_subcommand(name, help);
    if (with_mode) {
      sub->add_option("--mode", *mode, "how the master key is kept (default: security.encryption)")
          ->check(CLI::IsMember({"auto", "tpm", "passphrase", "local"}));
    }
    sub->callback([&global, &exit_code, mode, name] {
      auto config = global.load();
      if (!config) {
        exit_code = 2;
        return;
      }
      exit_code = encryption_off(*config) && mode->empty() ? 0 : run(*config, name, *mode);
    });
  };
  add("status", "Where the keyring is, how its master key is kept, what that protects against, the data key ids",
      false);
  add("init", "Make the keyring now (it is otherwise made on first use)", true);
  add("add",
      "Another way to the same master key, e.g. --mode passphrase (from <security.passphrase_env>_NEW, else "
      "the variable itself) to recover a TPM keyring whose PCRs changed",
      true);
  add("rotate",
      "A new master key: the data keys are re-wrapped, no data is re-encrypted. A new passphrase comes from "
      "<security.passphrase_env>_NEW (e.g. TANDEM_PASSPHRASE_NEW); --mode switches between tpm, passphrase, local",
      true);
}

}  // namespace tandem::cli
