// The knowledge base's one storage layer: a SQLite database (WAL) holding collections,
// documents, chunks with their embeddings, and a full-text index (FTS5 with the "tandem"
// tokenizer of text_analysis.h, ranked by BM25). Every persistent byte of user content goes
// through this class, so that encryption at rest has one place to cover: opened with a key, the
// database, its WAL, journals and temporary files go through EncryptedVfs (AES-256-GCM per page).
//
//   auto store = knowledge::Store::open("~/.local/share/tandem/kb/kb.sqlite", data_key);  // or nullopt: in clear
//   auto collection = (*store)->collection_id("contracts", /*create=*/true);
//   (*store)->replace_document(record, chunks, vectors);   // one transaction: all or nothing
//   auto hits = (*store)->search_lexical("when does the lease end", 10, {*collection});
//
// Crash safety: a document and all its chunks are written in one transaction, so a killed ingest
// leaves whole documents or none. Thread-safety: all methods may be called from any thread; one
// connection, serialised by a mutex.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "knowledge/chunker.h"
#include "knowledge/encrypted_vfs.h"
#include "privacy/aes_gcm.h"

struct sqlite3;

namespace tandem::knowledge {

struct CollectionInfo {
  int64_t id = 0;
  std::string name;
  int64_t documents = 0;
  int64_t chunks = 0;
};

struct DocumentRecord {
  int64_t id = 0;  // 0 until stored
  int64_t collection_id = 0;
  std::string collection;  // filled by reads
  std::string path;        // absolute path, or the upload's name
  std::string format;
  std::string title;
  std::string content_hash;  // sha256 of the file's bytes, hex
  int64_t bytes = 0;
  int32_t pages = 0;
  int64_t chunks = 0;
  int64_t added_at = 0;  // unix seconds
};

struct StoredChunk {
  int64_t id = 0;
  int64_t document_id = 0;
  int64_t collection_id = 0;
  std::string path;
  std::string title;
  std::string heading;
  std::string text;
  int32_t page = 0;
  int64_t char_start = 0;
  int64_t char_end = 0;
};

struct ScoredId {
  int64_t id = 0;
  double score = 0;  // higher is better
};

class Store {
 public:
  // With a key, a wrong key or a damaged page is kDataLoss naming the file and page; a base stored
  // in clear is encrypted first (rewritten beside it, then renamed over it). An encrypted base
  // opened without a key is refused (kPermissionDenied).
  static Result<std::unique_ptr<Store>> open(const std::string& path, std::optional<privacy::Key> key = std::nullopt);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Small settings kept with the data (the embedding model the vectors came from).
  Result<std::optional<std::string>> meta(const std::string& key);
  Status set_meta(const std::string& key, const std::string& value);

  Result<std::optional<int64_t>> collection_id(const std::string& name, bool create);
  Result<std::vector<CollectionInfo>> collections();

  Result<std::optional<DocumentRecord>> find_document(int64_t collection_id, const std::string& path);
  Result<std::optional<DocumentRecord>> find_document_by_hash(int64_t collection_id, const std::string& hash);
  Result<std::optional<DocumentRecord>> document(int64_t id);
  Result<std::vector<DocumentRecord>> documents(std::optional<int64_t> collection_id);

  // Stores `record` with its chunks and their vectors, replacing the document of the same
  // collection and path if there is one, in one transaction. Sets record.id; returns the ids of
  // the new chunks and, in `replaced`, those of the chunks it removed.
  Result<std::vector<int64_t>> replace_document(DocumentRecord& record, const std::vector<Chunk>& chunks,
                                                const std::vector<std::vector<float>>& vectors,
                                                std::vector<int64_t>* replaced);
  // Removes a document and its chunks; returns the removed chunk ids.
  Result<std::vector<int64_t>> remove_document(int64_t document_id);
  // A renamed or moved file: its document, chunks and vectors stay, under the new path.
  Status move_document(int64_t document_id, const std::string& path);
  // Removes a collection with all its documents; returns the removed chunk ids.
  Result<std::vector<int64_t>> remove_collection(int64_t collection_id);

  // BM25 over the chunks of the given collections (all when empty), best first. The filter is
  // part of the query, so k results come back whenever k chunks of those collections match.
  Result<std::vector<ScoredId>> search_lexical(const std::string& query, int k,
                                               const std::vector<int64_t>& collections);

  Result<std::vector<StoredChunk>> chunks(const std::vector<int64_t>& ids);
  // Replaces the vectors of existing chunks, in one transaction (a re-embedding).
  Status update_vectors(const std::vector<int64_t>& ids, const std::vector<std::vector<float>>& vectors);
  // Every chunk id with its collection, and every stored vector: what the in-memory indexes are
  // rebuilt or checked from.
  // SQLite's PRAGMA data_version: it moves when another connection (another process: tandem kb
  // add while tandem serve runs) commits, never for this one's own writes.
  Result<int64_t> data_version();
  Status for_each_chunk(const std::function<void(int64_t id, int64_t collection_id)>& visit);
  Status for_each_vector(const std::function<void(int64_t id, std::span<const float> vector)>& visit,
                         const std::vector<int64_t>& only_ids = {});

 private:
  Store(sqlite3* db, std::unique_ptr<EncryptedVfs> vfs) : vfs_(std::move(vfs)), db_(db) {}
  static Status encrypt_clear_file(const std::string& path, const privacy::Key& key);
  Status match_text_analysis();
  Result<std::vector<int64_t>> delete_chunks_of(int64_t document_id);

  // The chunk count and the number of chunks holding each query word, which search_lexical
  // prunes common words by. Reading one word's count walks its whole posting list (as long as
  // searching for it), so they are kept while the database is unchanged: `data_version` (PRAGMA
  // data_version) moves when another connection commits, `own_changes` when this one writes.
  struct WordFrequencies {
    int64_t data_version = -1;
    int64_t own_changes = -1;
    int64_t chunks = 0;
    std::unordered_map<std::string, int64_t> chunks_with;
  };
  Status refresh_word_frequencies();
  Result<int64_t> read_data_version();  // with mutex_ held
  Result<int64_t> chunks_with(const std::string& token);

  std::mutex mutex_;
  std::unique_ptr<EncryptedVfs> vfs_;  // outlives db_ (closed in ~Store); null when stored in clear
  sqlite3* db_;
  WordFrequencies frequencies_;  // guarded by mutex_
};

}  // namespace tandem::knowledge
