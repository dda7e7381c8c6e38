#include "knowledge/store.h"

#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "core/log.h"
#include "knowledge/text_analysis.h"

namespace tandem::knowledge {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS collections(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS documents(
  id INTEGER PRIMARY KEY, collection_id INTEGER NOT NULL REFERENCES collections(id), path TEXT NOT NULL,
  format TEXT NOT NULL, title TEXT NOT NULL, content_hash TEXT NOT NULL, bytes INTEGER NOT NULL,
  pages INTEGER NOT NULL, chunks INTEGER NOT NULL, added_at INTEGER NOT NULL, UNIQUE(collection_id, path));
CREATE INDEX IF NOT EXISTS documents_by_hash ON documents(collection_id, content_hash);
-- AUTOINCREMENT: a chunk id is never reused, so the vector index can key on it safely.
CREATE TABLE IF NOT EXISTS chunks(
  id INTEGER PRIMARY KEY AUTOINCREMENT, document_id INTEGER NOT NULL REFERENCES documents(id),
  collection_id INTEGER NOT NULL, ordinal INTEGER NOT NULL, page INTEGER NOT NULL, char_start INTEGER NOT NULL,
  char_end INTEGER NOT NULL, heading TEXT NOT NULL, text TEXT NOT NULL, vector BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS chunks_by_document ON chunks(document_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(text, content='chunks', content_rowid='id', tokenize='tandem');
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_vocab USING fts5vocab(chunks_fts, 'row');
)sql";

Error sqlite_error(sqlite3* db, const std::string& what) {
  const int code = sqlite3_errcode(db);
  if (code == SQLITE_IOERR || code == SQLITE_CORRUPT || code == SQLITE_NOTADB || code == SQLITE_CANTOPEN) {
    if (auto damage = EncryptedVfs::damage(db))
      return make_error(ErrorCode::kDataLoss, "knowledge store: " + what + ": " + *damage);
  }
  const ErrorCode ours = code == SQLITE_FULL                               ? ErrorCode::kResourceExhausted
                         : code == SQLITE_CORRUPT || code == SQLITE_NOTADB ? ErrorCode::kDataLoss
                         : code == SQLITE_BUSY || code == SQLITE_LOCKED || code == SQLITE_CANTOPEN ||
                                 code == SQLITE_IOERR || code == SQLITE_READONLY || code == SQLITE_PERM
                             ? ErrorCode::kUnavailable
                             : ErrorCode::kInternal;
  return make_error(ours, "knowledge store: " + what + ": " + sqlite3_errmsg(db));
}

int64_t now_unix() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A prepared statement with positional binding, finalised on scope exit.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) stmt_ = nullptr;
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  bool ok() const { return stmt_ != nullptr; }
  sqlite3_stmt* raw() { return stmt_; }
  template <typename... Args>
  Statement& bind(const Args&... args) {
    int index = 0;
    (bind_one(++index, args), ...);
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE or an error code.
  int step() { return sqlite3_step(stmt_); }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  int64_t integer(int column) const { return sqlite3_column_int64(stmt_, column); }
  double real(int column) const { return sqlite3_column_double(stmt_, column); }
  std::string text(int column) const {
    const auto* data = sqlite3_column_text(stmt_, column);
    return data ? std::string(reinterpret_cast<const char*>(data),
                              static_cast<size_t>(sqlite3_column_bytes(stmt_, column)))
                : std::string();
  }
  std::span<const float> floats(int column) const {
    const void* data = sqlite3_column_blob(stmt_, column);
    return {static_cast<const float*>(data), static_cast<size_t>(sqlite3_column_bytes(stmt_, column)) / sizeof(float)};
  }

 private:
  void bind_one(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void bind_one(int i, int32_t v) { sqlite3_bind_int64(stmt_, i, v); }
  void bind_one(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void bind_one(int i, const std::vector<float>& v) {
    sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size() * sizeof(float)), SQLITE_TRANSIENT);
  }

  sqlite3_stmt* stmt_ = nullptr;
};

Status exec(sqlite3* db, const char* sql, const std::string& what) {
  if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) return sqlite_error(db, what);
  return {};
}

// Rolls back unless committed: an error or a crash mid-document leaves no half document.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) {
    began_ = sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK;
  }
  ~Transaction() {
    if (began_ && !committed_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  bool began() const { return began_; }
  Status commit() {
    if (auto st = exec(db_, "COMMIT", "commit"); !st) return st;
    committed_ = true;
    return {};
  }

 private:
  sqlite3* db_;
  bool began_ = false;
  bool committed_ = false;
};

// The FTS5 tokenizer "tandem": text_analysis.h's normalisation and ICU word segmentation.
int tokenizer_create(void*, const char**, int, Fts5Tokenizer** out) {
  static int instance;
  *out = reinterpret_cast<Fts5Tokenizer*>(&instance);
  return SQLITE_OK;
}
void tokenizer_delete(Fts5Tokenizer*) {}
int tokenizer_tokenize(Fts5Tokenizer*, void* context, int, const char* text, int length,
                       int (*on_token)(void*, int, const char*, int, int, int)) {
  int rc = SQLITE_OK;
  for_each_token(std::string_view(text, static_cast<size_t>(length)), [&](std::string_view token) {
    // Offsets only serve FTS5's highlight(), which Tandem does not use.
    rc = on_token(context, 0, token.data(), static_cast<int>(token.size()), 0, length);
    return rc == SQLITE_OK;
  });
  return rc;
}

Status register_tokenizer(sqlite3* db) {
  fts5_api* api = nullptr;
  Statement query(db, "SELECT fts5(?1)");
  if (!query.ok()) return sqlite_error(db, "FTS5 is not available");
  sqlite3_bind_pointer(query.raw(), 1, &api, "fts5_api_ptr", nullptr);
  query.step();
  if (api == nullptr) return make_error(ErrorCode::kInternal, "knowledge store: FTS5 did not hand out its API");
  static fts5_tokenizer tokenizer{tokenizer_create, tokenizer_delete, tokenizer_tokenize};
  if (api->xCreateTokenizer(api, "tandem", nullptr, &tokenizer, nullptr) != SQLITE_OK) {
    return sqlite_error(db, "registering the FTS5 tokenizer");
  }
  return {};
}

DocumentRecord read_document(const Statement& row) {
  DocumentRecord d;
  d.id = row.integer(0);
  d.collection_id = row.integer(1);
  d.collection = row.text(2);
  d.path = row.text(3);
  d.format = row.text(4);
  d.title = row.text(5);
  d.content_hash = row.text(6);
  d.bytes = row.integer(7);
  d.pages = static_cast<int32_t>(row.integer(8));
  d.chunks = row.integer(9);
  d.added_at = row.integer(10);
  return d;
}

constexpr const char* kDocumentColumns =
    "SELECT d.id, d.collection_id, c.name, d.path, d.format, d.title, d.content_hash, d.bytes, d.pages, d.chunks, "
    "d.added_at FROM documents d JOIN collections c ON c.id = d.collection_id ";

// "1,2,3" for an IN list of ids (integers only, so nothing to escape).
std::string id_list(const std::vector<int64_t>& ids) {
  std::string list;
  for (int64_t id : ids) list += (list.empty() ? "" : ",") + std::to_string(id);
  return list;
}

// The query's distinct words, as typed (FTS5's tokenizer analyses them again) and as indexed.
struct QueryWord {
  std::string word;
  std::string token;
};

std::vector<QueryWord> query_words(const std::string& query) {
  std::vector<std::string> typed;
  for_each_word(query, [&](std::string_view word) {
    typed.emplace_back(word);
    return true;
  });
  // Stemmed after the walk: the analysis reuses one word iterator per thread.
  std::vector<QueryWord> words;
  for (auto& word : typed) {
    std::string token;
    for_each_token(word, [&](std::string_view t) {
      token = t;
      return false;
    });
    if (std::none_of(words.begin(), words.end(), [&](const QueryWord& w) { return w.token == token; })) {
      words.push_back({std::move(word), std::move(token)});
    }
  }
  return words;
}

// An FTS5 query that matches chunks holding any of `words`: each quoted, joined by OR, so that
// no user text is read as FTS5 syntax.
std::string match_any(const std::vector<QueryWord>& words) {
  std::string expression;
  for (const auto& w : words) {
    if (!expression.empty()) expression += " OR ";
    expression += '"';
    for (char c : w.word) expression += c == '"' ? std::string("\"\"") : std::string(1, c);
    expression += '"';
  }
  return expression;
}

// In a large base, a word found in more than a tenth of the chunks adds almost nothing to BM25
// (its IDF is near zero) but makes FTS5 score nearly every chunk: 270 ms a query at 100k chunks.
// Such words are left out unless nothing rarer is left; words no chunk holds are left out too.
Result<std::vector<QueryWord>> words_worth_searching(std::vector<QueryWord> words, int64_t chunks,
                                                    const std::function<Result<int64_t>(const std::string&)>& chunks_with) {
  std::vector<std::pair<int64_t, QueryWord>> found;
  for (auto& w : words) {
    auto holding = chunks_with(w.token);
    if (!holding) return holding.error();
    if (*holding > 0) found.emplace_back(*holding, std::move(w));
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  constexpr int64_t kPruneAbove = 10000;  // smaller bases are fast anyway and keep every word
  constexpr size_t kKeptWhenAllCommon = 2;
  size_t keep = 0;
  while (keep < found.size() && (chunks <= kPruneAbove || found[keep].first * 10 <= chunks)) ++keep;
  if (keep == 0) keep = std::min(found.size(), kKeptWhenAllCommon);
  std::vector<QueryWord> kept;
  for (size_t i = 0; i < keep; ++i) kept.push_back(std::move(found[i].second));
  return kept;
}

// Before SQLite reads an encrypted file without its key (and reports a malformed database).
Status refuse_encrypted_file_without_key(const std::string& path, bool keyed) {
  if (!keyed && database_file_kind(path) == DatabaseFileKind::kEncrypted) {
    return make_error(ErrorCode::kPermissionDenied, "the knowledge store " + path + " is encrypted; it needs its key");
  }
  return {};
}

// `path` as an SQLite URI naming the default VFS, so that a connection over EncryptedVfs can
// attach the file in clear.
std::string clear_file_uri(const std::string& path) {
  std::string uri = "file:";
  for (const char c : path) {
    if (c == '%' || c == '?' || c == '#') {
      constexpr char kHex[] = "0123456789abcdef";
      uri += '%';
      uri += kHex[static_cast<unsigned char>(c) >> 4];
      uri += kHex[static_cast<unsigned char>(c) & 0xf];
    } else {
      uri += c;
    }
  }
  return uri + "?vfs=" + sqlite3_vfs_find(nullptr)->zName;
}

}  // namespace

// Every row is copied into a new encrypted file beside the clear one, which it then replaces by a
// rename: a crash before the rename leaves the clear base whole (and the partial copy is made
// anew next time). The clear file's old disk blocks are not overwritten; other processes must
// not have the base open meanwhile (their writes would go to the replaced file).
Status Store::encrypt_clear_file(const std::string& path, const privacy::Key& key) {
  const std::string copy = path + ".encrypting";
  for (const char* suffix : {"", "-wal", "-shm"}) std::remove((copy + suffix).c_str());
  {
    auto encrypted = open(copy, key);
    if (!encrypted) return encrypted.error();
    sqlite3* db = (*encrypted)->db_;
    Statement attach_clear(db, "ATTACH DATABASE ?1 AS clear");
    if (!attach_clear.ok() || attach_clear.bind(clear_file_uri(path)).step() != SQLITE_DONE) {
      return sqlite_error(db, "opening " + path);
    }
    if (auto st = exec(db,
                       "BEGIN IMMEDIATE;"
                       "INSERT OR REPLACE INTO main.meta SELECT * FROM clear.meta;"
                       "INSERT INTO main.collections SELECT * FROM clear.collections;"
                       "INSERT INTO main.documents SELECT * FROM clear.documents;"
                       "INSERT INTO main.chunks SELECT * FROM clear.chunks;"
                       // Chunk ids are never reused: the counter goes along, not just the rows.
                       "DELETE FROM main.sqlite_sequence;"
                       "INSERT INTO main.sqlite_sequence SELECT * FROM clear.sqlite_sequence;"
                       "INSERT INTO main.chunks_fts(chunks_fts) VALUES('rebuild');"
                       "COMMIT;",
                       "encrypting " + path);
        !st) {
      (void)exec(db, "ROLLBACK", "rolling back");
      return st;
    }
    if (auto st = exec(db, "DETACH DATABASE clear", "closing " + path); !st) return st;
  }  // closed: the copy's WAL is checkpointed into it
  std::error_code ec;
  if (std::filesystem::exists(path + "-wal", ec)) {
    std::remove(copy.c_str());
    return make_error(ErrorCode::kUnavailable,
                      "cannot encrypt " + path + " while another process has it open; close it and retry");
  }
  std::filesystem::rename(copy, path, ec);
  if (ec)
    return make_error(ErrorCode::kUnavailable, "cannot replace " + path + " by its encrypted copy: " + ec.message());
  TANDEM_LOG(kInfo, "knowledge", "the knowledge store {} was stored in clear and is now encrypted", path);
  return {};
}

Result<std::unique_ptr<Store>> Store::open(const std::string& path, std::optional<privacy::Key> key) {
  if (auto st = refuse_encrypted_file_without_key(path, key.has_value()); !st) return st.error();
  if (key && database_file_kind(path) == DatabaseFileKind::kClear) {
    if (auto st = encrypt_clear_file(path, *key); !st) return st.error();
  }
  std::unique_ptr<EncryptedVfs> vfs;
  if (key) {
    auto created = EncryptedVfs::create(*key);
    privacy::wipe(*key);
    if (!created) return created.error();
    vfs = std::move(*created);
  }
  sqlite3* db = nullptr;
  // URIs only with a key: they let the encryption of a clear file attach it through the default VFS.
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX | (vfs ? SQLITE_OPEN_URI : 0);
  if (sqlite3_open_v2(path.c_str(), &db, flags, vfs ? vfs->name() : nullptr) != SQLITE_OK) {
    auto damage = vfs ? vfs->damage() : std::nullopt;
    Error error = damage ? make_error(ErrorCode::kDataLoss, "cannot open the knowledge store " + path + ": " + *damage)
                         : make_error(ErrorCode::kUnavailable, "cannot open the knowledge store " + path + ": " +
                                                                   (db ? sqlite3_errmsg(db) : "out of memory"));
    sqlite3_close(db);
    return error;
  }
  std::unique_ptr<Store> store(new Store(db, std::move(vfs)));
  sqlite3_busy_timeout(db, 10000);  // another tandem process may be writing
  if (auto st = register_tokenizer(db); !st) return st.error();
  if (store->vfs_) {
    // Room for each page's nonce and tag, set before the first page exists; temporary tables and
    // indexes stay in memory; decrypted pages are cached (the OS caches only ciphertext).
    int reserve = EncryptedVfs::kReservedBytes;
    sqlite3_file_control(db, "main", SQLITE_FCNTL_RESERVE_BYTES, &reserve);
    if (auto st = exec(db, "PRAGMA temp_store=MEMORY; PRAGMA cache_size=-65536;", "setting up encryption for " + path);
        !st) {
      return st.error();
    }
  }
  if (auto st =
          exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;", "setting up " + path);
      !st) {
    return st.error();
  }
  if (auto st = exec(db, kSchema, "creating the schema in " + path); !st) return st.error();
  if (auto st = store->match_text_analysis(); !st) return st.error();
  return store;
}

Store::~Store() {
  sqlite3_close(db_);
}

// The full-text index holds analysed words: built by another analysis, it is rebuilt from the
// stored chunk texts (FTS5 'rebuild'), in one transaction.
Status Store::match_text_analysis() {
  auto built_with = meta("text_analysis");
  if (!built_with) return built_with.error();
  const std::string current(text_analysis_version());
  if (*built_with == current) return {};
  if (*built_with) {
    Transaction transaction(db_);
    if (!transaction.began()) return sqlite_error(db_, "starting a transaction");
    if (auto st = exec(db_, "INSERT INTO chunks_fts(chunks_fts) VALUES('rebuild')", "rebuilding the text index"); !st) {
      return st;
    }
    if (auto st = transaction.commit(); !st) return st;
  }
  return set_meta("text_analysis", current);
}

Result<std::optional<std::string>> Store::meta(const std::string& key) {
  std::lock_guard lock(mutex_);
  Statement q(db_, "SELECT value FROM meta WHERE key = ?1");
  q.bind(key);
  const int rc = q.step();
  if (rc == SQLITE_ROW) return std::optional<std::string>(q.text(0));
  if (rc == SQLITE_DONE) return std::optional<std::string>();
  return sqlite_error(db_, "reading " + key);
}

Status Store::set_meta(const std::string& key, const std::string& value) {
  std::lock_guard lock(mutex_);
  Statement q(db_, "INSERT INTO meta(key, value) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value");
  if (q.bind(key, value).step() != SQLITE_DONE) return sqlite_error(db_, "writing " + key);
  return {};
}

Result<std::optional<int64_t>> Store::collection_id(const std::string& name, bool create) {
  std::lock_guard lock(mutex_);
  if (create) {
    Statement insert(db_, "INSERT OR IGNORE INTO collections(name, created_at) VALUES(?1, ?2)");
    if (insert.bind(name, now_unix()).step() != SQLITE_DONE) return sqlite_error(db_, "creating collection " + name);
  }
  Statement q(db_, "SELECT id FROM collections WHERE name = ?1");
  const int rc = q.bind(name).step();
  if (rc == SQLITE_ROW) return std::optional<int64_t>(q.integer(0));
  if (rc == SQLITE_DONE) return std::optional<int64_t>();
  return sqlite_error(db_, "reading collection " + name);
}

Result<std::vector<CollectionInfo>> Store::collections() {
  std::lock_guard lock(mutex_);
  Statement q(db_,
              "SELECT c.id, c.name, COUNT(d.id), COALESCE(SUM(d.chunks), 0) FROM collections c "
              "LEFT JOIN documents d ON d.collection_id = c.id GROUP BY c.id ORDER BY c.name");
  std::vector<CollectionInfo> out;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) out.push_back({q.integer(0), q.text(1), q.integer(2), q.integer(3)});
  if (rc != SQLITE_DONE) return sqlite_error(db_, "listing collections");
  return out;
}

