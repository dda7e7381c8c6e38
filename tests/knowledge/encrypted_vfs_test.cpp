#include "knowledge/encrypted_vfs.h"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <set>

#include "knowledge/store.h"
#include "support/test_support.h"

// Encryption at rest through the real Store: what lands on disk, and what happens when it is
// damaged, read with the wrong key, or left behind by a crash.
namespace tandem::knowledge {
namespace {

namespace fs = std::filesystem;

constexpr const char* kCanary = "zqxcanary7319wv";  // one word, so the full-text index holds it too

privacy::Key key_of(uint8_t fill) {
  privacy::Key key;
  key.fill(fill);
  return key;
}

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// The files of `dir` that hold `needle` anywhere in their bytes.
std::vector<std::string> files_holding(const fs::path& dir, const std::string& needle) {
  std::vector<std::string> found;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file() && read_bytes(entry.path()).find(needle) != std::string::npos) {
      found.push_back(entry.path().filename().string());
    }
  }
  return found;
}

// SQLite's integrity check through the VFS: reads every page of every table and index, also
// those the store's queries never touch. What failed authentication, if anything.
std::optional<std::string> damage_found_by_integrity_check(const std::string& path, const privacy::Key& key) {
  auto vfs = EncryptedVfs::create(key);
  EXPECT_TRUE(vfs);
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, (*vfs)->name()) == SQLITE_OK) {
    sqlite3_exec(db, "PRAGMA integrity_check", nullptr, nullptr, nullptr);
  }
  sqlite3_close(db);
  return (*vfs)->damage();
}

class EncryptedStoreTest : public ::testing::Test {
 protected:
  std::string path() const { return dir_.file("kb.sqlite"); }
  std::string wal() const { return dir_.file("kb.sqlite-wal"); }

  Result<std::unique_ptr<Store>> open(std::optional<privacy::Key> key = key_of(7)) { return Store::open(path(), key); }

  std::unique_ptr<Store> open_ok(std::optional<privacy::Key> key = key_of(7)) {
    auto store = open(key);
    EXPECT_TRUE(store) << store.error().message;
    return store ? std::move(*store) : nullptr;
  }

  // Stores one document of `chunks` chunks, the first holding the canary; returns its id.
  static int64_t put(Store& store, const std::string& name, int chunks) {
    auto collection = store.collection_id("private", true);
    EXPECT_TRUE(collection && *collection);
    DocumentRecord record;
    record.collection_id = **collection;
    record.path = "/" + name;
    record.format = "text";
    record.title = name;
    record.content_hash = name;
    std::vector<Chunk> texts;
    std::vector<std::vector<float>> vectors;
    for (int i = 0; i < chunks; ++i) {
      Chunk c;
      c.text = (i == 0 ? std::string("The access code is ") + kCanary + "." : "") + " Filler passage number " +
               std::to_string(i) + " about leases, gardens and the weather in March.";
      c.char_end = static_cast<int64_t>(c.text.size());
      texts.push_back(std::move(c));
      vectors.push_back({static_cast<float>(i), 1, 0});
    }
    auto ids = store.replace_document(record, texts, vectors, nullptr);
    EXPECT_TRUE(ids) << ids.error().message;
    return record.id;
  }

  // A writer in a child process that commits `write` and dies without closing the store: its
  // transactions live only in the WAL.
  void crash_after(const std::function<bool(Store&)>& write) {
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      auto store = Store::open(path(), key_of(7));
      _exit(store && write(**store) ? 0 : 1);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0);
  }

  static bool finds_canary(Store& store) {
    auto hits = store.search_lexical(kCanary, 5, {});
    if (!hits || hits->size() != 1) return false;
    auto chunks = store.chunks({hits->front().id});
    return chunks && chunks->size() == 1 && chunks->front().text.find(kCanary) != std::string::npos;
  }

  testing::TempDir dir_;
};

TEST_F(EncryptedStoreTest, TheCanaryIsOnDiskInClearWithoutAKey) {
  // The control for the tests below: the search of the raw bytes does find plain text.
  auto store = open_ok(std::nullopt);
  put(*store, "secret.txt", 3);
  EXPECT_FALSE(files_holding(dir_.path(), kCanary).empty());
}

