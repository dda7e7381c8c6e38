#include "knowledge/text_analysis.h"

#include <libstemmer.h>

#include <memory>

#include "core/words.h"

namespace tandem::knowledge {
namespace {

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
