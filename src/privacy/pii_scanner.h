// All of Tandem's PII detectors behind one call: the structured ones (patterns with checksums)
// and, when a gazetteer is loaded, person names, organisations, places and addresses.
//
//   auto gazetteer = std::make_shared<const privacy::Gazetteer>(*privacy::Gazetteer::load(path));
//   auto tagger = privacy::TokenTagger::load(tagger_path, gazetteer);             // optional
//   privacy::PiiScanner scanner(gazetteer, std::make_shared<const privacy::TokenTagger>(*tagger));
//   std::vector<privacy::Entity> found = scanner.scan(text);    // sorted, non-overlapping
//
// Names, organisations, places and addresses: with a tagger, the tagger decides in English text
// (reading the rules' guesses as features), while the rules' spans with Han characters are kept
// and win over any tagger span they overlap (Chinese stays with the rules); without one, the
// rules alone.
// Where such a guess overlaps a structured detection (a checksum, a fixed format), the structured
// one stands and the guess is dropped.
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
class TokenTagger;

class PiiScanner {
 public:
  // `gazetteer` null: structured types only (no person, organisation, location or address), and
  // `tagger` is not used. `tagger` null: the rules alone.
  explicit PiiScanner(std::shared_ptr<const Gazetteer> gazetteer, std::shared_ptr<const TokenTagger> tagger = nullptr);
  ~PiiScanner();
  PiiScanner(const PiiScanner&) = delete;
  PiiScanner& operator=(const PiiScanner&) = delete;

  std::vector<Entity> scan(std::string_view text) const;
  bool detects_names() const { return names_ != nullptr; }
  bool uses_tagger() const { return tagger_ != nullptr; }

 private:
  std::unique_ptr<const PatternDetector> patterns_;
  std::unique_ptr<const NameDetector> names_;
  std::shared_ptr<const TokenTagger> tagger_;
};

}  // namespace tandem::privacy
