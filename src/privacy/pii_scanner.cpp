#include "privacy/pii_scanner.h"

#include <algorithm>

#include "privacy/name_detector.h"
#include "privacy/pattern_detector.h"

namespace tandem::privacy {

PiiScanner::PiiScanner(std::shared_ptr<const Gazetteer> gazetteer)
    : patterns_(std::make_unique<const PatternDetector>()),
      names_(gazetteer ? std::make_unique<const NameDetector>(std::move(gazetteer)) : nullptr) {}

PiiScanner::~PiiScanner() = default;

std::vector<Entity> PiiScanner::scan(std::string_view text) const {
  std::vector<Entity> found = patterns_->detect(text);
  if (!names_) return found;
  const size_t structured = found.size();
  for (const Entity& guess : names_->detect(text)) {
    const bool overlaps = std::any_of(found.begin(), found.begin() + static_cast<std::ptrdiff_t>(structured),
                                      [&](const Entity& e) { return guess.begin < e.end && e.begin < guess.end; });
    if (!overlaps) found.push_back(guess);
  }
  std::sort(found.begin(), found.end(), [](const Entity& a, const Entity& b) { return a.begin < b.begin; });
  return found;
}

}  // namespace tandem::privacy
