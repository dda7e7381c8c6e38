// `tandem kb add | list | collections | rm | search | reindex | eval`: the private knowledge base
// from the command line.
#include <fmt/format.h>

#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/engine_options.h"
#include "cli/pipeline_setup.h"
#include "cli/progress_bar.h"
#include "knowledge/grounding.h"
#include "knowledge/squad_eval.h"
#include "providers/local_provider.h"

namespace tandem::cli {
namespace {

struct KbArgs {
  std::vector<std::string> paths;
  std::string collection;
  std::vector<std::string> collections;
  std::vector<std::string> include;
  std::vector<std::string> exclude;
  bool hidden = false;
  bool prune = false;
  bool json = false;
  std::vector<int64_t> ids;
  std::string query;
  int k = 0;
  std::string mode = "hybrid";
  std::string squad;
  std::string questions;
  std::string split = "all";
  int answer = 0;
  bool not_found = false;
  double keep_answerable = 0.95;
  std::string model = "local";
  std::string dir;
};

int fail(std::string_view command, const Error& error, ProgressBar* bar = nullptr) {
  if (bar) bar->end_line();
  std::cerr << "tandem kb " << command << ": " << error.message << "\n";
  if (error.code == ErrorCode::kNotFound && error.message.find("model") != std::string::npos) {
    std::cerr << "run scripts/setup.sh to download the default models\n";
  }
  return error.code == ErrorCode::kInvalidArgument || error.code == ErrorCode::kNotFound ? 2 : 1;
}

int run_add(const Config& config, const KbArgs& args) {
  auto base = open_knowledge_base(config, KnowledgeUse::kManage);
  if (!base) return fail("add", base.error());
  ProgressBar bar;
  knowledge::AddOptions options;
  options.collection = args.collection.empty() ? "default" : args.collection;
  options.include = args.include;
  options.exclude = args.exclude;
  options.hidden = args.hidden;
  options.prune = args.prune;
  auto report = (*base)->add(args.paths, options, [&](const knowledge::AddProgress& p) {
    bar.update("ingesting", p.files_done, p.files_total, fmt::format("files, {} chunks", p.chunks));
  });
  bar.end_line();
  if (!report) return fail("add", report.error());
  using knowledge::FileStatus;
  for (const auto& file : report->files) {
    if (!file.message.empty()) {
      std::cerr << fmt::format("{:<9} {}: {}\n", knowledge::file_status_name(file.status), file.path, file.message);
    }
  }
  std::string counts;
  for (FileStatus status :
       {FileStatus::kAdded, FileStatus::kReplaced, FileStatus::kUnchanged, FileStatus::kMoved, FileStatus::kDuplicate,
        FileStatus::kSkipped, FileStatus::kFailed, FileStatus::kGone, FileStatus::kRemoved}) {
    const int64_t n = report->count(status);
    // The usual three always, the rest when they happened.
    if (n > 0 || status == FileStatus::kAdded || status == FileStatus::kReplaced || status == FileStatus::kUnchanged ||
        status == FileStatus::kFailed) {
      counts += fmt::format("{}{} {}", counts.empty() ? "" : ", ", n, knowledge::file_status_name(status));
    }
  }
  const double seconds = std::max(report->seconds, 1e-9);
  std::cout << fmt::format("collection '{}': {}; {} chunks, {} PDF pages in {:.1f} s ({:.1f} chunks/s)\n",
                           options.collection, counts, report->chunks, report->pages, report->seconds,
                           report->chunks / seconds);
  return report->count(FileStatus::kFailed) > 0 ? 1 : 0;
}

int run_list(const Config& config, const KbArgs& args) {
  auto base = open_knowledge_base(config, KnowledgeUse::kManage);
  if (!base) return fail("list", base.error());
  auto documents = (*base)->documents(args.collection);
  if (!documents) return fail("list", documents.error());
  if (args.json) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const auto& d : *documents) {
      out.push_back({{"id", d.id}, {"collection", d.collection}, {"path", d.path}, {"format", d.format},
                     {"title", d.title}, {"bytes", d.bytes}, {"pages", d.pages}, {"chunks", d.chunks},
                     {"added_at", d.added_at}});
    }
    std::cout << out.dump() << "\n";
    return 0;
  }
  std::cout << fmt::format("{:>6}  {:<12} {:<8} {:>6} {:>5}  {}\n", "id", "collection", "format", "chunks", "pages", "path");
  for (const auto& d : *documents) {
    std::cout << fmt::format("{:>6}  {:<12} {:<8} {:>6} {:>5}  {}\n", d.id, d.collection, d.format, d.chunks, d.pages, d.path);
  }
  return 0;
}

