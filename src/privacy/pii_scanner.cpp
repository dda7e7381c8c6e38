#include "privacy/pii_scanner.h"

#include <algorithm>
#include <iterator>

#include "privacy/name_detector.h"
#include "privacy/pattern_detector.h"
#include "privacy/token_tagger.h"
#include "privacy/word_tokens.h"

namespace tandem::privacy {
namespace {

bool overlaps(const Entity& a, const Entity& b) { return a.begin < b.end && b.begin < a.end; }

bool has_han(std::string_view text, const Entity& e) {
  for (size_t i = e.begin; i < e.end;) {
    size_t next;
    if (is_han(decode_at(text, i, &next))) return true;
    i = next;
  }
  return false;
}

}  // namespace

PiiScanner::PiiScanner(std::shared_ptr<const Gazetteer> gazetteer, std::shared_ptr<const TokenTagger> tagger)
    : patterns_(std::make_unique<const PatternDetector>()),
      names_(gazetteer ? std::make_unique<const NameDetector>(std::move(gazetteer)) : nullptr),
      tagger_(names_ ? std::move(tagger) : nullptr) {}

PiiScanner::~PiiScanner() = default;

std::vector<Entity> PiiScanner::scan(std::string_view text) const {
  std::vector<Entity> found = patterns_->detect(text);
  if (!names_) return found;
  std::vector<WordToken> words = names_->words(text);  // one tokenization for the rules and the tagger
  std::vector<Entity> guesses = names_->detect(text, words);
  if (tagger_) {
    // The tagger decides in English; the rules' spans with Han characters stand over its guesses.
    std::vector<Entity> chinese;
    std::copy_if(guesses.begin(), guesses.end(), std::back_inserter(chinese),
                 [&](const Entity& rule) { return has_han(text, rule); });
    std::vector<Entity> tagged = tagger_->tag(text, std::move(words), guesses);
    guesses = chinese;
    std::copy_if(tagged.begin(), tagged.end(), std::back_inserter(guesses), [&](const Entity& t) {
      return std::none_of(chinese.begin(), chinese.end(), [&](const Entity& c) { return overlaps(t, c); });
    });
  }
  const size_t structured = found.size();
  for (const Entity& guess : guesses) {
    const bool taken = std::any_of(found.begin(), found.begin() + static_cast<std::ptrdiff_t>(structured),
                                   [&](const Entity& e) { return overlaps(guess, e); });
    if (!taken) found.push_back(guess);
  }
  std::sort(found.begin(), found.end(), [](const Entity& a, const Entity& b) { return a.begin < b.begin; });
  return found;
}

}  // namespace tandem::privacy
