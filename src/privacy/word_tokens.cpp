#include "privacy/word_tokens.h"

#include <unicode/uchar.h>
#include <unicode/utf8.h>

#include "privacy/name_detector.h"

namespace tandem::privacy {
namespace {

bool is_word_char(UChar32 c) {
  if (u_isalpha(c)) return true;
  const int8_t type = u_charType(c);
  return type == U_NON_SPACING_MARK || type == U_COMBINING_SPACING_MARK;
}

}  // namespace

void append_utf8(std::string& out, int32_t c) {
  char buf[4];
  int32_t length = 0;
  U8_APPEND_UNSAFE(buf, length, c);
  out.append(buf, static_cast<size_t>(length));
}

bool is_han(int32_t c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF);
}

int32_t decode_at(std::string_view s, size_t i, size_t* next) {
  int32_t pos = static_cast<int32_t>(i);
  UChar32 c;
  U8_NEXT(s.data(), pos, static_cast<int32_t>(s.size()), c);
  *next = static_cast<size_t>(pos);
  return c;
}

std::vector<WordToken> tokenize_words(std::string_view text, const Gazetteer& gazetteer) {
  std::vector<WordToken> tokens;
  bool newline = false;
  bool space = false;
  size_t i = 0;
  while (i < text.size()) {
    size_t next;
    const UChar32 c = decode_at(text, i, &next);
    if (c == '\n' || c == '\r') {
      newline = space = true;
      i = next;
      continue;
    }
    if (c >= 0 && u_isUWhiteSpace(c)) {
      space = true;
      i = next;
      continue;
    }
    WordToken token;
    token.begin = i;
    token.newline_before = newline;
    token.space_before = space;
    newline = space = false;
    if (c < 0 || is_han(c) || !(is_word_char(c) || u_isdigit(c))) {
      token.kind = TokenKind::kPunct;
      token.punct = c < 0 ? U'\uFFFD' : static_cast<char32_t>(c);
      token.end = next;
      tokens.push_back(std::move(token));
      i = next;
      continue;
    }
    token.kind = u_isdigit(c) ? TokenKind::kNumber : TokenKind::kWord;
    token.capitalised = u_isupper(c) || u_istitle(c);
    int letters = 0;
    int lower = 0;
    size_t end = i;
    while (end < text.size()) {
      size_t after;
      const UChar32 d = decode_at(text, end, &after);
      if (d >= 0 && !is_han(d) && (is_word_char(d) || u_isdigit(d))) {
        if (u_isalpha(d)) ++letters;
        if (u_islower(d)) ++lower;
        end = after;
        continue;
      }
      // Joiners inside a word: "O'Brien", "Jean-Pierre", but not the possessive "Liam's".
      if (d == '\'' || d == 0x2019 || d == '-') {
        size_t after_next;
        const UChar32 e = after < text.size() ? decode_at(text, after, &after_next) : -1;
        const bool possessive = (d != '-') && (e == 's' || e == 'S') &&
                                (after_next >= text.size() || !is_word_char(decode_at(text, after_next, &after_next)));
        if (e >= 0 && !is_han(e) && is_word_char(e) && !possessive) {
          end = after;
          continue;
        }
      }
      break;
    }
    token.end = end;
    token.all_caps = letters >= 2 && lower == 0;
    Gazetteer::fold_key(text.substr(i, end - i), token.key);
    if (token.kind == TokenKind::kWord) token.kinds = gazetteer.lookup_folded(token.key);
    tokens.push_back(std::move(token));
    i = end;
  }
  return tokens;
}

}  // namespace tandem::privacy