int run_collections(const Config& config, const KbArgs& args) {
  auto base = open_knowledge_base(config, KnowledgeUse::kManage);
  if (!base) return fail("collections", base.error());
  auto collections = (*base)->collections();
  if (!collections) return fail("collections", collections.error());
  if (args.json) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const auto& c : *collections) out.push_back({{"name", c.name}, {"documents", c.documents}, {"chunks", c.chunks}});
    std::cout << out.dump() << "\n";
    return 0;
  }
  std::cout << fmt::format("{:<20} {:>9} {:>8}\n", "collection", "documents", "chunks");
  for (const auto& c : *collections) std::cout << fmt::format("{:<20} {:>9} {:>8}\n", c.name, c.documents, c.chunks);
  return 0;
}

int run_rm(const Config& config, const KbArgs& args) {
  if (args.ids.empty() == args.collection.empty()) {
    std::cerr << "tandem kb rm: give document ids (see `tandem kb list`) or --collection NAME, not both\n";
    return 2;
  }
  auto base = open_knowledge_base(config, KnowledgeUse::kManage);
  if (!base) return fail("rm", base.error());
  if (!args.collection.empty()) {
    if (auto st = (*base)->remove_collection(args.collection); !st) return fail("rm", st.error());
    std::cout << "removed collection '" << args.collection << "'\n";
    return 0;
  }
  for (int64_t id : args.ids) {
    auto removed = (*base)->remove_document(id);
    if (!removed) return fail("rm", removed.error());
    std::cout << "removed " << removed->path << "\n";
  }
  return 0;
}

knowledge::SearchOptions search_options(const Config& config, const KbArgs& args) {
  knowledge::SearchOptions options = knowledge_search_options(config);
  if (args.k > 0) options.k = args.k;
  options.collections = args.collections;
  return options;
}

int run_search(const Config& config, const KbArgs& args) {
  auto mode = knowledge::parse_search_mode(args.mode);
  if (!mode) return fail("search", mode.error());
  auto base = open_knowledge_base(config, KnowledgeUse::kSearch);
  if (!base) return fail("search", base.error());
  auto options = search_options(config, args);
  options.mode = *mode;
  auto found = (*base)->search(args.query, options);
  if (!found) return fail("search", found.error());
  if (args.json) {
    nlohmann::ordered_json hits = nlohmann::ordered_json::array();
    for (const auto& h : found->hits) {
      hits.push_back({{"score", h.score}, {"bm25_rank", h.bm25_rank}, {"dense_rank", h.dense_rank},
                      {"similarity", h.similarity}, {"query_likelihood", h.query_likelihood},
                      {"document_id", h.chunk.document_id}, {"path", h.chunk.path},
                      {"page", h.chunk.page}, {"char_start", h.chunk.char_start}, {"char_end", h.chunk.char_end},
                      {"heading", h.chunk.heading}, {"text", h.chunk.text}});
    }
    std::cout << nlohmann::ordered_json{{"hits", hits}, {"top_similarity", found->top_similarity},
                                        {"bm25_weight", found->bm25_weight}, {"dense_weight", found->dense_weight},
                                        {"reranked", found->reranked}, {"rerank_ms", found->rerank_ms},
                                        {"search_ms", found->search_ms}}
                     .dump()
              << "\n";
    return 0;
  }
  int n = 0;
  for (const auto& h : found->hits) {
    std::cout << fmt::format("[{}] {:.4f}  {}{}  chars {}-{}\n    {}\n", ++n, h.score, h.chunk.path,
                             h.chunk.page > 0 ? fmt::format(" p.{}", h.chunk.page) : "", h.chunk.char_start,
                             h.chunk.char_end, h.chunk.text.substr(0, 300));
  }
  if (found->hits.empty()) std::cout << "no matching passages\n";
  return 0;
}