TEST_F(EncryptedStoreTest, NoByteOfTheCanaryReachesTheDiskWhileOpenOrAfterClose) {
  auto store = open_ok();
  put(*store, "secret.txt", 3);
  ASSERT_TRUE(finds_canary(*store));
  ASSERT_TRUE(fs::exists(wal()));
  EXPECT_GT(fs::file_size(wal()), 4096u) << "the committed document is in the WAL";
  EXPECT_EQ(files_holding(dir_.path(), kCanary), std::vector<std::string>());
  store.reset();  // the last connection checkpoints the WAL into the database
  EXPECT_GT(fs::file_size(path()), 4096u * 4);
  EXPECT_EQ(files_holding(dir_.path(), kCanary), std::vector<std::string>());
  EXPECT_EQ(database_file_kind(path()), DatabaseFileKind::kEncrypted);

  auto reopened = open_ok();
  EXPECT_TRUE(finds_canary(*reopened));
}

TEST_F(EncryptedStoreTest, ALargeTransactionLeavesOnlyCiphertext) {
  auto store = open_ok();
  put(*store, "big.txt", 30000);  // ~5 MB in one transaction: past the WAL's 1,000-page checkpoint
  ASSERT_TRUE(finds_canary(*store));
  EXPECT_GT(fs::file_size(path()), 4u << 20) << "checkpointed into kb.sqlite while the store is open";
  EXPECT_EQ(files_holding(dir_.path(), kCanary), std::vector<std::string>());
  EXPECT_EQ(files_holding(dir_.path(), "Filler passage"), std::vector<std::string>());
  store.reset();
  EXPECT_EQ(files_holding(dir_.path(), "Filler passage"), std::vector<std::string>());
}

TEST_F(EncryptedStoreTest, ACrashedWriterLeavesOnlyCiphertextAndTheNextOpenRecoversFromTheWal) {
  {
    auto store = open_ok();
    put(*store, "first.txt", 2);
  }
  ASSERT_NO_FATAL_FAILURE(crash_after([](Store& store) {
    auto collection = store.collection_id("private", true);
    DocumentRecord record;
    record.collection_id = collection && *collection ? **collection : 0;
    record.path = "/after-crash.txt";
    record.format = "text";
    record.content_hash = "after";
    Chunk c;
    c.text = "written just before the crash: marmalade";
    return store.replace_document(record, {c}, {{1, 0, 0}}, nullptr).ok();
  }));
  ASSERT_TRUE(fs::exists(wal()));
  ASSERT_GT(fs::file_size(wal()), 0u);
  EXPECT_EQ(files_holding(dir_.path(), "marmalade"), std::vector<std::string>());
  EXPECT_EQ(files_holding(dir_.path(), kCanary), std::vector<std::string>());

  auto store = open_ok();
  auto docs = store->documents(std::nullopt);
  ASSERT_TRUE(docs) << docs.error().message;
  EXPECT_EQ(docs->size(), 2u) << "the WAL's committed transaction was recovered";
  auto hits = store->search_lexical("marmalade", 5, {});
  ASSERT_TRUE(hits) << hits.error().message;
  EXPECT_EQ(hits->size(), 1u);
  EXPECT_TRUE(finds_canary(*store));
}

TEST_F(EncryptedStoreTest, AReaderSeesWhatAnotherConnectionWroteAfterItOpened) {
  {
    auto store = open_ok();
    put(*store, "first.txt", 2);
  }  // closed: the WAL is gone, so the reader below starts with an empty one
  auto reader = open_ok();
  ASSERT_TRUE(reader->documents(std::nullopt));
  auto writer = open_ok();
  put(*writer, "second.txt", 30);
  auto docs = reader->documents(std::nullopt);
  ASSERT_TRUE(docs) << docs.error().message;
  EXPECT_EQ(docs->size(), 2u);
  auto hits = reader->search_lexical("passage number 29", 5, {});
  ASSERT_TRUE(hits) << hits.error().message;
  EXPECT_FALSE(hits->empty());
}

