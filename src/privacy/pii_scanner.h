// All of Tandem's PII detectors behind one call: the structured ones (patterns with checksums)
// and, when a gazetteer is loaded, person names, organisations, places and addresses.
//
//   auto gazetteer = privacy::Gazetteer::load(path);           // optional
//   privacy::PiiScanner scanner(gazetteer ? std::make_shared<const privacy::Gazetteer>(std::move(*gazetteer)) :
//   nullptr); std::vector<privacy::Entity> found = scanner.scan(text);    // sorted, non-overlapping
//
// Where a name, place or address guess overlaps a structured detection (a checksum, a fixed
// format), the structured one stands and the guess is dropped.
// Thread-safety: immutable after construction; scan() may run on any number of threads at once.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "privacy/pii.h"

namespace tandem::privacy {

class Gazetteer;
class NameDetector;
class PatternDetector;

class PiiScanner {
 public:
  // `gazetteer` null: structured types only (no person, organisation, location or address).
  explicit PiiScanner(std::shared_ptr<const Gazetteer> gazetteer);
  ~PiiScanner();
  PiiScanner(const PiiScanner&) = delete;
  PiiScanner& operator=(const PiiScanner&) = delete;

  std::vector<Entity> scan(std::string_view text) const;
  bool detects_names() const { return names_ != nullptr; }

 private:
  std::unique_ptr<const PatternDetector> patterns_;
  std::unique_ptr<const NameDetector> names_;
};

}  // namespace tandem::privacy
