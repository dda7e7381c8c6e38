// Turns a sequence of token pieces into text that is safe to hand to a client: never a split
// UTF-8 character, never the beginning of a stop sequence that may still complete.
//
//   TextStream text({"\n\n"});
//   bool stop = text.append(piece);   // true: a stop sequence was found; text ends before it
//   send(text.take_ready());          // UTF-8-complete, cannot be part of a stop sequence
//   ...
//   send(text.take_rest());           // at the end: whatever is left (an incomplete character is dropped)
//
// Thread-safety: none; one instance per request.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace tandem::engine {

class TextStream {
 public:
  TextStream() = default;
  explicit TextStream(std::vector<std::string> stop) : stop_(std::move(stop)) {}

  // Appends a piece; returns true when a stop sequence now appears (the text is cut before it).
  bool append(std::string_view piece);
  std::string take_ready();
  std::string take_rest();

 private:
  size_t ready_end() const;

  std::vector<std::string> stop_;
  std::string text_;  // everything not yet taken
  bool stopped_ = false;
};

// Length of the longest prefix of `text` that does not end inside a UTF-8 character.
size_t utf8_complete_prefix(std::string_view text);

// True when `text` is well-formed UTF-8 (no overlongs, surrogates or values above U+10FFFF).
bool is_valid_utf8(std::string_view text);

}  // namespace tandem::engine