// Store runs in WAL mode; a rollback journal (SQLite's default, and what creating a database
// writes) goes through the same VFS, tested here on a plain SQLite connection.
TEST(EncryptedVfsTest, RollbackJournalsHoldOnlyCiphertextAndAHotOneIsPlayedBack) {
  testing::TempDir dir;
  const std::string path = dir.file("rollback.sqlite");
  auto vfs = EncryptedVfs::create(key_of(3));
  ASSERT_TRUE(vfs);
  auto open_db = [&] {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, (*vfs)->name()),
              SQLITE_OK);
    int reserve = EncryptedVfs::kReservedBytes;
    sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve);
    EXPECT_EQ(sqlite3_exec(db, "PRAGMA journal_mode=PERSIST", nullptr, nullptr, nullptr), SQLITE_OK);
    return db;
  };
  auto exec = [](sqlite3* db, const std::string& sql) {
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  };
  auto text_of_row = [](sqlite3* db, int rowid) {
    sqlite3_stmt* q = nullptr;
    sqlite3_prepare_v2(db, ("SELECT x FROM t WHERE rowid = " + std::to_string(rowid)).c_str(), -1, &q, nullptr);
    std::string text = sqlite3_step(q) == SQLITE_ROW ? reinterpret_cast<const char*>(sqlite3_column_text(q, 0)) : "";
    sqlite3_finalize(q);
    return text;
  };
  sqlite3* db = open_db();
  exec(db, std::string("CREATE TABLE t(x TEXT); INSERT INTO t VALUES('") + kCanary +
               "');"
               "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 3000) "
               "INSERT INTO t SELECT 'plain row ' || i FROM c;");
  exec(db, "UPDATE t SET x = 'replaced' WHERE rowid = 1");  // the page's old image goes to the journal
  sqlite3_close(db);
  const std::string journal = path + "-journal";
  ASSERT_GT(fs::file_size(journal), 4096u);
  EXPECT_EQ(files_holding(dir.path(), kCanary), std::vector<std::string>());
  EXPECT_EQ(files_holding(dir.path(), "plain row"), std::vector<std::string>());

  const std::string before = read_bytes(path);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // A one-page cache makes the update spill into the database file before it commits; then die.
    sqlite3* writer = open_db();
    sqlite3_exec(writer, "PRAGMA cache_size=1; BEGIN; UPDATE t SET x = 'lost ' || rowid;", nullptr, nullptr, nullptr);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_NE(read_bytes(path), before) << "the uncommitted update never reached the database file";
  EXPECT_EQ(files_holding(dir.path(), "plain row"), std::vector<std::string>());

  db = open_db();
  EXPECT_EQ(text_of_row(db, 1), "replaced");
  EXPECT_EQ(text_of_row(db, 2), "plain row 1");
  EXPECT_EQ(text_of_row(db, 3001), "plain row 3000");
  sqlite3_close(db);
  EXPECT_FALSE((*vfs)->damage()) << *(*vfs)->damage();
}

// A transaction larger than the page cache spills pages into the WAL before it commits; when it
// changes a spilled page again, SQLite rewrites that frame's payload in place and, at commit, the
// checksums in the headers of the frames after it.
TEST(EncryptedVfsTest, AWalTransactionThatSpillsAndRewritesItsFramesStaysReadable) {
  testing::TempDir dir;
  const std::string path = dir.file("spill.sqlite");
  auto vfs = EncryptedVfs::create(key_of(4));
  ASSERT_TRUE(vfs);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, (*vfs)->name()), SQLITE_OK);
  int reserve = EncryptedVfs::kReservedBytes;
  sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve);
  auto exec = [&](const char* sql) {
    EXPECT_EQ(sqlite3_exec(db, sql, nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  };
  exec("PRAGMA journal_mode=WAL; PRAGMA cache_size=8; CREATE TABLE t(x TEXT);");
  exec(
      "BEGIN;"
      "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 4000) "
      "INSERT INTO t SELECT 'first version of row ' || i FROM c;"
      "UPDATE t SET x = 'second version of row ' || rowid;"
      "COMMIT;");
  sqlite3_close(db);
  EXPECT_FALSE((*vfs)->damage()) << *(*vfs)->damage();
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, (*vfs)->name()), SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM t WHERE x LIKE 'second version%'", -1, &q, nullptr);
  EXPECT_EQ(sqlite3_step(q), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(q, 0), 4000);
  sqlite3_finalize(q);
  sqlite3_close(db);
  EXPECT_FALSE((*vfs)->damage()) << *(*vfs)->damage();
  EXPECT_EQ(files_holding(dir.path(), "version of row"), std::vector<std::string>());
}