nlohmann::ordered_json metrics_json(const knowledge::RetrievalMetrics& m) {
  return {{"recall_at_1", m.recall_at_1}, {"recall_at_5", m.recall_at_5}, {"recall_at_10", m.recall_at_10},
          {"mrr", m.mrr}, {"latency_ms_p50", m.latency_ms_p50}, {"latency_ms_p95", m.latency_ms_p95}};
}

// kb eval --not-found: the curve of "not found" against knowledge.min_similarity (squad_eval.h).
int run_not_found_eval(const knowledge::SquadSet& set, knowledge::KnowledgeBase& base,
                       const knowledge::SearchOptions& search, const KbArgs& args, ProgressBar& bar,
                       const knowledge::EvalProgress& progress) {
  auto indexed = knowledge::index_squad(set, base, progress,
                                        [&](size_t paragraph) { return knowledge::in_not_found_base(set, paragraph); });
  if (!indexed) return fail("eval", indexed.error(), &bar);
  const double min_word_overlap = knowledge::GroundingOptions{}.min_word_overlap;
  auto report = knowledge::evaluate_not_found(set, base, search, min_word_overlap, args.keep_answerable, progress);
  if (!report) return fail("eval", report.error(), &bar);
  bar.end_line();
  const auto point_json = [](const knowledge::NotFoundPoint& p) {
    return nlohmann::ordered_json{{"min_similarity", p.min_similarity},
                                  {"answerable_found", p.answerable_found},
                                  {"unanswerable_refused", p.unanswerable_refused}};
  };
  if (args.json) {
    nlohmann::ordered_json curve = nlohmann::ordered_json::array();
    for (const auto& p : report->curve) curve.push_back(point_json(p));
    std::cout << nlohmann::ordered_json{{"split", args.split},
                                        {"n_paragraphs", indexed->n_paragraphs},
                                        {"answerable", report->answerable},
                                        {"unanswerable", report->unanswerable},
                                        {"min_word_overlap", min_word_overlap},
                                        {"unanswerable_by_overlap", report->unanswerable_by_overlap},
                                        {"keep_answerable", args.keep_answerable},
                                        {"chosen", point_json(report->chosen)},
                                        {"curve", curve}}
                     .dump()
              << "\n";
    return 0;
  }
  std::cout << fmt::format("{} paragraphs indexed; {} questions have their answer there, {} do not\n",
                           indexed->n_paragraphs, report->answerable, report->unanswerable);
  std::cout << "min_similarity  answerable grounded  unanswerable refused\n";
  for (size_t i = 0; i < report->curve.size(); i += 5) {
    const auto& p = report->curve[i];
    std::cout << fmt::format("{:>14.2f}  {:>19.3f}  {:>20.3f}\n", p.min_similarity, p.answerable_found,
                             p.unanswerable_refused);
  }
  std::cout << fmt::format(
      "highest threshold grounding {:.0f}% of the answerable: {:.2f} (refuses {:.3f}); {:.3f} of the unanswerable "
      "share {:.0f}% of their words with a passage and are grounded at any threshold\n",
      100 * args.keep_answerable, report->chosen.min_similarity, report->chosen.unanswerable_refused,
      report->unanswerable_by_overlap, 100 * min_word_overlap);
  return 0;
}

