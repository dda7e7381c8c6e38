// The user's private knowledge base: ingest files and folders into collections, then search them
// lexically (BM25 with ICU word segmentation), by meaning (the local embedding model in an HNSW
// index) or both fused by their rescaled scores. Everything stays under one directory on this machine.
//
//   auto kb = knowledge::KnowledgeBase::open({.dir = data_dir + "/kb"}, embedder);
//   auto report = (*kb)->add({"~/Documents/contracts"}, {.collection = "contracts"}, on_progress);
//   auto found = (*kb)->search("when does the lease end?", {.k = 5});
//   for (const auto& hit : found->hits) show(hit.chunk.path, hit.chunk.page, hit.chunk.text);
//
// Ingest is incremental and crash-safe: each document is committed whole or not at all, unchanged
// files are skipped, so a killed `kb add` resumes where it stopped. Bad files (corrupt, binary,
// too big, unreadable) are reported per file and the others go on.
// Thread-safety: every method may be called from any thread; searches run concurrently, changes
// are serialised.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "engine/engine.h"
#include "knowledge/chunker.h"
#include "knowledge/document.h"
#include "core/words.h"
#include "knowledge/store.h"
#include "knowledge/vector_index.h"
#include "privacy/aes_gcm.h"

namespace tandem::knowledge {

struct KnowledgeBaseOptions {
  std::string dir;  // holds kb.sqlite and the vector index; created when missing
  ChunkOptions chunking{};
  VectorIndexOptions vectors{};
  ParseLimits limits{};
  int32_t embed_batch = 32;                    // chunks per embedding call during ingest
  // The scripts the embedding model reads (ScriptSet::parse): a hybrid search for a query mostly
  // in other scripts ranks by BM25 alone. The default suits the English all-MiniLM-L6-v2; "all"
  // for a multilingual model.
  std::string embedding_scripts = "Latin";
  std::optional<privacy::Key> encryption_key{};  // the knowledge base's data key; nullopt: stored in clear
  // Re-ranks close hybrid results (SearchOptions::rerank); not owned, must outlive the base.
  // nullptr: fused order only.
  engine::LikelihoodScorer* reranker = nullptr;
};

struct AddOptions {
  std::string collection = "default";
  std::vector<std::string> include{};  // glob patterns on the file name or relative path; empty: every supported type
  std::vector<std::string> exclude{};
  bool hidden = false;  // also enter dot-files and dot-folders (.git, .cache)
  // Remove the documents at or under the given paths whose files are gone; without it they are
  // kept and reported as kGone.
  bool prune = false;
};

// A path added again is brought in line with its files: a changed file is kReplaced, a renamed or
// moved one kMoved (its document follows, nothing is embedded again), one emptied is kSkipped and
// its earlier version removed, and one deleted kGone (kRemoved with AddOptions::prune).
enum class FileStatus { kAdded, kReplaced, kUnchanged, kMoved, kDuplicate, kSkipped, kFailed, kGone, kRemoved };
std::string_view file_status_name(FileStatus status);

struct FileOutcome {
  std::string path;
  FileStatus status = FileStatus::kFailed;
  std::string message;  // why it failed, or what it duplicates
  int64_t document_id = 0;
  int64_t chunks = 0;
  int32_t pages = 0;
};

struct AddReport {
  std::vector<FileOutcome> files;
  int64_t chunks = 0;  // new chunks stored
  int64_t pages = 0;   // PDF pages read
  double seconds = 0;
  int64_t count(FileStatus status) const;
};

struct AddProgress {
  size_t files_done = 0;
  size_t files_total = 0;
  int64_t chunks = 0;
  std::string current;
};

enum class SearchMode { kBm25, kDense, kHybrid };
Result<SearchMode> parse_search_mode(std::string_view name);  // "bm25", "dense", "hybrid"

// How a hybrid search fuses the two lists: each adds its weight times the chunk's score rescaled
// to [0, 1] over the list, or reciprocal rank fusion, weight / (rrf_k + rank).
enum class Fusion { kRescaledScores, kReciprocalRank };

struct SearchOptions {
  int k = 5;
  SearchMode mode = SearchMode::kHybrid;
  std::vector<std::string> collections{};  // empty: all; applied inside both searches
  Fusion fusion = Fusion::kRescaledScores;
  double bm25_weight = 1.0;  // fusion weights, scaled per query (SearchResult)
  double dense_weight = 1.0;
  int rrf_k = 60;
  int candidates = 50;  // taken from each list before fusion
  // Hybrid only, with a reranker: of the first `rerank` hits, those whose fused score is within
  // rerank_margin x the best one's are put in the order of log P(query | passage) under the local
  // chat model (query likelihood). 0 or 1: off.
  int rerank = 2;
  double rerank_margin = 0.25;
};

// What the reranker scores a query after: the passage, then a line that asks for a question about
// it, in Chinese when the query is mostly Chinese (Han) words, else in English.
std::string query_likelihood_prefix(std::string_view passage, std::string_view query);

struct SearchHit {
  StoredChunk chunk;
  double score = 0;       // the mode's own score: BM25, cosine, or fused
  int bm25_rank = 0;      // 1-based place in the BM25 list; 0 when absent
  int dense_rank = 0;     // 1-based place in the dense list; 0 when absent
  double similarity = 0;  // cosine similarity to the query, when the dense list holds the chunk
  double query_likelihood = 0;  // log P(query | passage) when re-ranked (SearchResult::reranked)
};

struct SearchResult {
  std::vector<SearchHit> hits;
  double top_similarity = 0;  // best cosine among the dense candidates: how well anything matched
  // The fusion weights used for this query: the configured ones scaled by how clearly each list
  // separated its best passages from the rest; dense_weight is 0 when the query is mostly in
  // scripts the embedding model does not read (KnowledgeBaseOptions::embedding_scripts).
  double bm25_weight = 0;
  double dense_weight = 0;
  int reranked = 0;  // leading hits put in query-likelihood order (SearchOptions::rerank)
  double embed_ms = 0;
  double rerank_ms = 0;
  double search_ms = 0;
};

class KnowledgeBase {
 public:
  // Opens (or creates) the base. The vector index is loaded and brought in line with the store on
  // the first search or change. The embedder must be the model the base was built with (checked);
  // it is borrowed, not owned.
  static Result<std::unique_ptr<KnowledgeBase>> open(const KnowledgeBaseOptions& options, engine::Embedder& embedder);
  // The store's file in a knowledge base directory (kb.sqlite).
  static std::string store_file(const std::string& dir);
  // Embeds every chunk again with `embedder` and makes it the base's model (a base built with
  // another model, which open() refuses). No other process may use the base meanwhile. An
  // interrupted run leaves the base refused by open() until it is run again. Returns the number
  // of chunks embedded; `on_progress(done, total)` after each batch.
  static Result<int64_t> reembed(const KnowledgeBaseOptions& options, engine::Embedder& embedder,
                                 const std::function<void(int64_t done, int64_t total)>& on_progress = {});
  ~KnowledgeBase();