namespace {
Result<std::optional<DocumentRecord>> one_document(sqlite3* db, Statement& q) {
  const int rc = q.step();
  if (rc == SQLITE_ROW) return std::optional<DocumentRecord>(read_document(q));
  if (rc == SQLITE_DONE) return std::optional<DocumentRecord>();
  return sqlite_error(db, "reading a document");
}
}  // namespace

Result<std::optional<DocumentRecord>> Store::find_document(int64_t collection_id, const std::string& path) {
  std::lock_guard lock(mutex_);
  Statement q(db_, (std::string(kDocumentColumns) + "WHERE d.collection_id = ?1 AND d.path = ?2").c_str());
  q.bind(collection_id, path);
  return one_document(db_, q);
}

Result<std::optional<DocumentRecord>> Store::find_document_by_hash(int64_t collection_id, const std::string& hash) {
  std::lock_guard lock(mutex_);
  Statement q(db_,
              (std::string(kDocumentColumns) + "WHERE d.collection_id = ?1 AND d.content_hash = ?2 LIMIT 1").c_str());
  q.bind(collection_id, hash);
  return one_document(db_, q);
}

Result<std::optional<DocumentRecord>> Store::document(int64_t id) {
  std::lock_guard lock(mutex_);
  Statement q(db_, (std::string(kDocumentColumns) + "WHERE d.id = ?1").c_str());
  q.bind(id);
  return one_document(db_, q);
}

