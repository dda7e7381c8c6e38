// `tandem version`: Tandem's version and the llama.cpp it was built from.
#include <iostream>

#include "cli/commands.h"

namespace tandem::cli {

void add_version_command(CLI::App& app, int& exit_code) {
  auto* cmd = app.add_subcommand("version", "Print the version");
  cmd->callback([&exit_code] {
    std::cout << "tandem " << TANDEM_VERSION << " (llama.cpp from llama-cpp-python " << TANDEM_LLAMA_CPP_PYTHON_VERSION
              << ")\n";
    exit_code = 0;
  });
}

}  // namespace tandem::cli