int run_eval(const Config& config, const KbArgs& args) {
  auto set = knowledge::read_squad(args.squad);
  if (!set) return fail("eval", set.error());
  if (!args.questions.empty()) {
    auto other = knowledge::read_squad(args.questions);
    if (!other) return fail("eval", other.error());
    if (auto st = knowledge::use_questions_from(*set, *other); !st) return fail("eval", st.error());
  }
  auto split = knowledge::parse_squad_split(args.split);
  if (!split) return fail("eval", split.error());
  knowledge::keep_questions_of(*set, *split);
  // A fresh temporary base, removed afterwards.
  const std::filesystem::path dir = std::filesystem::temp_directory_path() /
                                    fmt::format("tandem-kb-eval-{}-{}", ::getpid(), std::chrono::steady_clock::now().time_since_epoch().count());
  struct Cleanup {
    std::filesystem::path dir;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } cleanup{dir};
  auto base = open_knowledge_base(config, KnowledgeUse::kSearch, dir.string());
  if (!base) return fail("eval", base.error());
  ProgressBar bar;
  auto progress = [&](const std::string& stage, size_t done, size_t total) {
    bar.update(stage, done, total, stage == "indexing" ? "paragraphs" : "questions");
  };
  const auto search = search_options(config, args);
  if (args.not_found) return run_not_found_eval(*set, **base, search, args, bar, progress);
  auto report = knowledge::index_squad(*set, **base, progress);
  if (!report) return fail("eval", report.error(), &bar);
  if (auto st = knowledge::evaluate_retrieval(*set, **base, search, *report, progress); !st) {
    return fail("eval", st.error(), &bar);
  }
  nlohmann::ordered_json out;
  for (const auto& m : report->modes) out[m.name] = metrics_json(m);
  if (*split == knowledge::SquadSplit::kAll) {
    for (const auto& [half, modes] : {std::pair{"tune", &report->tune_modes}, std::pair{"holdout", &report->holdout_modes}}) {
      out[half]["n_questions"] = modes->front().questions;
      for (const auto& m : *modes) out[half][m.name] = metrics_json(m);
    }
  }
  out["split"] = args.split;
  out["n_questions"] = report->n_questions;
  out["n_paragraphs"] = report->n_paragraphs;
  out["n_chunks"] = report->n_chunks;
  out["index_seconds"] = report->index_seconds;

  if (args.answer > 0) {
    std::unique_ptr<engine::ChatEngine> chat;
    std::shared_ptr<providers::Provider> provider;
    if (args.model == "local") {
      auto engine_options = chat_engine_options(config);
      if (!engine_options) return fail("eval", engine_options.error(), &bar);
      engine_options->slots = 1;
      auto engine = engine::ChatEngine::load(*engine_options);
      if (!engine) return fail("eval", engine.error(), &bar);
      chat = std::move(*engine);
      provider = std::make_shared<providers::LocalProvider>(*chat);
    } else {
      auto cloud = make_cloud_provider(config);
      if (!cloud) return fail("eval", cloud.error(), &bar);
      if (!*cloud) return fail("eval", make_error(ErrorCode::kInvalidArgument, "--model cloud needs [cloud] in the config"), &bar);
      provider = *cloud;
    }
    auto answer_search = search;
    answer_search.mode = knowledge::SearchMode::kHybrid;
    auto answers = knowledge::evaluate_answers(
        *set, **base, static_cast<size_t>(args.answer), answer_search, grounding_min_similarity(config, **base),
        [&](const std::vector<engine::ChatMessage>& messages) -> Result<std::string> {
          providers::ChatRequest request;
          request.messages = messages;
          request.sampling.temperature = 0;
          request.sampling.max_tokens = 64;
          auto result = provider->complete(request);
          if (!result) return result.error();
          return result->text;
        },
        progress);
    if (!answers) return fail("eval", answers.error(), &bar);
    out["answer"] = {{"model", provider->name()}, {"n", answers->n}, {"contains_gold", answers->contains_gold},
                     {"not_found_rate", answers->not_found_rate}, {"latency_ms_p50", answers->latency_ms_p50}};
  }
  bar.end_line();
  if (args.json) {
    std::cout << out.dump() << "\n";
  } else {
    for (const auto& [key, value] : out.items()) std::cout << key << ": " << value.dump() << "\n";
  }
  return 0;
}

int run_reindex(const Config& config, const KbArgs&) {
  ProgressBar bar;
  auto chunks = reembed_knowledge_base(config, [&](int64_t done, int64_t total) {
    bar.update("embedding", static_cast<size_t>(done), static_cast<size_t>(total), "chunks");
  });
  if (!chunks) return fail("reindex", chunks.error(), &bar);
  bar.end_line();
  std::cout << "embedded " << *chunks << " chunks again with " << config.knowledge_embedding_model << "\n";
  return 0;
}

}  // namespace