Result<std::vector<DocumentRecord>> Store::documents(std::optional<int64_t> collection_id) {
  std::lock_guard lock(mutex_);
  const std::string sql =
      std::string(kDocumentColumns) + (collection_id ? "WHERE d.collection_id = ?1 " : "") + "ORDER BY c.name, d.path";
  Statement q(db_, sql.c_str());
  if (collection_id) q.bind(*collection_id);
  std::vector<DocumentRecord> out;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) out.push_back(read_document(q));
  if (rc != SQLITE_DONE) return sqlite_error(db_, "listing documents");
  return out;
}

Result<std::vector<int64_t>> Store::delete_chunks_of(int64_t document_id) {
  std::vector<int64_t> removed;
  {
    // An external-content FTS5 table forgets a row only when told its old text.
    Statement q(db_, "SELECT id, text FROM chunks WHERE document_id = ?1");
    Statement forget(db_, "INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES('delete', ?1, ?2)");
    q.bind(document_id);
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) {
      removed.push_back(q.integer(0));
      if (forget.bind(q.integer(0), q.text(1)).step() != SQLITE_DONE) return sqlite_error(db_, "unindexing a chunk");
      forget.reset();
    }
    if (rc != SQLITE_DONE) return sqlite_error(db_, "reading chunks");
  }
  Statement del(db_, "DELETE FROM chunks WHERE document_id = ?1");
  if (del.bind(document_id).step() != SQLITE_DONE) return sqlite_error(db_, "deleting chunks");
  return removed;
}

