// The words of Unicode text (ICU word segmentation, which splits Chinese into dictionary words,
// after NFKC case folding), and the writing systems (Unicode scripts) an embedding model reads:
// where a text is mostly in other scripts the model's vector is noise (all-MiniLM-L6-v2, trained
// on English, finds the right Chinese paragraph first for 17% of XQuAD zh questions against 92%
// for BM25), so hybrid search leaves its list out and the router its features.
//
//   for_each_word("北京大学的学生 Tesla", [](std::string_view w) { ...; return true; });  // 北京 大学 的 学生 tesla
//   auto latin = ScriptSet::parse("Latin");  // ISO 15924 names or codes, comma-separated
//   latin->share_of_words_in("北京大学的学生 Tesla");     // 0.2: one word of five
//   latin->mostly_in("北京大学的学生 Tesla");             // false
//   main_script("北京大学的学生 Tesla");                  // USCRIPT_HAN
//
// Thread-safety: any thread (ICU's iterators are per thread), but for_each_word is not
// re-entrant: its callback must not segment text itself.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace tandem {

// Calls `on_word(word)` for each normalised word of `text`, punctuation and spaces left out (valid
// UTF-8 expected; invalid sequences are replaced). Stops early when on_word returns false.
void for_each_word(std::string_view text, const std::function<bool(std::string_view word)>& on_word);

// The longest head of `text` of at most `max_bytes` that does not end inside a UTF-8 sequence.
std::string cut_utf8(std::string_view text, size_t max_bytes);

// The writing system most of the text's words are in (an ICU UScriptCode; Hiragana and Katakana
// count as Han, as Japanese mixes them), or -1 when no word has one (digits and symbols alone).
int main_script(std::string_view text);

class ScriptSet {
 public:
  ScriptSet() = default;  // every script
  // "Latin", "Latn,Cyrl", ...; empty or "all": every script. kInvalidArgument for an unknown name.
  static Result<ScriptSet> parse(std::string_view names);

  bool covers_every_script() const { return scripts_.empty(); }
  // What parse() was given, normalised: "Latin,Han", or "all".
  const std::string& names() const { return names_; }
  // The share of the text's words (ICU word segmentation, as for BM25) written in these scripts.
  // Words of digits or symbols alone belong to no script and do not count; 1 when none counts.
  double share_of_words_in(std::string_view text) const;
  // At least half of the words: what the embedding model is trusted with.
  bool mostly_in(std::string_view text) const { return share_of_words_in(text) >= 0.5; }

 private:
  std::vector<int> scripts_;  // ICU UScriptCode values; empty: every script
  std::string names_ = "all";
};

}  // namespace tandem
