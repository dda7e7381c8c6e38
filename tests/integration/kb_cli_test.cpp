// `tandem kb` as a user runs it: add a folder with a progress bar, list, search, remove, reindex
// with another embedding model, and an ingest killed with SIGKILL in the middle that leaves only
// whole documents and resumes.
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "support/server_process.h"
#include "support/test_support.h"

namespace tandem::testing {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

class KbCliTest : public ::testing::Test {
 protected:
  // Small chunks, so that a folder of small files makes several embedding groups.
  std::vector<std::string> settings(const std::string& kb_dir) const {
    return {"--set", "engine.embedding_model=" + embedding_model_path(), "--set", "knowledge.dir=" + kb_dir,
            "--set", "knowledge.chunk_tokens=32", "--set", "knowledge.chunk_overlap=0"};
  }
  ProcessOutput kb(const std::string& kb_dir, const std::vector<std::string>& args) const {
    auto all = settings(kb_dir);
    all.push_back("kb");
    all.insert(all.end(), args.begin(), args.end());
    return run_tandem(all);
  }
  json list(const std::string& kb_dir) const {
    auto listed = kb(kb_dir, {"list", "--json"});
    EXPECT_EQ(listed.exit_code, 0) << listed.stderr_text;
    return json::parse(listed.stdout_text, nullptr, false);
  }
  static int64_t total_chunks(const json& documents) {
    int64_t total = 0;
    for (const auto& d : documents) total += d["chunks"].get<int64_t>();
    return total;
  }
  // `count` notes of ~5 small chunks each, every one different.
  void write_notes(int count) const {
    std::filesystem::create_directories(dir_.path() / "notes");
    for (int i = 0; i < count; ++i) {
      std::ofstream out(dir_.path() / "notes" / ("note-" + std::to_string(1000 + i) + ".txt"));
      for (int s = 0; s < 10; ++s) out << "Note " << i << " says that item " << s << " of the list weighs " << (i * 10 + s) << " grams. ";
    }
  }

  TempDir dir_;
};

TEST_F(KbCliTest, AddListSearchRemove) {
  write_notes(3);
  const std::string kb_dir = dir_.file("kb");
  auto added = kb(kb_dir, {"add", (dir_.path() / "notes").string(), "--collection", "notes"});
  ASSERT_EQ(added.exit_code, 0) << added.stderr_text;
  EXPECT_NE(added.stdout_text.find("collection 'notes': 3 added"), std::string::npos) << added.stdout_text;
  EXPECT_NE(added.stderr_text.find("ingesting ["), std::string::npos) << "a progress bar on stderr";

  auto documents = list(kb_dir);
  ASSERT_EQ(documents.size(), 3u);
  auto collections = kb(kb_dir, {"collections", "--json"});
  ASSERT_EQ(collections.exit_code, 0) << collections.stderr_text;
  const auto named = json::parse(collections.stdout_text);
  ASSERT_EQ(named.size(), 1u);
  EXPECT_EQ(named[0]["name"], "notes");
  EXPECT_EQ(named[0]["documents"], 3);
  EXPECT_EQ(named[0]["chunks"], total_chunks(documents));
  auto found = kb(kb_dir, {"search", "which item weighs 27 grams?", "--json", "-k", "1", "--mode", "bm25"});
  ASSERT_EQ(found.exit_code, 0) << found.stderr_text;
  const auto hits = json::parse(found.stdout_text)["hits"];
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_NE(hits[0]["path"].get<std::string>().find("note-1002.txt"), std::string::npos) << found.stdout_text;

  auto removed = kb(kb_dir, {"rm", std::to_string(documents[0]["id"].get<int64_t>())});
  ASSERT_EQ(removed.exit_code, 0) << removed.stderr_text;
  EXPECT_EQ(list(kb_dir).size(), 2u);

  // Adding the folder again: the removed document's file comes back, a deleted file is reported,
  // and --prune removes its document.
  std::filesystem::remove(documents[1]["path"].get<std::string>());
  const std::string notes = (dir_.path() / "notes").string();
  auto again = kb(kb_dir, {"add", notes, "--collection", "notes"});
  ASSERT_EQ(again.exit_code, 0) << again.stderr_text;
  EXPECT_NE(again.stdout_text.find("1 added, 0 replaced, 1 unchanged, 0 failed, 1 gone;"), std::string::npos)
      << again.stdout_text;
  EXPECT_NE(again.stderr_text.find("its document stays (kb add --prune removes it)"), std::string::npos)
      << again.stderr_text;
  EXPECT_EQ(list(kb_dir).size(), 3u);
  auto pruned = kb(kb_dir, {"add", notes, "--collection", "notes", "--prune"});
  ASSERT_EQ(pruned.exit_code, 0) << pruned.stderr_text;
  EXPECT_NE(pruned.stdout_text.find("2 unchanged, 0 failed, 1 removed;"), std::string::npos) << pruned.stdout_text;
  EXPECT_EQ(list(kb_dir).size(), 2u);

  auto missing = kb(kb_dir, {"rm", "99999"});
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.stderr_text.find("no document with id 99999"), std::string::npos) << missing.stderr_text;
  auto bad = kb(kb_dir, {"add", dir_.file("nowhere")});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.stderr_text.find("no such file or folder"), std::string::npos) << bad.stderr_text;
}

