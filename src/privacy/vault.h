// Reversible pseudonymization for one conversation: personal values are replaced by placeholders
// before text leaves the device and put back into the answer, also inside a stream.
//
//   privacy::Vault vault;                               // one per conversation, in memory only
//   std::string sent = vault.pseudonymize(text, entities);  // "Mail <EMAIL_1> about <PERSON_1>"
//   privacy::StreamRestorer restorer(vault);
//   for (auto delta : cloud_stream) emit(restorer.push(delta));  // a placeholder split across
//   emit(restorer.finish());                                     // deltas is held back, then restored
//
// The same value always gets the same placeholder (ASCII case and spacing aside), and placeholders
// are numbered in order of first appearance, so a conversation resent turn by turn (as the
// OpenAI API does) gets the same placeholders in every turn. Models echo placeholders loosely, so
// restore() accepts `<PERSON_1>`, `[PERSON_1]` and a bare `PERSON_1`. The vault is never written to
// disk: it exists only for the request that carries the conversation.
// Thread-safety: a Vault and a StreamRestorer belong to one request; no internal locking.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "privacy/pii.h"

namespace tandem::privacy {

class Vault {
 public:
  // `text` with each entity replaced by its placeholder. Entities must be sorted by begin and
  // must not overlap (as the detectors return them).
  std::string pseudonymize(std::string_view text, const std::vector<Entity>& entities);
  // `text` with every further occurrence of a value the vault already holds replaced too (exact
  // matches, whole words for Latin letters and digits): a detector may find a name once and miss
  // its repetitions, or find it in one turn only, and the stop strings carry no entities at all.
  // Call once pseudonymize() has seen every message.
  std::string replace_known(std::string_view text) const;
  // Takes the placeholder-shaped words already in `text` ("<PERSON_1>" in a user's own template)
  // out of the numbering, so that no value gets one of them and restore() leaves them as written.
  // Call on every message before pseudonymize().
  void reserve_placeholders_in(std::string_view text);
  // `text` with every known placeholder replaced by its original value; unknown ones stay.
  std::string restore(std::string_view text) const;

  size_t size() const { return values_.size(); }
  // How many distinct values of each type were replaced.
  std::array<int, kEntityTypeCount> counts() const { return counts_; }
  // The longest placeholder's length in bytes, brackets included (for stream restoration).
  size_t longest_placeholder() const { return longest_placeholder_; }

 private:
  std::unordered_map<std::string, std::string> placeholders_;  // normalized value -> "PERSON_1"
  std::unordered_map<std::string, std::string> values_;        // "PERSON_1" -> the value as first seen
  std::unordered_set<std::string> reserved_;                   // placeholders the input itself holds
  std::array<int, kEntityTypeCount> counts_{};
  std::array<int, kEntityTypeCount> skipped_{};  // numbers passed over because the input holds them
  size_t longest_placeholder_ = 0;
};

class StreamRestorer {
 public:
  explicit StreamRestorer(const Vault& vault) : vault_(vault) {}
  // The restored text that is safe to emit now; a tail that may be the start of a placeholder is
  // held until the next delta shows what it is.
  std::string push(std::string_view delta);
  // Whatever is still held, restored. Call once at the end of the stream.
  std::string finish();

 private:
  const Vault& vault_;
  std::string pending_;
  bool follows_word_ = false;  // the text emitted so far ends inside a word
};

}  // namespace tandem::privacy
