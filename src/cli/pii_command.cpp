// `tandem pii types | scan | eval | train`: what the privacy stage finds in text, what it would send
// to a public model instead, how well its detectors score on a labelled set, and training the
// token tagger for names, organisations, places and addresses.
#include <fmt/format.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/pipeline_setup.h"
#include "core/statistics.h"
#include "privacy/name_detector.h"
#include "privacy/pii_eval.h"
#include "privacy/pii_scanner.h"
#include "privacy/token_tagger.h"
#include "privacy/vault.h"

namespace tandem::cli {
namespace {

constexpr size_t kMaxScanBytes = 16 << 20;

struct PiiArgs {
  std::string input;
  std::string data;
  std::string split = "test";
  std::string train_split = "dev";
  std::string match = "iou";
  std::string out;
  int epochs = privacy::TaggerTrainingOptions{}.epochs;
  std::string validate;
  bool json = false;
};

int fail(std::string_view command, const Error& error) {
  std::cerr << "tandem pii " << command << ": " << error.message << "\n";
  return error.code == ErrorCode::kInvalidArgument || error.code == ErrorCode::kNotFound ? 2 : 1;
}

std::string_view action_name(privacy::PiiAction action) {
  switch (action) {
    case privacy::PiiAction::kAllow:
      return "allow";
    case privacy::PiiAction::kPseudonymize:
      return "pseudonymize";
    case privacy::PiiAction::kBlock:
      return "block";
  }
  return "?";
}

Result<std::string> read_input(const std::string& input) {
  std::string text;
  if (input == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    std::ifstream in(input, std::ios::binary);
    if (!in) return make_error(ErrorCode::kNotFound, "cannot read " + input);
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  if (text.size() > kMaxScanBytes) {
    return make_error(ErrorCode::kInvalidArgument, fmt::format("{} is {} bytes; pii scan reads at most {} MiB", input,
                                                               text.size(), kMaxScanBytes >> 20));
  }
  return text;
}

int run_types(const Config& config, const PiiArgs&) {
  auto policy = privacy_policy(config);
  if (!policy) return fail("types", policy.error());
  fmt::print("{:<16} {:<13}\n", "type", "action");
  for (int i = 0; i < privacy::kEntityTypeCount; ++i) {
    const auto type = static_cast<privacy::EntityType>(i);
    fmt::print("{:<16} {:<13}\n", privacy::entity_type_name(type), action_name(policy->action(type)));
  }
  return 0;
}

int run_scan(const Config& config, const PiiArgs& args) {
  auto text = read_input(args.input);
  if (!text) return fail("scan", text.error());
  auto scanner = make_pii_scanner(config);
  if (!scanner) return fail("scan", scanner.error());
  auto policy = privacy_policy(config);
  if (!policy) return fail("scan", policy.error());
  const auto entities = (*scanner)->scan(*text);
  const auto inspection = policy->inspect(entities);
  privacy::Vault vault;
  vault.reserve_placeholders_in(*text);
  const std::string sent = vault.replace_known(vault.pseudonymize(*text, inspection.pseudonymize));
  if (args.json) {
    nlohmann::ordered_json found = nlohmann::ordered_json::array();
    for (const auto& e : entities) {
      found.push_back({{"type", privacy::entity_type_name(e.type)},
                       {"action", action_name(policy->action(e.type))},
                       {"begin", e.begin},
                       {"end", e.end},
                       {"score", e.score},
                       {"text", text->substr(e.begin, e.end - e.begin)}});
    }
    nlohmann::ordered_json out = {{"entities", found},
                                  {"names_detected", (*scanner)->detects_names()},
                                  {"tagger", (*scanner)->uses_tagger()},
                                  {"blocked", !inspection.blocked.empty()},
                                  {"would_send", sent}};
    std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return 0;
  }
  if (!(*scanner)->detects_names()) {
    std::cerr << "note: no gazetteer at " << config.privacy_gazetteer
              << ", so names, organisations and places are not detected (scripts/setup.sh builds it)\n";
  }
  fmt::print("{:<16} {:<13} {:>8} {:>8}  text\n", "type", "action", "begin", "end");
  for (const auto& e : entities) {
    std::string shown = text->substr(e.begin, e.end - e.begin);
    for (char& c : shown) c = (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
    fmt::print("{:<16} {:<13} {:>8} {:>8}  {}\n", privacy::entity_type_name(e.type),
               action_name(policy->action(e.type)), e.begin, e.end, shown);
  }
  fmt::print("\n{} found.\n", entities.size());
  for (auto type : inspection.blocked) {
    fmt::print("Blocked: it holds {}, so it would be answered on this device only.\n", privacy::entity_type_name(type));
  }
  if (inspection.blocked.empty()) fmt::print("\nWhat a public model would receive:\n{}\n", sent);
  return 0;
}

privacy::EvalSplit split_of(std::string_view name) {
  return name == "dev"   ? privacy::EvalSplit::kDev
         : name == "all" ? privacy::EvalSplit::kAll
                         : privacy::EvalSplit::kTest;
}

void print_scores_row(std::string_view name, const privacy::SpanCounts& c) {
  fmt::print("{:<16} {:>9.3f} {:>9.3f} {:>9.3f} {:>6} {:>6} {:>6}\n", name, c.precision(), c.recall(), c.f2(),
             c.true_positives, c.false_positives, c.false_negatives);
}

void print_scores(const privacy::PiiScores& scores) {
  fmt::print("{:<16} {:>9} {:>9} {:>9} {:>6} {:>6} {:>6}\n", "type", "precision", "recall", "F2", "TP", "FP", "FN");
  for (const auto& [type, counts] : scores.by_type) print_scores_row(privacy::entity_type_name(type), counts);
  print_scores_row("overall", scores.overall);
}

int run_eval(const Config& config, const PiiArgs& args) {
  const auto split = split_of(args.split);
  const auto rule = args.match == "exact"   ? privacy::MatchRule::kExact
                    : args.match == "token" ? privacy::MatchRule::kToken
                                            : privacy::MatchRule::kIou;
  auto data = privacy::load_presidio_dataset(args.data, split);
  if (!data) return fail("eval", data.error());
  auto scanner = make_pii_scanner(config);
  if (!scanner) return fail("eval", scanner.error());
  std::vector<double> scan_ms;
  const auto scores = privacy::evaluate_pii(
      *data,
      [&](std::string_view text) {
        const auto start = std::chrono::steady_clock::now();
        auto found = (*scanner)->scan(text);
        scan_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
        return found;
      },
      rule);
  auto counts_json = [](const privacy::SpanCounts& c) {
    return nlohmann::ordered_json{{"precision", c.precision()},
                                  {"recall", c.recall()},
                                  {"f2", c.f2()},
                                  {"true_positives", c.true_positives},
                                  {"false_positives", c.false_positives},
                                  {"false_negatives", c.false_negatives}};
  };
  if (args.json) {
    nlohmann::ordered_json out = {{"data", args.data},
                                  {"split", args.split},
                                  {"texts", scores.texts},
                                  {"match", privacy::match_rule_name(rule)},
                                  {"names_detected", (*scanner)->detects_names()},
                                  {"tagger", (*scanner)->uses_tagger()}};
    out["overall"] = counts_json(scores.overall);
    for (const auto& [type, counts] : scores.by_type)
      out["by_type"][privacy::entity_type_name(type)] = counts_json(counts);
    out["unmapped_labels"] = data->unmapped_labels;
    out["scan_ms_p50"] = percentile(scan_ms, 0.5);
    out["scan_ms_p95"] = percentile(scan_ms, 0.95);
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  fmt::print("{} texts ({} split), matched by {}\n\n", scores.texts, args.split, privacy::match_rule_name(rule));
  print_scores(scores);
  if (!data->unmapped_labels.empty()) {
    std::string left_out;
    for (const auto& [name, n] : data->unmapped_labels) left_out += fmt::format(" {} ({})", name, n);
    fmt::print("\nleft out (no detector):{}\n", left_out);
  }
  fmt::print("scan time per text: p50 {:.3f} ms, p95 {:.3f} ms\n", percentile(scan_ms, 0.5), percentile(scan_ms, 0.95));
  return 0;
}

// Trains the token tagger on a labelled set (the dev split unless told), with the rules' guesses
// as features. --validate holds out every fourth text (or every fourth template) of the split,
// trains on the rest and scores the held-out texts with the whole scanner, so epochs and features
// are chosen without the test split.
int run_train(const Config& config, const PiiArgs& args) {
  auto data = privacy::load_presidio_dataset(args.data, split_of(args.train_split));
  if (!data) return fail("train", data.error());
  auto gazetteer = privacy::Gazetteer::load(config.privacy_gazetteer);
  if (!gazetteer) return fail("train", gazetteer.error());
  const auto shared_gazetteer = std::make_shared<const privacy::Gazetteer>(std::move(*gazetteer));
  const privacy::NameDetector rules(shared_gazetteer);
  const auto hints = [&](std::string_view text) { return rules.detect(text); };
  privacy::LabelledSet held_out;
  std::vector<privacy::LabelledText> training;
  for (size_t i = 0; i < data->texts.size(); ++i) {
    const auto& item = data->texts[i];
    const bool hold_out = args.validate == "texts"       ? i % 4 == 3
                          : args.validate == "templates" ? item.template_id >= 0 && item.template_id % 4 == 3
                                                         : false;
    (hold_out ? held_out.texts : training).push_back(item);
  }
  const auto start = std::chrono::steady_clock::now();
  const auto tagger =
      privacy::TokenTagger::train(training, hints, shared_gazetteer, privacy::TaggerTrainingOptions{.epochs = args.epochs});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print("trained on {} texts ({} split{}), {} epochs, {:.1f} s: {} features\n", training.size(), args.train_split,
             args.validate.empty() ? "" : ", " + args.validate + " held out", args.epochs, seconds,
             tagger.feature_count());
  if (!args.validate.empty()) {
    const privacy::PiiScanner with_tagger(shared_gazetteer, std::make_shared<const privacy::TokenTagger>(tagger));
    const privacy::PiiScanner rules_alone(shared_gazetteer);
    for (const privacy::PiiScanner* scanner : {&with_tagger, &rules_alone}) {
      fmt::print("\nheld out: {} texts, {}, matched by iou>=0.5\n", held_out.texts.size(),
                 scanner->uses_tagger() ? "with the tagger" : "the rules alone");
      print_scores(privacy::evaluate_pii(held_out, [&](std::string_view text) { return scanner->scan(text); }));
    }
  }
  if (args.out.empty()) return 0;
  if (auto saved = tagger.save(args.out); !saved) return fail("train", saved.error());
  fmt::print("wrote {}\n", args.out);
  return 0;
}

}  // namespace

void add_pii_command(CLI::App& app, GlobalOptions& global, int& exit_code) {
  auto args = std::make_shared<PiiArgs>();
  auto* pii = app.add_subcommand("pii", "Personal data: what is found, what would leave, how well it is detected");
  pii->require_subcommand(1);
  using Runner = int (*)(const Config&, const PiiArgs&);
  auto on_run = [&global, &exit_code](Runner runner, const std::shared_ptr<PiiArgs>& a) {
    return [&global, &exit_code, runner, a] {
      auto config = global.load();
      exit_code = config ? runner(*config, *a) : 2;
    };
  };

  auto* types = pii->add_subcommand("types", "The entity types and what the policy does with each ([privacy])");
  types->callback(on_run(run_types, args));

  auto* scan = pii->add_subcommand("scan", "Show the personal data in a file and what a public model would receive");
  scan->add_option("input", args->input, "a text file, or - for standard input")->required();
  scan->add_flag("--json", args->json, "one JSON object");
  scan->callback(on_run(run_scan, args));

  auto* eval = pii->add_subcommand("eval", "Precision, recall and F2 per type on a Presidio-format set");
  eval->add_option("--data", args->data,
                   "JSON list of {full_text, spans: [{entity_type, start_position, end_position}]}")
      ->required();
  eval->add_option("--split", args->split, "test (items with index % 4 == 0; the default), dev (the rest) or all")
      ->check(CLI::IsMember({"test", "dev", "all"}));
  eval->add_option("--match", args->match,
                   "iou (a span of the right type overlapping a label by IoU >= 0.5; the default), exact (identical "
                   "spans) or token (per word, as presidio-research counts)")
      ->check(CLI::IsMember({"iou", "exact", "token"}));
  eval->add_flag("--json", args->json, "one JSON object");
  eval->callback(on_run(run_eval, args));

  auto* train = pii->add_subcommand(
      "train", "Train the token tagger for names, organisations, places and addresses on a Presidio-format set");
  train->add_option("--data", args->data, "JSON list in Presidio's format, as for eval")->required();
  train->add_option("--split", args->train_split, "dev (items with index % 4 != 0; the default) or all")
      ->check(CLI::IsMember({"dev", "all"}));
  train->add_option("--out", args->out, "where to write the weights (privacy.tagger reads them)");
  train->add_option("--epochs", args->epochs, "passes over the texts")->check(CLI::Range(1, 100));
  train->add_option("--validate", args->validate,
                    "hold out part of the split and score it: texts (every fourth) or templates (those with "
                    "template_id % 4 == 3, so the held-out sentences come from templates the tagger never saw)")
      ->check(CLI::IsMember({"texts", "templates"}));
  train->callback(on_run(run_train, args));
}

}  // namespace tandem::cli