// A connection hands a checkpoint the WAL frames it wrote itself from memory: after another
// connection restarted the WAL and wrote frames with the same numbers, those must come from disk.
TEST(EncryptedVfsTest, ACheckpointCopiesTheFramesAnotherConnectionWroteOverOnesItRemembers) {
  testing::TempDir dir;
  const std::string path = dir.file("turns.sqlite");
  auto vfs = EncryptedVfs::create(key_of(5));
  ASSERT_TRUE(vfs);
  auto open_connection = [&] {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, (*vfs)->name()),
              SQLITE_OK);
    int reserve = EncryptedVfs::kReservedBytes;
    sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve);
    return db;
  };
  auto exec = [](sqlite3* db, const std::string& sql) {
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  };
  sqlite3* first = open_connection();
  exec(first, "PRAGMA journal_mode=WAL; PRAGMA wal_autocheckpoint=0; CREATE TABLE t(x TEXT);");
  sqlite3* second = open_connection();
  exec(second, "PRAGMA wal_autocheckpoint=0");
  auto insert = [&](sqlite3* db, const std::string& what) {
    exec(db, "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM c WHERE i < 300) "
             "INSERT INTO t SELECT '" + what + " row ' || i || ' ' || hex(randomblob(40)) FROM c;");
  };
  insert(first, "first");  // frames 1.. of the WAL, remembered by `first`
  exec(first, "PRAGMA wal_checkpoint(PASSIVE)");
  insert(second, "second");  // restarts the WAL: frames 1.. again, other content
  exec(first, "PRAGMA wal_checkpoint(PASSIVE)");  // must copy `second`'s frames, not its own
  sqlite3_close(second);
  sqlite3_close(first);
  EXPECT_FALSE((*vfs)->damage()) << *(*vfs)->damage();

  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, (*vfs)->name()), SQLITE_OK);
  sqlite3_stmt* q = nullptr;
  sqlite3_prepare_v2(db, "SELECT SUM(x LIKE 'first row%'), SUM(x LIKE 'second row%') FROM t", -1, &q, nullptr);
  ASSERT_EQ(sqlite3_step(q), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(q, 0), 300);
  EXPECT_EQ(sqlite3_column_int(q, 1), 300);
  sqlite3_finalize(q);
  char* error = nullptr;
  std::string integrity;
  sqlite3_exec(
      db, "PRAGMA integrity_check",
      [](void* out, int, char** values, char**) {
        *static_cast<std::string*>(out) += values[0];
        return 0;
      },
      &integrity, &error);
  sqlite3_free(error);
  sqlite3_close(db);
  EXPECT_EQ(integrity, "ok");
}

TEST_F(EncryptedStoreTest, EveryPageHasANonceOfItsOwn) {
  {
    auto store = open_ok();
    for (int i = 0; i < 5; ++i) put(*store, "doc" + std::to_string(i) + ".txt", 40);  // pages rewritten often
  }
  const std::string bytes = read_bytes(path());
  const size_t page_size = (static_cast<uint8_t>(bytes[16]) << 8) | static_cast<uint8_t>(bytes[17]);
  ASSERT_EQ(page_size, 4096u);
  EXPECT_EQ(static_cast<uint8_t>(bytes[20]), EncryptedVfs::kReservedBytes);
  std::set<std::string> nonces;
  for (size_t page = 0; page < bytes.size() / page_size; ++page) {
    nonces.insert(bytes.substr((page + 1) * page_size - EncryptedVfs::kReservedBytes, privacy::kNonceBytes));
  }
  EXPECT_GT(nonces.size(), 10u);
  EXPECT_EQ(nonces.size(), bytes.size() / page_size);
}