Result<std::vector<int64_t>> Store::replace_document(DocumentRecord& record, const std::vector<Chunk>& chunks,
                                                     const std::vector<std::vector<float>>& vectors,
                                                     std::vector<int64_t>* replaced) {
  if (vectors.size() != chunks.size()) return make_error(ErrorCode::kInternal, "one vector per chunk expected");
  std::lock_guard lock(mutex_);
  Transaction transaction(db_);
  if (!transaction.began()) return sqlite_error(db_, "starting a transaction");

  Statement existing(db_, "SELECT id FROM documents WHERE collection_id = ?1 AND path = ?2");
  if (const int rc = existing.bind(record.collection_id, record.path).step(); rc == SQLITE_ROW) {
    const int64_t old_id = existing.integer(0);
    auto removed = delete_chunks_of(old_id);
    if (!removed) return removed.error();
    if (replaced) *replaced = std::move(*removed);
    Statement del(db_, "DELETE FROM documents WHERE id = ?1");
    if (del.bind(old_id).step() != SQLITE_DONE) return sqlite_error(db_, "replacing " + record.path);
  } else if (rc != SQLITE_DONE) {
    return sqlite_error(db_, "looking up " + record.path);
  }

  record.chunks = static_cast<int64_t>(chunks.size());
  record.added_at = now_unix();
  Statement insert_doc(db_,
                       "INSERT INTO documents(collection_id, path, format, title, content_hash, bytes, pages, chunks, "
                       "added_at) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  insert_doc.bind(record.collection_id, record.path, record.format, record.title, record.content_hash, record.bytes,
                  record.pages, record.chunks, record.added_at);
  if (insert_doc.step() != SQLITE_DONE) return sqlite_error(db_, "storing " + record.path);
  record.id = sqlite3_last_insert_rowid(db_);

  Statement insert_chunk(db_,
                         "INSERT INTO chunks(document_id, collection_id, ordinal, page, char_start, char_end, heading, "
                         "text, vector) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  Statement index_chunk(db_, "INSERT INTO chunks_fts(rowid, text) VALUES(?1, ?2)");
  std::vector<int64_t> ids;
  ids.reserve(chunks.size());
  for (size_t i = 0; i < chunks.size(); ++i) {
    const Chunk& c = chunks[i];
    insert_chunk.bind(record.id, record.collection_id, static_cast<int64_t>(i), c.page, c.char_start, c.char_end,
                      c.heading, c.text, vectors[i]);
    if (insert_chunk.step() != SQLITE_DONE) return sqlite_error(db_, "storing a chunk of " + record.path);
    insert_chunk.reset();
    ids.push_back(sqlite3_last_insert_rowid(db_));
    if (index_chunk.bind(ids.back(), c.text).step() != SQLITE_DONE) return sqlite_error(db_, "indexing " + record.path);
    index_chunk.reset();
  }
  if (auto st = transaction.commit(); !st) return st.error();
  return ids;
}

Status Store::update_vectors(const std::vector<int64_t>& ids, const std::vector<std::vector<float>>& vectors) {
  if (vectors.size() != ids.size()) return make_error(ErrorCode::kInternal, "one vector per chunk expected");
  std::lock_guard lock(mutex_);
  Transaction transaction(db_);
  if (!transaction.began()) return sqlite_error(db_, "starting a transaction");
  Statement update(db_, "UPDATE chunks SET vector = ?2 WHERE id = ?1");
  for (size_t i = 0; i < ids.size(); ++i) {
    if (update.bind(ids[i], vectors[i]).step() != SQLITE_DONE) return sqlite_error(db_, "storing a vector");
    update.reset();
  }
  return transaction.commit();
}

Result<std::vector<int64_t>> Store::remove_document(int64_t document_id) {
  std::lock_guard lock(mutex_);
  Transaction transaction(db_);
  if (!transaction.began()) return sqlite_error(db_, "starting a transaction");
  auto removed = delete_chunks_of(document_id);
  if (!removed) return removed.error();
  Statement del(db_, "DELETE FROM documents WHERE id = ?1");
  if (del.bind(document_id).step() != SQLITE_DONE) return sqlite_error(db_, "deleting a document");
  if (auto st = transaction.commit(); !st) return st.error();
  return removed;
}

Status Store::move_document(int64_t document_id, const std::string& path) {
  std::lock_guard lock(mutex_);
  Statement update(db_, "UPDATE documents SET path = ?2 WHERE id = ?1");
  if (update.bind(document_id, path).step() != SQLITE_DONE) return sqlite_error(db_, "moving a document");
  return {};
}

Result<std::vector<int64_t>> Store::remove_collection(int64_t collection_id) {
  std::lock_guard lock(mutex_);
  Transaction transaction(db_);
  if (!transaction.began()) return sqlite_error(db_, "starting a transaction");
  std::vector<int64_t> removed;
  std::vector<int64_t> documents;
  {
    Statement q(db_, "SELECT id FROM documents WHERE collection_id = ?1");
    q.bind(collection_id);
    while (q.step() == SQLITE_ROW) documents.push_back(q.integer(0));
  }
  for (int64_t id : documents) {
    auto chunks = delete_chunks_of(id);
    if (!chunks) return chunks.error();
    removed.insert(removed.end(), chunks->begin(), chunks->end());
  }
  Statement del_docs(db_, "DELETE FROM documents WHERE collection_id = ?1");
  Statement del_collection(db_, "DELETE FROM collections WHERE id = ?1");
  if (del_docs.bind(collection_id).step() != SQLITE_DONE || del_collection.bind(collection_id).step() != SQLITE_DONE) {
    return sqlite_error(db_, "deleting a collection");
  }
  if (auto st = transaction.commit(); !st) return st.error();
  return removed;
}

Result<std::vector<ScoredId>> Store::search_lexical(const std::string& query, int k,
                                                    const std::vector<int64_t>& collections) {
  if (k <= 0) return std::vector<ScoredId>();
  std::lock_guard lock(mutex_);
  if (auto st = refresh_word_frequencies(); !st) return st.error();
  auto words = words_worth_searching(query_words(query), frequencies_.chunks,
                                     [this](const std::string& token) { return chunks_with(token); });
  if (!words) return words.error();
  const std::string expression = match_any(*words);
  if (expression.empty()) return std::vector<ScoredId>();
  std::string sql = "SELECT chunks_fts.rowid, bm25(chunks_fts) FROM chunks_fts ";
  if (!collections.empty()) sql += "JOIN chunks c ON c.id = chunks_fts.rowid ";
  sql += "WHERE chunks_fts MATCH ?1 ";
  if (!collections.empty()) sql += "AND c.collection_id IN (" + id_list(collections) + ") ";
  sql += "ORDER BY bm25(chunks_fts) LIMIT ?2";
  Statement q(db_, sql.c_str());
  if (!q.ok()) return sqlite_error(db_, "preparing a search");
  q.bind(expression, static_cast<int64_t>(k));
  std::vector<ScoredId> out;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) out.push_back({q.integer(0), -q.real(1)});  // FTS5's bm25 is negated
  if (rc != SQLITE_DONE) return sqlite_error(db_, "searching");
  return out;
}

