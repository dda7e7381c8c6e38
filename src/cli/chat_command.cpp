// `tandem chat`: an interactive conversation with the local model, streamed to stdout. Reads one
// message per line (also from a pipe); `/reset` starts over, `/exit` or end of input quits.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <optional>

#include "cli/commands.h"
#include "cli/engine_options.h"
#include "engine/engine.h"

namespace tandem::cli {
namespace {

struct ChatOptions {
  std::string system;
  int max_tokens = 0;
  float temperature = 0.7f;
  std::optional<uint32_t> seed;
};

std::vector<engine::ChatMessage> fresh_conversation(const ChatOptions& options) {
  if (options.system.empty()) return {};
  return {{"system", options.system}};
}

int chat(const Config& config, const ChatOptions& options) {
  // One conversation: one slot with the whole context, so it can grow long.
  auto engine_options = chat_engine_options(config);
  if (!engine_options) {
    std::cerr << "tandem chat: " << engine_options.error().message << "\n";
    return 2;
  }
  engine_options->slots = 1;
  auto engine = engine::ChatEngine::load(*engine_options);
  if (!engine) {
    std::cerr << "tandem chat: " << engine.error().message << "\n";
    if (engine.error().code == ErrorCode::kNotFound)
      std::cerr << "run scripts/setup.sh to download the default models\n";
    return 1;
  }
  const bool interactive = isatty(STDIN_FILENO);
  if (interactive) std::cerr << "tandem chat with " << (*engine)->info().name << ": /reset starts over, /exit quits\n";

  auto conversation = fresh_conversation(options);
  bool failed = false;
  std::string line;
  while (true) {
    if (interactive) std::cout << "> " << std::flush;
    if (!std::getline(std::cin, line) || line == "/exit") break;
    if (line == "/reset") {
      conversation = fresh_conversation(options);
      std::cerr << "(conversation cleared)\n";
      continue;
    }
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;

    conversation.push_back({"user", line});
    engine::GenerationRequest request;
    request.messages = conversation;
    request.overflow =
        config.engine_overflow == "truncate" ? engine::OverflowPolicy::kTruncate : engine::OverflowPolicy::kError;
    request.sampling.temperature = options.temperature;
    request.sampling.seed = options.seed;
    request.sampling.max_tokens =
        options.max_tokens > 0 ? options.max_tokens : static_cast<int32_t>(config.engine_default_max_tokens);
    auto result = (*engine)->generate(request, [](std::string_view delta) {
      std::fwrite(delta.data(), 1, delta.size(), stdout);
      std::fflush(stdout);
      return true;
    });
    std::fputc('\n', stdout);
    std::fflush(stdout);
    if (!result) {
      std::cerr << "tandem chat: " << result.error().message << "\n";
      conversation.pop_back();  // the turn did not happen; the user may rephrase
      failed = true;
      continue;
    }
    conversation.push_back({"assistant", result->text});
  }
  return failed && !interactive ? 1 : 0;
}

}  // namespace

void add_chat_command(CLI::App& app, GlobalOptions& global, int& exit_code) {
  auto options = std::make_shared<ChatOptions>();
  auto* cmd = app.add_subcommand("chat", "Talk with the local model (one message per line; /reset, /exit)");
  cmd->add_option("-s,--system", options->system, "system prompt");
  cmd->add_option("-n,--max-tokens", options->max_tokens,
                  "maximum tokens per answer (default: engine.default_max_tokens)");
  cmd->add_option("-t,--temperature", options->temperature, "sampling temperature (0 = greedy)")->capture_default_str();
  cmd->add_option("--seed", options->seed, "random seed for reproducible sampling");
  cmd->callback([&global, &exit_code, options] {
    auto config = global.load();
    if (!config) {
      exit_code = 2;
      return;
    }
    exit_code = chat(*config, *options);
  });
}

}  // namespace tandem::cli
