#include "knowledge/store.h"

#include <gtest/gtest.h>

#include <fstream>

#include "knowledge/text_analysis.h"
#include "support/test_support.h"

namespace tandem::knowledge {
namespace {

Chunk chunk(std::string text) {
  Chunk c;
  c.text = std::move(text);
  c.char_end = static_cast<int64_t>(c.text.size());
  return c;
}

// Every test runs on a store in clear and on one encrypted at rest (EncryptedVfs): both must
// behave the same.
class StoreTest : public ::testing::TestWithParam<bool> {
 protected:
  static std::optional<privacy::Key> key() {
    if (!GetParam()) return std::nullopt;
    privacy::Key key;
    key.fill(0x5a);
    return key;
  }

  void SetUp() override {
    auto opened = Store::open(dir_.file("kb.sqlite"), key());
    ASSERT_TRUE(opened) << opened.error().message;
    store_ = std::move(*opened);
    auto id = store_->collection_id("notes", true);
    ASSERT_TRUE(id && *id);
    notes_ = **id;
  }

  int64_t put(const std::string& path, std::vector<std::string> texts, int64_t collection,
              std::vector<int64_t>* replaced = nullptr) {
    DocumentRecord record;
    record.collection_id = collection;
    record.path = path;
    record.format = "text";
    record.content_hash = path + std::to_string(texts.size());
    std::vector<Chunk> chunks;
    std::vector<std::vector<float>> vectors;
    for (auto& text : texts) {
      chunks.push_back(chunk(text));
      vectors.push_back({1, 0, 0});
    }
    auto ids = store_->replace_document(record, chunks, vectors, replaced);
    EXPECT_TRUE(ids) << ids.error().message;
    return record.id;
  }