  // Adds files and folders (recursively). Errors only for what stops the whole ingest (an unknown
  // collection name, a full disk); everything about one file is in its FileOutcome.
  Result<AddReport> add(const std::vector<std::string>& paths, const AddOptions& options,
                        const std::function<void(const AddProgress&)>& on_progress = {});
  // Adds one in-memory file (an upload) under `name`.
  Result<FileOutcome> add_bytes(std::string_view bytes, const std::string& name, const std::string& collection);

  Result<std::vector<CollectionInfo>> collections();
  Result<std::vector<DocumentRecord>> documents(const std::string& collection = "");
  Result<DocumentRecord> document(int64_t id);
  // Removes one document; kNotFound when it is not there.
  Result<DocumentRecord> remove_document(int64_t id);
  Status remove_collection(const std::string& name);

  Result<SearchResult> search(std::string_view query, const SearchOptions& options);
  // The embedding model's own "not found" cosine (engine::kMinSimilarityKey), when it has one.
  std::optional<double> calibrated_min_similarity() const { return embedder_.calibrated_min_similarity(); }

 private:
  KnowledgeBase(const KnowledgeBaseOptions& options, ScriptSet embedding_scripts, engine::Embedder& embedder,
                std::unique_ptr<Store> store);
  Status ensure_index();
  Status reconcile_index(int64_t data_version);
  Status save_index();
  // A file hashed, checked against the store, parsed and chunked: `ready` when it still needs
  // its vectors and a commit, else `outcome` is final (unchanged, duplicate, skipped, failed).
  struct Prepared {
    FileOutcome outcome;
    bool ready = false;
    bool replaces = false;
    DocumentRecord record;
    std::vector<Chunk> chunks;
  };
  Result<Prepared> prepare(const std::string& path, std::string_view in_memory, int64_t collection_id);
  Status drop_document(int64_t id);  // from the store and the vector index, with write_mutex_ held
  // Adds a kGone (or, pruning, kRemoved) outcome for each document at or under `roots` whose
  // file no longer exists.
  Status account_for_gone_files(const std::vector<std::string>& roots, int64_t collection_id, bool prune,
                                AddReport& report);
  std::vector<std::string> embedding_inputs(const Prepared& prepared) const;
  Result<std::vector<std::vector<float>>> embed_texts(const std::vector<std::string>& inputs);
  Result<FileOutcome> commit(Prepared& prepared, const std::vector<std::vector<float>>& vectors);
  // Embeds the ready documents of `group` together, commits them in order and moves every
  // outcome into `report`. Errors only for what stops the ingest.
  Status embed_and_commit(std::vector<Prepared>& group, AddReport& report,
                          const std::function<void(const FileOutcome&)>& on_done);
  void forget_chunks(const std::vector<int64_t>& ids);
  Status remember_chunks(const std::vector<int64_t>& ids, int64_t collection_id,
                         const std::vector<std::vector<float>>& vectors);
  Result<std::vector<int64_t>> collection_ids(const std::vector<std::string>& names);
  void rerank(std::string_view query, const SearchOptions& options, SearchResult& result) const;

  KnowledgeBaseOptions options_;
  ScriptSet embedding_scripts_;
  engine::Embedder& embedder_;
  std::unique_ptr<Store> store_;
  std::mutex write_mutex_;                 // one ingest or removal at a time
  mutable std::shared_mutex index_mutex_;  // guards the three members below
  std::unique_ptr<VectorIndex> vectors_;
  std::unordered_map<int64_t, int64_t> chunk_collection_;  // chunk id -> collection id
  int64_t synced_data_version_ = -1;  // the store's data_version the index was last brought in line with
};

}  // namespace tandem::knowledge
