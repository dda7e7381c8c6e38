#include "core/words.h"

#include <unicode/brkiter.h>
#include <unicode/normalizer2.h>
#include <unicode/unistr.h>
#include <unicode/uscript.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/config.h"

namespace tandem {
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

// The script of a word's first letter; USCRIPT_COMMON when it has none (digits, symbols).
UScriptCode script_of_word(std::string_view word) {
  int32_t i = 0;
  const auto length = static_cast<int32_t>(word.size());
  while (i < length) {
    UChar32 c;
    U8_NEXT(word.data(), i, length, c);
    if (c < 0) continue;
    UErrorCode status = U_ZERO_ERROR;
    const UScriptCode script = uscript_getScript(c, &status);
    if (U_SUCCESS(status) && script != USCRIPT_COMMON && script != USCRIPT_INHERITED) return script;
  }
  return USCRIPT_COMMON;
}

}  // namespace

std::string cut_utf8(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return std::string(text.substr(0, end));
}

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

Result<ScriptSet> ScriptSet::parse(std::string_view names) {
  ScriptSet set;
  const std::vector<std::string> listed = split_setting_list(names);
  if (listed.empty() || (listed.size() == 1 && listed.front() == "all")) return set;
  for (const auto& name : listed) {
    // A script's name or code, e.g. "Latin" or "Latn" (uscript_getCode also takes locale names,
    // which could stand for several scripts: only a single script is accepted here).
    UScriptCode code[2];
    UErrorCode status = U_ZERO_ERROR;
    const int32_t found = uscript_getCode(name.c_str(), code, 2, &status);
    if (U_FAILURE(status) || found != 1 || code[0] == USCRIPT_INVALID_CODE || code[0] == USCRIPT_COMMON ||
        code[0] == USCRIPT_INHERITED) {
      return make_error(ErrorCode::kInvalidArgument,
                        "'" + name + "' is not a Unicode script name (ISO 15924, e.g. Latin, Cyrillic, Han)");
    }
    set.scripts_.push_back(code[0]);
    set.names_ = set.scripts_.size() == 1 ? name : set.names_ + "," + name;
  }
  return set;
}

int main_script(std::string_view text) {
  std::vector<std::pair<int, size_t>> counts;  // script, words: a text uses few scripts
  for_each_word(text, [&](std::string_view word) {
    int script = script_of_word(word);
    if (script == USCRIPT_COMMON) return true;
    if (script == USCRIPT_HIRAGANA || script == USCRIPT_KATAKANA) script = USCRIPT_HAN;
    auto it = std::find_if(counts.begin(), counts.end(), [&](const auto& c) { return c.first == script; });
    if (it == counts.end()) {
      counts.emplace_back(script, 1);
    } else {
      ++it->second;
    }
    return true;
  });
  const auto most =
      std::max_element(counts.begin(), counts.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  return most == counts.end() ? -1 : most->first;
}

double ScriptSet::share_of_words_in(std::string_view text) const {
  if (covers_every_script()) return 1.0;
  size_t words = 0;
  size_t covered = 0;
  for_each_word(text, [&](std::string_view word) {
    const UScriptCode script = script_of_word(word);
    if (script == USCRIPT_COMMON) return true;
    ++words;
    covered += std::find(scripts_.begin(), scripts_.end(), static_cast<int>(script)) != scripts_.end();
    return true;
  });
  return words == 0 ? 1.0 : static_cast<double>(covered) / static_cast<double>(words);
}

}  // namespace tandem