  testing::TempDir dir_;
  std::unique_ptr<Store> store_;
  int64_t notes_ = 0;
};

TEST_P(StoreTest, Bm25RanksTheChunkThatMatchesBestFirst) {
  put("/a.txt", {"The lease ends on 31 March 2027.", "Pets are not allowed in the flat."}, notes_);
  put("/b.txt", {"租约将于2027年3月31日结束。", "The garden is shared."}, notes_);
  auto hits = store_->search_lexical("When does the lease end?", 10, {});
  ASSERT_TRUE(hits) << hits.error().message;
  ASSERT_FALSE(hits->empty());
  auto top = store_->chunks({hits->front().id});
  ASSERT_TRUE(top && top->size() == 1);
  EXPECT_EQ(top->front().text, "The lease ends on 31 March 2027.");
  EXPECT_EQ(top->front().path, "/a.txt");

  auto chinese = store_->search_lexical("租约什么时候结束", 10, {});
  ASSERT_TRUE(chinese && !chinese->empty());
  EXPECT_EQ(store_->chunks({chinese->front().id})->front().path, "/b.txt");
}

TEST_P(StoreTest, QueryTextIsNeverReadAsSearchSyntax) {
  put("/a.txt", {"alpha beta gamma"}, notes_);
  for (const char* query : {"\"", "alpha NEAR(", "beta* OR", "gamma\"\") --", ")(", "NOT"}) {
    auto hits = store_->search_lexical(query, 5, {});
    EXPECT_TRUE(hits) << query << ": " << hits.error().message;
  }
  EXPECT_EQ(store_->search_lexical("\"alpha\"", 5, {})->size(), 1u);
}

TEST_P(StoreTest, CollectionFilterIsPartOfTheQuery) {
  auto other = store_->collection_id("other", true);
  ASSERT_TRUE(other && *other);
  // Many strong matches in "other" must not crowd out the one in "notes".
  for (int i = 0; i < 30; ++i) put("/o" + std::to_string(i), {"invoice invoice invoice"}, **other);
  put("/n.txt", {"an invoice among other words in a longer sentence"}, notes_);
  auto hits = store_->search_lexical("invoice", 3, {notes_});
  ASSERT_TRUE(hits);
  ASSERT_EQ(hits->size(), 1u);
  EXPECT_EQ(store_->chunks({hits->front().id})->front().path, "/n.txt");
}

TEST_P(StoreTest, InALargeBaseWordsInMostChunksAreLeftOutOfTheQuery) {
  std::vector<std::string> texts;
  for (int i = 0; i < 10050; ++i)
    texts.push_back("common filler text number " + std::to_string(i) + (i % 4000 == 7 ? " rare" : ""));
  put("/big.txt", texts, notes_);
  auto hits = store_->search_lexical("common rare", 50, {});
  ASSERT_TRUE(hits) << hits.error().message;
  EXPECT_EQ(hits->size(), 3u) << "only the rare word is searched: 'common' is in every chunk";
  auto only_common = store_->search_lexical("common filler", 5, {});
  ASSERT_TRUE(only_common);
  EXPECT_EQ(only_common->size(), 5u) << "when every word is common, the rarest are still searched";
}

// The word counts the pruning reads are kept between searches: a word that was in no chunk (and
// so left out of the query) must be searched as soon as a chunk holds it, whether this store or
// another connection to the same file added it.
TEST_P(StoreTest, WordsAddedAfterASearchAreFoundByTheNext) {
  put("/a.txt", {"alpha beta"}, notes_);
  ASSERT_TRUE(store_->search_lexical("gamma", 5, {}));
  EXPECT_TRUE(store_->search_lexical("gamma", 5, {})->empty());
  put("/b.txt", {"beta gamma"}, notes_);
  auto after_own_write = store_->search_lexical("gamma", 5, {});
  ASSERT_TRUE(after_own_write) << after_own_write.error().message;
  EXPECT_EQ(after_own_write->size(), 1u);

  EXPECT_TRUE(store_->search_lexical("delta", 5, {})->empty());
  {
    auto other = Store::open(dir_.file("kb.sqlite"), key());
    ASSERT_TRUE(other) << other.error().message;
    DocumentRecord record;
    record.collection_id = notes_;
    record.path = "/c.txt";
    record.format = "text";
    record.content_hash = "c";
    ASSERT_TRUE((*other)->replace_document(record, {chunk("gamma delta")}, {{1, 0, 0}}, nullptr));
  }
  auto after_other_write = store_->search_lexical("delta", 5, {});
  ASSERT_TRUE(after_other_write) << after_other_write.error().message;
  EXPECT_EQ(after_other_write->size(), 1u);
  EXPECT_EQ(store_->search_lexical("gamma", 5, {})->size(), 2u);
}

TEST_P(StoreTest, ReplacingADocumentRemovesItsOldChunksFromTheIndex) {
  put("/a.txt", {"old words here"}, notes_);
  std::vector<int64_t> replaced;
  put("/a.txt", {"new words here", "and more"}, notes_, &replaced);
  EXPECT_EQ(replaced.size(), 1u);
  EXPECT_TRUE(store_->search_lexical("old", 5, {})->empty());
  EXPECT_EQ(store_->search_lexical("new", 5, {})->size(), 1u);
  auto docs = store_->documents(std::nullopt);
  ASSERT_TRUE(docs);
  ASSERT_EQ(docs->size(), 1u);
  EXPECT_EQ(docs->front().chunks, 2);
  EXPECT_EQ(docs->front().collection, "notes");
}

TEST_P(StoreTest, RemovingDocumentsAndCollections) {
  const int64_t a = put("/a.txt", {"apple"}, notes_);
  put("/b.txt", {"banana"}, notes_);
  auto removed = store_->remove_document(a);
  ASSERT_TRUE(removed);
  EXPECT_EQ(removed->size(), 1u);
  EXPECT_TRUE(store_->search_lexical("apple", 5, {})->empty());
  EXPECT_FALSE(*store_->document(a));
  auto gone = store_->remove_collection(notes_);
  ASSERT_TRUE(gone);
  EXPECT_EQ(gone->size(), 1u);
  EXPECT_TRUE(store_->search_lexical("banana", 5, {})->empty());
  EXPECT_TRUE(store_->collections()->empty());
}

TEST_P(StoreTest, ChunkIdsAreNeverReused) {
  const int64_t a = put("/a.txt", {"one", "two"}, notes_);
  int64_t highest = 0;
  ASSERT_TRUE(store_->for_each_chunk([&](int64_t id, int64_t) { highest = std::max(highest, id); }));
  ASSERT_TRUE(store_->remove_document(a));
  put("/b.txt", {"three"}, notes_);
  int64_t next = 0;
  ASSERT_TRUE(store_->for_each_chunk([&](int64_t id, int64_t) { next = id; }));
  EXPECT_GT(next, highest);
}

// The rebuild itself is FTS5's; this checks that a store from another analysis version is
// rebuilt in place and records the current version, with its text still searchable.
TEST_P(StoreTest, AStoreFromAnotherTextAnalysisIsRebuiltAndRecordsTheCurrentOne) {
  put("/a.txt", {"The leases ended in March."}, notes_);
  ASSERT_TRUE(store_->set_meta("text_analysis", "an older analysis"));
  ASSERT_EQ(store_->search_lexical("lease", 5, {})->size(), 1u);
  store_.reset();
  auto reopened = Store::open(dir_.file("kb.sqlite"), key());
  ASSERT_TRUE(reopened) << reopened.error().message;
  EXPECT_EQ(*(*reopened)->meta("text_analysis"), std::string(text_analysis_version()));
  auto hits = (*reopened)->search_lexical("lease ending", 5, {});
  ASSERT_TRUE(hits);
  EXPECT_EQ(hits->size(), 1u);
}

TEST_P(StoreTest, AFileThatIsNotADatabaseIsReportedAsDamaged) {
  testing::TempDir dir;
  {
    std::ofstream out(dir.file("kb.sqlite"));
    out << std::string(8192, 'x');
  }
  auto opened = Store::open(dir.file("kb.sqlite"), key());
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kDataLoss) << opened.error().message;
}

INSTANTIATE_TEST_SUITE_P(InClearAndEncrypted, StoreTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "Encrypted" : "Clear"; });

}  // namespace
}  // namespace tandem::knowledge