TEST_F(EncryptedStoreTest, AFlippedByteInAnyPageIsReportedWithTheFileAndPage) {
  {
    auto store = open_ok();
    put(*store, "secret.txt", 60);
  }
  const std::string pristine = read_bytes(path());
  const size_t page_size = 4096;
  ASSERT_EQ(pristine.size() % page_size, 0u);
  const size_t pages = pristine.size() / page_size;
  ASSERT_GT(pages, 4u);
  for (size_t page = 1; page <= pages; ++page) {
    SCOPED_TRACE("page " + std::to_string(page));
    std::string damaged = pristine;
    damaged[(page - 1) * page_size + 1000] ^= 0x01;
    write_bytes(path(), damaged);
    // Open and read everything: some operation must fail, as kDataLoss naming the file and page.
    std::optional<Error> failure;
    auto note = [&](const auto& result) {
      if (!result && !failure) failure = result.error();
    };
    auto store = open();
    note(store);
    if (store) {
      note((*store)->documents(std::nullopt));
      note((*store)->for_each_vector([](int64_t, std::span<const float>) {}));
      note((*store)->search_lexical("leases gardens weather", 50, {}));
      note((*store)->search_lexical(kCanary, 5, {}));
      std::vector<int64_t> ids;
      note((*store)->for_each_chunk([&](int64_t id, int64_t) { ids.push_back(id); }));
      note((*store)->chunks(ids));
    }
    const std::string expected = "kb.sqlite: page " + std::to_string(page) + " failed authentication";
    if (failure) {
      EXPECT_EQ(failure->code, ErrorCode::kDataLoss) << failure->message;
      EXPECT_NE(failure->message.find(expected), std::string::npos) << failure->message;
    } else {
      auto found = damage_found_by_integrity_check(path(), key_of(7));
      ASSERT_TRUE(found) << "a damaged page went unnoticed";
      EXPECT_NE(found->find(expected), std::string::npos) << *found;
    }
  }
}

TEST_F(EncryptedStoreTest, AFlippedByteInTheWalIsReportedWithTheFile) {
  {
    auto store = open_ok();
    put(*store, "first.txt", 2);
  }
  ASSERT_NO_FATAL_FAILURE(crash_after([](Store& store) { return put(store, "second.txt", 20) > 0; }));
  const std::string pristine = read_bytes(wal());
  ASSERT_GT(pristine.size(), 32u + 2 * (24 + 4096));
  // A byte in the first frame's payload, in its header, and in the WAL header (page size, salt).
  const std::pair<size_t, std::string> flips[] = {{32 + 24 + 2000, "kb.sqlite-wal: frame 1 failed authentication"},
                                                  {32 + 4, "kb.sqlite-wal: frame 1 failed authentication"},
                                                  {10, "kb.sqlite-wal: the WAL header failed its checksum"},
                                                  {17, "kb.sqlite-wal: the WAL header failed its checksum"}};
  for (const auto& [offset, expected] : flips) {
    SCOPED_TRACE("offset " + std::to_string(offset));
    std::string damaged = pristine;
    damaged[offset] ^= 0x01;
    write_bytes(wal(), damaged);
    std::optional<Error> failure;
    auto store = open();
    if (!store) {
      failure = store.error();
    } else if (auto docs = (*store)->documents(std::nullopt); !docs) {
      failure = docs.error();
    }
    ASSERT_TRUE(failure) << "a damaged WAL frame went unnoticed";
    EXPECT_EQ(failure->code, ErrorCode::kDataLoss) << failure->message;
    EXPECT_NE(failure->message.find(expected), std::string::npos) << failure->message;
  }
}

TEST_F(EncryptedStoreTest, AWrongKeyIsAClearErrorNeverGarbage) {
  {
    auto store = open_ok();
    put(*store, "secret.txt", 3);
  }
  auto wrong = open(key_of(8));
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().code, ErrorCode::kDataLoss);
  EXPECT_NE(wrong.error().message.find("kb.sqlite: page 1 failed authentication (wrong key or damaged file)"),
            std::string::npos)
      << wrong.error().message;
  auto right = open_ok();
  EXPECT_TRUE(finds_canary(*right)) << "a failed open changes nothing";
}