TEST_F(KbCliTest, ReindexMovesABaseToAnotherEmbeddingModel) {
  write_notes(2);
  const std::string kb_dir = dir_.file("kb");
  auto added = kb(kb_dir, {"add", (dir_.path() / "notes").string()});
  ASSERT_EQ(added.exit_code, 0) << added.stderr_text;
  const int64_t chunks = total_chunks(list(kb_dir));

  // The same model converted with F32 matrices is another model to the base.
  const std::string f32 = dir_.file("minilm-f32.gguf");
  auto converted = run_tandem({"convert", "--input", embedding_source_dir(), "--output", f32, "--type", "f32"});
  ASSERT_EQ(converted.exit_code, 0) << converted.stderr_text;
  auto with_f32 = [&](const std::vector<std::string>& args) {
    auto all = settings(kb_dir);
    all.insert(all.end(), {"--set", "engine.embedding_model=" + f32, "kb"});
    all.insert(all.end(), args.begin(), args.end());
    return run_tandem(all);
  };
  const std::vector<std::string> search = {"search", "which item weighs 13 grams?", "--json", "-k", "1", "--mode",
                                           "dense"};
  auto refused = with_f32(search);
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.stderr_text.find("re-embed"), std::string::npos) << refused.stderr_text;

  auto reindexed = with_f32({"reindex"});
  ASSERT_EQ(reindexed.exit_code, 0) << reindexed.stderr_text;
  EXPECT_NE(reindexed.stdout_text.find("embedded " + std::to_string(chunks) + " chunks"), std::string::npos)
      << reindexed.stdout_text;
  EXPECT_NE(reindexed.stderr_text.find("embedding ["), std::string::npos) << "a progress bar on stderr";
  auto found = with_f32(search);
  ASSERT_EQ(found.exit_code, 0) << found.stderr_text;
  const auto hits = json::parse(found.stdout_text)["hits"];
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_NE(hits[0]["path"].get<std::string>().find("note-1001.txt"), std::string::npos) << found.stdout_text;
  EXPECT_EQ(kb(kb_dir, search).exit_code, 2) << "the base now keeps the F32 model";
}

TEST_F(KbCliTest, AKilledIngestKeepsWholeDocumentsAndResumes) {
  constexpr int kNotes = 200;
  write_notes(kNotes);
  // The reference: the same folder ingested without interruption.
  auto clean = kb(dir_.file("clean"), {"add", (dir_.path() / "notes").string()});
  ASSERT_EQ(clean.exit_code, 0) << clean.stderr_text;
  const int64_t expected_chunks = total_chunks(list(dir_.file("clean")));

  const std::string kb_dir = dir_.file("kb");
  auto args = settings(kb_dir);
  args.insert(args.end(), {"kb", "add", (dir_.path() / "notes").string()});
  auto adding = ChildProcess::spawn(tandem_binary(), args);
  ASSERT_TRUE(adding) << adding.error().message;
  // Kill it as soon as some documents are committed.
  json documents = json::array();
  for (auto deadline = std::chrono::steady_clock::now() + 120s;
       documents.empty() && std::chrono::steady_clock::now() < deadline;) {
    std::this_thread::sleep_for(100ms);
    if (std::filesystem::exists(kb_dir + "/kb.sqlite")) documents = list(kb_dir);
  }
  (*adding)->send_signal(SIGKILL);
  (*adding)->wait(10s);
  ASSERT_FALSE(documents.empty()) << (*adding)->stderr_text();

  documents = list(kb_dir);
  const auto committed = documents.size();
  auto resumed = kb(kb_dir, {"add", (dir_.path() / "notes").string()});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.stderr_text;
  EXPECT_NE(resumed.stdout_text.find(std::to_string(kNotes - committed) + " added, 0 replaced, " +
                                     std::to_string(committed) + " unchanged"),
            std::string::npos)
      << resumed.stdout_text;
  // A half-stored document would be "unchanged" with too few chunks: the totals would differ.
  const json all = list(kb_dir);
  EXPECT_EQ(all.size(), static_cast<size_t>(kNotes));
  EXPECT_EQ(total_chunks(all), expected_chunks);
  auto found = kb(kb_dir, {"search", "note 150 item 3", "--json", "-k", "1", "--mode", "bm25"});
  ASSERT_EQ(found.exit_code, 0) << found.stderr_text;
  EXPECT_NE(json::parse(found.stdout_text)["hits"][0]["path"].get<std::string>().find("note-1150.txt"), std::string::npos);
}

}  // namespace
}  // namespace tandem::testing
