#include "privacy/pii_scanner.h"

#include <re2/re2.h>

#include <algorithm>
#include <iterator>

#include "privacy/name_detector.h"
#include "privacy/pattern_detector.h"
#include "privacy/token_tagger.h"
#include "privacy/word_tokens.h"

namespace tandem::privacy {
namespace {

bool overlaps(const Entity& a, const Entity& b) { return a.begin < b.end && b.begin < a.end; }

// A name's span without the punctuation around it ("John Smith." is "John Smith"): the full
// stop stays in the text, outside the placeholder.
void trim_punctuation(std::string_view text, Entity& e) {
  constexpr std::string_view kPunctuation = ".,;:!?\"'()[]{}<>= \t\r\n";
  while (e.end > e.begin && kPunctuation.find(text[e.end - 1]) != std::string_view::npos) --e.end;
  while (e.begin < e.end && kPunctuation.find(text[e.begin]) != std::string_view::npos) ++e.begin;
}

RE2::Options latin1_options() {
  RE2::Options options;
  options.set_encoding(RE2::Options::EncodingLatin1);
  options.set_log_errors(false);
  return options;
}

bool has_han(std::string_view text, const Entity& e) {
  for (size_t i = e.begin; i < e.end;) {
    size_t next;
    if (is_han(decode_at(text, i, &next))) return true;
    i = next;
  }
  return false;
}

// "https://example.com/item?id=12345", "www.example.org/a": up to a space, a quote, an angle
// bracket or a non-ASCII character, without the punctuation that ends a sentence.
std::vector<Entity> web_addresses(std::string_view text) {
  static const RE2 kUrl{R"(((?:\b[A-Za-z][A-Za-z0-9+.-]*://|\bwww\.)[!#-&(-;=?-~]+))", latin1_options()};
  std::vector<Entity> urls;
  re2::StringPiece input(text.data(), text.size());
  re2::StringPiece match;
  while (RE2::FindAndConsume(&input, kUrl, &match)) {
    Entity url{EntityType::kUrlCredentials, static_cast<size_t>(match.data() - text.data()), 0, 1.0};
    url.end = url.begin + match.size();
    trim_punctuation(text, url);
    urls.push_back(url);
  }
  return urls;
}

// What the patterns found and the web addresses, merged: sorted by begin and non-overlapping.
std::vector<Entity> taken_spans(std::string_view text, const std::vector<Entity>& found) {
  std::vector<Entity> spans = web_addresses(text);
  spans.insert(spans.end(), found.begin(), found.end());
  std::sort(spans.begin(), spans.end(), [](const Entity& a, const Entity& b) { return a.begin < b.begin; });
  std::vector<Entity> merged;
  for (const Entity& span : spans) {
    if (!merged.empty() && span.begin < merged.back().end) {
      merged.back().end = std::max(merged.back().end, span.end);
    } else {
      merged.push_back(span);
    }
  }
  return merged;
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
  // No name, place or address is guessed inside what the patterns took or inside a web address.
  const std::vector<Entity> taken = taken_spans(text, found);
  std::vector<WordToken> words = names_->words(text);  // one tokenization for the rules and the tagger
  std::vector<Entity> guesses = names_->detect(text, words);
  if (tagger_) {
    // The tagger decides in English; the rules' spans with Han characters stand over its guesses.
    std::vector<Entity> chinese;
    std::copy_if(guesses.begin(), guesses.end(), std::back_inserter(chinese),
                 [&](const Entity& rule) { return has_han(text, rule); });
    std::vector<Entity> tagged = tagger_->tag(text, std::move(words), guesses, taken);
    guesses = chinese;
    std::copy_if(tagged.begin(), tagged.end(), std::back_inserter(guesses), [&](const Entity& t) {
      return std::none_of(chinese.begin(), chinese.end(), [&](const Entity& c) { return overlaps(t, c); });
    });
  }
  for (Entity& guess : guesses) {
    trim_punctuation(text, guess);
    const bool in_taken = std::any_of(taken.begin(), taken.end(), [&](const Entity& t) { return overlaps(guess, t); });
    if (guess.end > guess.begin && !in_taken) found.push_back(guess);
  }
  std::sort(found.begin(), found.end(), [](const Entity& a, const Entity& b) { return a.begin < b.begin; });
  return found;
}

}  // namespace tandem::privacy