Result<int64_t> Store::data_version() {
  std::lock_guard lock(mutex_);
  return read_data_version();
}

Result<int64_t> Store::read_data_version() {
  Statement version(db_, "PRAGMA data_version");
  if (version.step() != SQLITE_ROW) return sqlite_error(db_, "reading the data version");
  return version.integer(0);
}

Status Store::refresh_word_frequencies() {
  auto read = read_data_version();
  if (!read) return read.error();
  const int64_t data_version = *read;
  const int64_t own_changes = sqlite3_total_changes64(db_);
  constexpr size_t kMostWordsKept = 100000;  // a bound on memory far above the words queries use
  if (data_version == frequencies_.data_version && own_changes == frequencies_.own_changes &&
      frequencies_.chunks_with.size() < kMostWordsKept) {
    return {};
  }
  Statement count(db_, "SELECT COUNT(*) FROM chunks");
  if (count.step() != SQLITE_ROW) return sqlite_error(db_, "counting chunks");
  frequencies_ = {data_version, own_changes, count.integer(0), {}};
  return {};
}

Result<int64_t> Store::chunks_with(const std::string& token) {
  if (auto it = frequencies_.chunks_with.find(token); it != frequencies_.chunks_with.end()) return it->second;
  Statement frequency(db_, "SELECT doc FROM chunks_vocab WHERE term = ?1");
  frequency.bind(token);
  const int rc = frequency.step();
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return sqlite_error(db_, "reading word frequencies");
  const int64_t holding = rc == SQLITE_ROW ? frequency.integer(0) : 0;
  frequencies_.chunks_with.emplace(token, holding);
  return holding;
}

