// The words, numbers and punctuation of UTF-8 text as the name detectors read them: the rules of
// name_detector.cpp and the statistical tagger of token_tagger.cpp share one tokenizer, so both
// see the same boundaries. Internal to the privacy module (not part of its public API).
//
//   for (const privacy::WordToken& t : privacy::tokenize_words("Mr. O'Brien, 4 Oak St.", gazetteer))
//     ...  // "Mr" "." "O'Brien" "," "4" "Oak" "St" "."
//
// A Han character is one kPunct token of its own (the Chinese rules read code points instead).
// Invalid UTF-8 bytes become U+FFFD kPunct tokens.
// Thread-safety: free functions over values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::privacy {

class Gazetteer;

enum class TokenKind { kWord, kNumber, kPunct };

struct WordToken {
  size_t begin = 0;
  size_t end = 0;
  TokenKind kind = TokenKind::kPunct;
  char32_t punct = 0;        // the character of a kPunct token
  bool capitalised = false;  // first letter upper or title case
  bool all_caps = false;     // two or more letters, none lower case
  bool newline_before = false;
  bool space_before = false;  // any whitespace since the previous token
  std::string key;            // folded (Gazetteer::fold_key)
  uint32_t kinds = 0;         // gazetteer kinds of the single word
};

std::vector<WordToken> tokenize_words(std::string_view text, const Gazetteer& gazetteer);

// The code point at byte `i` (negative for an invalid sequence); `*next` is the byte after it.
int32_t decode_at(std::string_view s, size_t i, size_t* next);
void append_utf8(std::string& out, int32_t code_point);
bool is_han(int32_t code_point);

}  // namespace tandem::privacy
