// Text analysis for lexical search: Unicode NFKC normalisation with case folding, then ICU word
// segmentation, which splits Chinese and Japanese into dictionary words instead of one token per
// unspaced run, then Snowball's English stemmer on plain ASCII words. Punctuation and spaces are
// dropped.
//
//   analyze_text("北京大学的学生 The QUICK foxes")  // {"北京", "大学", "的", "学生", "the", "quick", "fox"}
//
// The same analysis serves indexing (the SQLite FTS5 tokenizer "tandem") and queries, so both
// sides always agree. Thread-safety: any thread (ICU iterators are per thread), but not
// re-entrant: the callbacks must not analyse text themselves.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/words.h"

namespace tandem::knowledge {

// Calls `on_token(token)` for each normalised, stemmed word of `text` (valid UTF-8 expected;
// invalid sequences are replaced). Stops early when on_token returns false.
void for_each_token(std::string_view text, const std::function<bool(std::string_view token)>& on_token);

// The same words before stemming are for_each_word's (core/words.h): stemming is not idempotent,
// so a query handed to the FTS5 tokenizer must not be stemmed twice.

std::vector<std::string> analyze_text(std::string_view text);

// Changes whenever the analysis does: an index built with another version must be rebuilt.
std::string_view text_analysis_version();

}  // namespace tandem::knowledge