void add_kb_command(CLI::App& app, GlobalOptions& global, int& exit_code) {
  auto args = std::make_shared<KbArgs>();
  auto* kb = app.add_subcommand("kb", "The private knowledge base: add, list, collections, rm, search, reindex, eval");
  kb->require_subcommand(1);
  using Runner = int (*)(const Config&, const KbArgs&);
  auto on_run = [&global, &exit_code](Runner runner, const std::shared_ptr<KbArgs>& a) {
    return [&global, &exit_code, runner, a] {
      auto config = global.load();
      exit_code = config ? runner(*config, *a) : 2;
    };
  };

  auto* add = kb->add_subcommand("add", "Ingest files and folders (txt, md, html, pdf, docx, csv), with a progress bar");
  add->add_option("paths", args->paths, "files and folders")->required();
  add->add_option("--collection", args->collection, "collection to add to (default: default)");
  add->add_option("--include", args->include, "only files matching this glob (repeatable), e.g. '*.pdf'");
  add->add_option("--exclude", args->exclude, "skip files matching this glob (repeatable)");
  add->add_flag("--hidden", args->hidden, "also enter dot-files and dot-folders");
  add->add_flag("--prune", args->prune, "remove the documents at or under the paths whose files are gone");
  add->callback(on_run(run_add, args));

  auto* list = kb->add_subcommand("list", "List the documents");
  list->add_option("--collection", args->collection, "only this collection");
  list->add_flag("--json", args->json, "one JSON array");
  list->callback(on_run(run_list, args));

  auto* collections = kb->add_subcommand("collections", "List the collections with their documents and chunks");
  collections->add_flag("--json", args->json, "one JSON array");
  collections->callback(on_run(run_collections, args));

  auto* rm = kb->add_subcommand("rm", "Remove documents by id, or a whole collection");
  rm->add_option("ids", args->ids, "document ids, as `tandem kb list` shows them");
  rm->add_option("--collection", args->collection, "remove this collection and all its documents");
  rm->callback(on_run(run_rm, args));

  auto* search = kb->add_subcommand("search", "Ranked passages for a query, with scores");
  search->add_option("query", args->query, "what to look for")->required();
  search->add_option("-k", args->k, "passages to show (default: knowledge.top_k)");
  search->add_option("--mode", args->mode, "bm25 | dense | hybrid")->capture_default_str();
  search->add_option("--collection", args->collections, "only these collections (repeatable)");
  search->add_flag("--json", args->json, "one JSON object");
  search->callback(on_run(run_search, args));

  auto* reindex = kb->add_subcommand(
      "reindex",
      "Embed every chunk again with knowledge.embedding_model, which the base then keeps (stop other users first)");
  reindex->callback(on_run(run_reindex, args));

  auto* eval = kb->add_subcommand("eval", "Retrieval (and answer) quality on a SQuAD-format file");
  eval->add_option("--squad", args->squad, "SQuAD-format JSON: its paragraphs are indexed, its questions asked")->required();
  eval->add_option("--questions", args->questions, "take the questions from this parallel file (same ids; cross-lingual)");
  eval->add_option("--split", args->split, "ask all questions, or one half chosen by a hash of the id: tune | holdout")
      ->check(CLI::IsMember({"all", "tune", "holdout"}))
      ->capture_default_str();
  eval->add_option("--answer", args->answer, "also answer the first N questions end to end");
  eval->add_flag("--not-found", args->not_found,
                 "calibrate knowledge.min_similarity instead: index every other article, then see which questions "
                 "get 'not found' at each threshold");
  eval->add_option("--keep-answerable", args->keep_answerable,
                   "--not-found: the share of answerable questions the chosen threshold must still ground")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  eval->add_option("--model", args->model, "who answers: local | cloud ([cloud] in the config)")
      ->check(CLI::IsMember({"local", "cloud"}))
      ->capture_default_str();
  eval->add_flag("--json", args->json, "one JSON object");
  eval->callback(on_run(run_eval, args));
}

}  // namespace tandem::cli