TEST_F(EncryptedStoreTest, AnEncryptedFileWithoutItsKeyIsRefused) {
  {
    auto store = open_ok();
    put(*store, "secret.txt", 3);
  }
  auto opened = open(std::nullopt);
  ASSERT_FALSE(opened);
  EXPECT_EQ(opened.error().code, ErrorCode::kPermissionDenied);
  EXPECT_NE(opened.error().message.find("is encrypted; it needs its key"), std::string::npos) << opened.error().message;
}

TEST_F(EncryptedStoreTest, ABaseInClearIsEncryptedWhenFirstOpenedWithAKey) {
  int64_t highest_chunk = 0;
  {
    auto store = open_ok(std::nullopt);
    put(*store, "plain.txt", 3);
    const int64_t last = put(*store, "last.txt", 4);
    ASSERT_TRUE(store->for_each_chunk([&](int64_t id, int64_t) { highest_chunk = std::max(highest_chunk, id); }));
    ASSERT_TRUE(store->remove_document(last));  // the highest ids are gone, and must stay unused
  }
  ASSERT_EQ(database_file_kind(path()), DatabaseFileKind::kClear);
  {
    auto store = open_ok();
    EXPECT_TRUE(finds_canary(*store));
    auto docs = store->documents(std::nullopt);
    ASSERT_TRUE(docs);
    EXPECT_EQ(docs->size(), 1u);
    put(*store, "new.txt", 1);
    int64_t newest = 0;
    ASSERT_TRUE(store->for_each_chunk([&](int64_t id, int64_t) { newest = std::max(newest, id); }));
    EXPECT_GT(newest, highest_chunk);
  }
  EXPECT_EQ(database_file_kind(path()), DatabaseFileKind::kEncrypted);
  EXPECT_EQ(files_holding(dir_.path(), kCanary), std::vector<std::string>());
  EXPECT_FALSE(fs::exists(path() + ".encrypting"));
  auto without_key = open(std::nullopt);
  EXPECT_FALSE(without_key);
}

TEST_F(EncryptedStoreTest, ABaseInClearIsEncryptedWhateverCharactersItsPathHolds) {
  const fs::path dir = dir_.path() / "it's 100% #1?";
  fs::create_directories(dir);
  const std::string odd = (dir / "kb.sqlite").string();
  {
    auto store = Store::open(odd, std::nullopt);
    ASSERT_TRUE(store) << store.error().message;
    put(**store, "plain.txt", 2);
  }
  auto store = Store::open(odd, key_of(7));
  ASSERT_TRUE(store) << store.error().message;
  EXPECT_TRUE(finds_canary(**store));
  EXPECT_EQ(database_file_kind(odd), DatabaseFileKind::kEncrypted);
}

TEST_F(EncryptedStoreTest, SearchResultsAreTheSameAsInClear) {
  testing::TempDir clear_dir;
  auto clear = Store::open(clear_dir.file("kb.sqlite"), std::nullopt);
  ASSERT_TRUE(clear);
  auto encrypted = open_ok();
  for (Store* store : {clear->get(), encrypted.get()}) {
    put(*store, "a.txt", 50);
    put(*store, "b.txt", 7);
  }
  for (const char* query : {"leases in March", "passage number 7", kCanary, "weather"}) {
    SCOPED_TRACE(query);
    auto expected = (*clear)->search_lexical(query, 20, {});
    auto got = encrypted->search_lexical(query, 20, {});
    ASSERT_TRUE(expected && got);
    ASSERT_EQ(got->size(), expected->size());
    for (size_t i = 0; i < got->size(); ++i) {
      EXPECT_EQ((*got)[i].id, (*expected)[i].id);
      EXPECT_DOUBLE_EQ((*got)[i].score, (*expected)[i].score);
    }
  }
  std::vector<std::vector<float>> expected_vectors;
  std::vector<std::vector<float>> got_vectors;
  ASSERT_TRUE((*clear)->for_each_vector(
      [&](int64_t, std::span<const float> v) { expected_vectors.emplace_back(v.begin(), v.end()); }));
  ASSERT_TRUE(encrypted->for_each_vector(
      [&](int64_t, std::span<const float> v) { got_vectors.emplace_back(v.begin(), v.end()); }));
  EXPECT_EQ(got_vectors, expected_vectors);
}

}  // namespace
}  // namespace tandem::knowledge
