#include "knowledge/text_analysis.h"

#include <unicode/brkiter.h>
#include <unicode/normalizer2.h>
#include <libstemmer.h>
#include <unicode/unistr.h>

#include <memory>

namespace tandem::knowledge {
namespace {

// ICU's break iterators are not thread-safe and costly to create: one per thread.
icu::BreakIterator* word_iterator() {
  thread_local std::unique_ptr<icu::BreakIterator> iterator = [] {
    UErrorCode status = U_ZERO_ERROR;
    std::unique_ptr<icu::BreakIterator> it(icu::BreakIterator::createWordInstance(icu::Locale::getRoot(), status));
    return U_SUCCESS(status) ? std::move(it) : nullptr;
  }();
  return iterator.get();
}

// Snowball's English stemmer ("leases" and "leased" -> "leas"); not thread-safe: one per thread.
sb_stemmer* english_stemmer() {
  thread_local std::unique_ptr<sb_stemmer, decltype(&sb_stemmer_delete)> stemmer(sb_stemmer_new("english", "UTF_8"),
                                                                               &sb_stemmer_delete);
  return stemmer.get();
}

bool is_ascii_word(std::string_view token) {
  for (char c : token) {
    if (!((c >= 'a' && c <= 'z') || c == '\'')) return false;
  }
  return true;
}

}  // namespace

std::string_view text_analysis_version() { return "icu-nfkc-casefold-words+snowball-english-1"; }

void for_each_word(std::string_view text, const std::function<bool(std::string_view word)>& on_word) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* normalizer = icu::Normalizer2::getNFKCCasefoldInstance(status);
  icu::BreakIterator* words = word_iterator();
  if (U_FAILURE(status) || words == nullptr) return;  // ICU data missing: nothing can be analysed

  const icu::UnicodeString normalized =
      normalizer->normalize(icu::UnicodeString::fromUTF8(icu::StringPiece(text.data(), static_cast<int32_t>(text.size()))), status);
  if (U_FAILURE(status)) return;
  words->setText(normalized);
  std::string word;
  int32_t start = words->first();
  for (int32_t end = words->next(); end != icu::BreakIterator::DONE; start = end, end = words->next()) {
    if (words->getRuleStatus() == UBRK_WORD_NONE) continue;  // spaces and punctuation
    word.clear();
    normalized.tempSubStringBetween(start, end).toUTF8String(word);
    if (!on_word(word)) return;
  }
}

void for_each_token(std::string_view text, const std::function<bool(std::string_view token)>& on_token) {
  sb_stemmer* stemmer = english_stemmer();
  for_each_word(text, [&](std::string_view word) {
    if (stemmer && is_ascii_word(word)) {
      const sb_symbol* stem =
          sb_stemmer_stem(stemmer, reinterpret_cast<const sb_symbol*>(word.data()), static_cast<int>(word.size()));
      if (stem) return on_token(std::string_view(reinterpret_cast<const char*>(stem), static_cast<size_t>(sb_stemmer_length(stemmer))));
    }
    return on_token(word);
  });
}

std::vector<std::string> analyze_text(std::string_view text) {
  std::vector<std::string> tokens;
  for_each_token(text, [&](std::string_view token) {
    tokens.emplace_back(token);
    return true;
  });
  return tokens;
}

}  // namespace tandem::knowledge
