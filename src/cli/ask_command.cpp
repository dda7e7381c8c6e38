// `tandem ask "question"`: one answer, routed like a tandem/auto request (by default), streamed
// to stdout; --stats shows where it ran and why.
#include <fmt/format.h>

#include <cstdio>
#include <iostream>
#include <map>

#include "cli/commands.h"
#include "cli/engine_options.h"
#include "cli/pipeline_setup.h"
#include "engine/engine.h"
#include "knowledge/grounding.h"

namespace tandem::cli {

namespace {

const std::map<std::string, router::RouteMode> kRoutes = {{"auto", router::RouteMode::kAuto},
                                                          {"local", router::RouteMode::kLocal},
                                                          {"cloud", router::RouteMode::kCloud},
                                                          {"cascade", router::RouteMode::kCascade}};

std::string describe(const pipeline::Route& route) {
  const auto& d = route.decision;
  std::string text = fmt::format("route: {} ({})", router::route_target_name(d.target), router::route_mode_name(d.mode));
  if (!d.intent.empty()) text += fmt::format(", intent '{}' p={:.2f}", d.intent, d.intent_confidence);
  for (const auto& reason : d.reasons) text += "; " + reason;
  return text;
}

}  // namespace

void add_ask_command(CLI::App& app, GlobalOptions& global, int& exit_code) {
  struct Options {
    std::string question;
    std::string system;
    std::string route = "auto";
    int max_tokens = 0;
    float temperature = 0.7f;
    std::optional<uint32_t> seed;
    bool stats = false;
    bool kb = false;
    bool no_kb = false;
    std::vector<std::string> collections;
  };
  auto options = std::make_shared<Options>();
  auto* cmd = app.add_subcommand("ask", "Answer one question, routed like tandem/auto (streams to stdout)");
  cmd->add_option("question", options->question, "the question")->required();
  cmd->add_option("-s,--system", options->system, "system prompt");
  cmd->add_option("-r,--route", options->route,
                  "auto (default) | local | cloud | cascade (cloud and cascade need [cloud] in the config)")
      ->check(CLI::IsMember(kRoutes));
  cmd->add_option("-n,--max-tokens", options->max_tokens, "maximum tokens to generate (default: engine.default_max_tokens)");
  cmd->add_option("-t,--temperature", options->temperature, "sampling temperature (0 = greedy)")->capture_default_str();
  cmd->add_option("--seed", options->seed, "random seed for reproducible sampling");
  cmd->add_flag("--kb", options->kb, "answer from the knowledge base (`tandem kb add`), with citations");
  cmd->add_flag("--no-kb", options->no_kb, "never use the knowledge base (by default the router decides)");
  cmd->add_option("--collection", options->collections, "search only these collections (repeatable)");
  cmd->add_flag("--stats", options->stats, "print the routing decision, token counts and speed to stderr");
  cmd->callback([&global, &exit_code, options] {
    auto config = global.load();
    if (!config) {
      exit_code = 2;
      return;
    }
    // One request: one slot with the same per-request window `serve` would give.
    auto engine_options = chat_engine_options(*config);
    if (!engine_options) {
      std::cerr << "tandem ask: " << engine_options.error().message << "\n";
      exit_code = 2;
      return;
    }
    engine_options->context = std::max<int32_t>(256, engine_options->context / engine_options->slots);
    engine_options->slots = 1;
    auto engine = engine::ChatEngine::load(*engine_options);
    if (!engine) {
      std::cerr << "tandem ask: " << engine.error().message << "\n";
      if (engine.error().code == ErrorCode::kNotFound) std::cerr << "run scripts/setup.sh to download the default models\n";
      exit_code = 1;
      return;
    }
    auto pipeline = build_pipeline(*config, **engine);
    if (!pipeline) {
      std::cerr << "tandem ask: " << pipeline.error().message << "\n";
      exit_code = 1;
      return;
    }
    providers::ChatRequest request;
    if (!options->system.empty()) request.messages.push_back({"system", options->system});
    request.messages.push_back({"user", options->question});
    request.sampling.temperature = options->temperature;
    request.cloud_sampling.top_p = false;  // the local engine's default, not the user's choice
    request.sampling.seed = options->seed;
    request.sampling.max_tokens = options->max_tokens > 0 ? options->max_tokens
                                                          : static_cast<int32_t>(config->engine_default_max_tokens);
    pipeline::RouteOptions route_options;
    route_options.knowledge = options->kb      ? pipeline::KnowledgeUse::kAlways
                              : options->no_kb ? pipeline::KnowledgeUse::kNever
                                               : pipeline::KnowledgeUse::kAuto;
    route_options.collections = options->collections;
    auto route = (*pipeline)->route(request, kRoutes.at(options->route), route_options);
    if (!route) {
      std::cerr << "tandem ask: " << route.error().message << "\n";
      exit_code = route.error().code == ErrorCode::kNotFound ? 2 : 1;
      return;
    }
    if (options->stats) std::cerr << describe(*route) << " (" << fmt::format("{:.1f}", route->router_ms) << " ms)\n";
    const providers::DeltaCallback print = [](std::string_view delta) {
      std::fwrite(delta.data(), 1, delta.size(), stdout);
      std::fflush(stdout);
      return true;
    };
    auto answer = (*pipeline)->answer(request, *route, &print);
    std::fputc('\n', stdout);
    if (!answer) {
      std::cerr << "tandem ask: " << answer.error().message << "\n";
      exit_code = 1;
      return;
    }
    if (answer->fallback) std::cerr << answer->fallback_reason << "\n";
    if (route->grounded) {
      for (const auto& c : route->grounded->citations) {
        std::cout << fmt::format("[{}] {}{}, chars {}-{}: {}\n", c.number, c.path, c.page > 0 ? fmt::format(", page {}", c.page) : "",
                                 c.char_start, c.char_end, c.snippet);
      }
      const auto check = knowledge::check_citations(answer->result.text, route->grounded->citations);
      for (int number : check.unknown) {
        std::cerr << fmt::format("the answer cites [{}], which is none of the passages above\n", number);
      }
    }
    if (options->stats) {
      const auto& r = answer->result;
      const double generating_ms = r.elapsed_ms - r.time_to_first_token_ms;
      const int32_t prompt = r.usage ? r.usage->prompt_tokens : 0;
      const int32_t generated = r.usage ? r.usage->completion_tokens : 0;
      std::cerr << fmt::format("answered by {} ({}): prompt {} tokens, first token after {:.0f} ms, generated {} tokens "
                               "({:.1f} tokens/s), ${:.6f}, finish {}\n",
                               r.provider, router::route_target_name(answer->answered_by), prompt,
                               r.time_to_first_token_ms, generated,
                               generating_ms > 0 && generated > 1 ? 1000.0 * (generated - 1) / generating_ms : 0.0,
                               r.cost_usd, engine::finish_reason_name(r.finish_reason));
    }
    exit_code = 0;
  });
}

}  // namespace tandem::cli
