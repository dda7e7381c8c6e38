// Approximate nearest-neighbour search over chunk vectors (hnswlib's HNSW graph, inner product on
// L2-normalised vectors = cosine similarity), keyed by chunk id.
//
//   knowledge::VectorIndex index(384, {});
//   index.add(chunk_id, vector);
//   auto hits = index.search(query_vector, 10, [&](int64_t id) { return in_my_collection(id); });
//
// Filters run inside the search: when few chunks pass the filter they are scanned exactly; else the
// graph is searched with a growing candidate list until k chunks that pass are found. The index is
// a cache of the vectors in the Store: save()/load() keep it across runs, and the knowledge base
// reconciles it with the store on first use. Thread-safety: search may run concurrently with
// other searches; add/remove/save need exclusive access (the knowledge base holds a lock).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/status.h"
#include "knowledge/store.h"
#include "privacy/aes_gcm.h"

namespace hnswlib {
template <typename T>
class HierarchicalNSW;
class InnerProductSpace;
}  // namespace hnswlib

namespace tandem::knowledge {

struct VectorIndexOptions {
  int32_t m = 16;                 // graph degree
  int32_t ef_construction = 200;  // build-time candidate list
  int32_t ef_search = 64;         // query-time candidate list (at least k)
  // A filter that passes at most this many chunks is answered by an exact scan of them.
  int64_t exact_scan_below = 20000;
};

using ChunkFilter = std::function<bool(int64_t chunk_id)>;

class VectorIndex {
 public:
  VectorIndex(int32_t dimensions, const VectorIndexOptions& options);
  ~VectorIndex();

  Status add(int64_t id, std::span<const float> vector);
  void remove(int64_t id);
  bool contains(int64_t id) const;
  std::vector<int64_t> ids() const;

  // Best first; score = cosine similarity. `allowed` may be empty (no filter); `allowed_count`,
  // when known, is how many ids pass it.
  std::vector<ScoredId> search(std::span<const float> query, int k, const ChunkFilter& allowed = {},
                               int64_t allowed_count = -1) const;

  // Written to a temporary file, then renamed. With `key` the file is sealed (privacy/sealed_file.h)
  // and the clear graph exists only in memory (a memfd), never on disk.
  Status save(const std::string& path, const std::optional<privacy::Key>& key = std::nullopt) const;
  static Result<std::unique_ptr<VectorIndex>> load(const std::string& path, int32_t dimensions,
                                                   const VectorIndexOptions& options,
                                                   const std::optional<privacy::Key>& key = std::nullopt);

 private:
  std::vector<ScoredId> exact_scan(std::span<const float> query, int k, const ChunkFilter& allowed) const;
  Status reserve(size_t elements);

  int32_t dimensions_;
  VectorIndexOptions options_;
  std::unique_ptr<hnswlib::InnerProductSpace> space_;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> graph_;
  std::unordered_set<int64_t> alive_;
};

}  // namespace tandem::knowledge
