#include "knowledge/text_analysis.h"

#include <unicode/brkiter.h>
#include <unicode/normalizer2.h>
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

}  // namespace

void for_each_token(std::string_view text, const std::function<bool(std::string_view token)>& on_token) {
  UErrorCode status = U_ZERO_ERROR;
  const icu::Normalizer2* normalizer = icu::Normalizer2::getNFKCCasefoldInstance(status);
  icu::BreakIterator* words = word_iterator();
  if (U_FAILURE(status) || words == nullptr) return;  // ICU data missing: nothing can be analysed

  const icu::UnicodeString normalized = normalizer->normalize(
      icu::UnicodeString::fromUTF8(icu::StringPiece(text.data(), static_cast<int32_t>(text.size()))), status);
  if (U_FAILURE(status)) return;
  words->setText(normalized);
  std::string token;
  int32_t start = words->first();
  for (int32_t end = words->next(); end != icu::BreakIterator::DONE; start = end, end = words->next()) {
    if (words->getRuleStatus() == UBRK_WORD_NONE) continue;  // spaces and punctuation
    token.clear();
    normalized.tempSubStringBetween(start, end).toUTF8String(token);
    if (!on_token(token)) return;
  }
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
