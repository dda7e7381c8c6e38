// `tandem ask "question"`: one answer from the local model, streamed to stdout.
#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "cli/engine_options.h"
#include "engine/engine.h"

namespace tandem::cli {

void add_ask_command(CLI::App& app, GlobalOptions& global, int& exit_code) {
  struct Options {
    std::string question;
    std::string system;
    int max_tokens = 0;
    float temperature = 0.7f;
    std::optional<uint32_t> seed;
    bool stats = false;
  };
  auto options = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("ask", "Answer one question with the local model (streams to stdout)");
  cmd->add_option("question", options->question, "the question")->required();
  cmd->add_option("-s,--system", options->system, "system prompt");
  cmd->add_option("-n,--max-tokens", options->max_tokens, "maximum tokens to generate (default: engine.default_max_tokens)");
  cmd->add_option("-t,--temperature", options->temperature, "sampling temperature (0 = greedy)")->capture_default_str();
  cmd->add_option("--seed", options->seed, "random seed for reproducible sampling");
  cmd->add_flag("--stats", options->stats, "print token counts and speed to stderr");
  cmd->callback([&global, &exit_code, options] {
    auto config = global.load();
    if (!config) {
      exit_code = 2;
      return;
    }
    // One request: one slot with the same per-request window `serve` would give.
    auto engine_options = chat_engine_options(*config);
    engine_options.context = std::max<int32_t>(256, engine_options.context / engine_options.slots);
    engine_options.slots = 1;
    auto engine = engine::ChatEngine::load(engine_options);
    if (!engine) {
      std::cerr << "tandem ask: " << engine.error().message << "\n";
      if (engine.error().code == ErrorCode::kNotFound) std::cerr << "run scripts/setup.sh to download the default models\n";
      exit_code = 1;
      return;
    }
    engine::GenerationRequest request;
    if (!options->system.empty()) request.messages.push_back({"system", options->system});
    request.messages.push_back({"user", options->question});
    request.sampling.temperature = options->temperature;
    request.sampling.seed = options->seed;
    request.sampling.max_tokens = options->max_tokens > 0 ? options->max_tokens
                                                          : static_cast<int32_t>(config->engine_default_max_tokens);
    auto result = (*engine)->generate(request, [](std::string_view delta) {
      std::fwrite(delta.data(), 1, delta.size(), stdout);
      std::fflush(stdout);
      return true;
    });
    std::fputc('\n', stdout);
    if (!result) {
      std::cerr << "tandem ask: " << result.error().message << "\n";
      exit_code = 1;
      return;
    }
    if (options->stats) {
      const auto& u = result->usage;
      const auto& t = result->timings;
      std::cerr << "prompt " << u.prompt_tokens << " tokens in " << t.prompt_ms << " ms, generated "
                << u.completion_tokens << " tokens in " << t.generation_ms << " ms ("
                << (t.generation_ms > 0 ? 1000.0 * u.completion_tokens / t.generation_ms : 0.0) << " tokens/s), finish "
                << engine::finish_reason_name(result->finish_reason) << "\n";
    }
  });
}

}  // namespace tandem::cli