Result<std::vector<StoredChunk>> Store::chunks(const std::vector<int64_t>& ids) {
  if (ids.empty()) return std::vector<StoredChunk>();
  const std::string sql =
      "SELECT c.id, c.document_id, c.collection_id, d.path, d.title, c.heading, c.text, c.page, c.char_start, "
      "c.char_end "
      "FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.id IN (" +
      id_list(ids) + ")";
  std::lock_guard lock(mutex_);
  Statement q(db_, sql.c_str());
  std::vector<StoredChunk> found;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) {
    found.push_back({q.integer(0), q.integer(1), q.integer(2), q.text(3), q.text(4), q.text(5), q.text(6),
                     static_cast<int32_t>(q.integer(7)), q.integer(8), q.integer(9)});
  }
  if (rc != SQLITE_DONE) return sqlite_error(db_, "reading chunks");
  // In the order asked for.
  std::vector<StoredChunk> ordered;
  ordered.reserve(found.size());
  for (int64_t id : ids) {
    for (auto& chunk : found) {
      if (chunk.id == id) ordered.push_back(chunk);
    }
  }
  return ordered;
}

Status Store::for_each_chunk(const std::function<void(int64_t id, int64_t collection_id)>& visit) {
  std::lock_guard lock(mutex_);
  Statement q(db_, "SELECT id, collection_id FROM chunks");
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) visit(q.integer(0), q.integer(1));
  if (rc != SQLITE_DONE) return sqlite_error(db_, "reading chunk ids");
  return {};
}

Status Store::for_each_vector(const std::function<void(int64_t id, std::span<const float> vector)>& visit,
                              const std::vector<int64_t>& only_ids) {
  std::lock_guard lock(mutex_);
  const std::string sql =
      "SELECT id, vector FROM chunks" + (only_ids.empty() ? std::string() : " WHERE id IN (" + id_list(only_ids) + ")");
  Statement q(db_, sql.c_str());
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) visit(q.integer(0), q.floats(1));
  if (rc != SQLITE_DONE) return sqlite_error(db_, "reading vectors");
  return {};
}

}  // namespace tandem::knowledge
