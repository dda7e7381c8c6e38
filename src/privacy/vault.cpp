#include "privacy/vault.h"

#include <algorithm>

namespace tandem::privacy {
namespace {

bool is_placeholder_char(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}
bool is_word_char(char c) {
  return is_placeholder_char(c) || (c >= 'a' && c <= 'z');
}

// The vault's key for a value: ASCII-lower-cased with runs of whitespace as one space, so "Alice
// Smith" and "alice  smith" are one person.
std::string normalized(EntityType type, std::string_view value) {
  std::string key(entity_type_name(type));
  key += ':';
  bool space = false;
  for (char c : value) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      space = true;
      continue;
    }
    if (space && key.back() != ':') key += ' ';
    space = false;
    key += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  return key;
}

std::string upper(std::string_view name) {
  std::string out(name);
  for (char& c : out) c = (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
  return out;
}

// The end of a placeholder-shaped token (`[A-Z][A-Z0-9_]*_[0-9]+`) starting at `begin`, or npos.
size_t placeholder_end(std::string_view text, size_t begin) {
  if (begin >= text.size() || text[begin] < 'A' || text[begin] > 'Z') return std::string_view::npos;
  if (begin > 0 && is_word_char(text[begin - 1])) return std::string_view::npos;
  size_t end = begin;
  while (end < text.size() && is_placeholder_char(text[end])) ++end;
  if (end < text.size() && is_word_char(text[end])) return std::string_view::npos;
  size_t digits = end;
  while (digits > begin && text[digits - 1] >= '0' && text[digits - 1] <= '9') --digits;
  if (digits == end || digits == begin || text[digits - 1] != '_') return std::string_view::npos;
  return end;
}

bool is_open(char c) {
  return c == '<' || c == '[';
}
char closing(char open) {
  return open == '<' ? '>' : ']';
}

}  // namespace

std::string Vault::pseudonymize(std::string_view text, const std::vector<Entity>& entities) {
  std::string out;
  out.reserve(text.size());
  size_t at = 0;
  for (const Entity& entity : entities) {
    if (entity.begin < at || entity.end > text.size() || entity.begin >= entity.end) continue;
    out.append(text.substr(at, entity.begin - at));
    const std::string_view value = text.substr(entity.begin, entity.end - entity.begin);
    auto [it, inserted] = placeholders_.try_emplace(normalized(entity.type, value));
    if (inserted) {
      const int number = ++counts_[static_cast<size_t>(entity.type)];
      const std::string prefix = upper(entity_type_name(entity.type)) + "_";
      it->second = prefix + std::to_string(number + skipped_[static_cast<size_t>(entity.type)]);
      while (reserved_.contains(it->second)) {
        it->second = prefix + std::to_string(number + ++skipped_[static_cast<size_t>(entity.type)]);
      }
      values_.emplace(it->second, std::string(value));
      longest_placeholder_ = std::max(longest_placeholder_, it->second.size() + 2);
    }
    out += '<';
    out += it->second;
    out += '>';
    at = entity.end;
  }
  out.append(text.substr(at));
  return out;
}

void Vault::reserve_placeholders_in(std::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    const size_t end = placeholder_end(text, i);
    if (end == std::string_view::npos) continue;
    reserved_.emplace(text.substr(i, end - i));
    i = end;
  }
}

std::string Vault::replace_known(std::string_view text) const {
  if (values_.empty()) return std::string(text);
  std::vector<std::pair<std::string_view, std::string_view>> known;  // value, placeholder
  known.reserve(values_.size());
  for (const auto& [placeholder, value] : values_) known.emplace_back(value, placeholder);
  // The longest first, so that "John Smith" is one placeholder and not "John <PERSON_1>".
  std::sort(known.begin(), known.end(), [](const auto& a, const auto& b) {
    return a.first.size() != b.first.size() ? a.first.size() > b.first.size() : a.first < b.first;
  });
  auto is_alnum = [](char c) { return is_word_char(c) && c != '_'; };
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == '<') {  // a placeholder already in place stays whole
      const size_t end = placeholder_end(text, i + 1);
      if (end != std::string_view::npos && end < text.size() && text[end] == '>') {
        out.append(text.substr(i, end + 1 - i));
        i = end + 1;
        continue;
      }
    }
    const auto match = std::find_if(known.begin(), known.end(), [&](const auto& entry) {
      const std::string_view value = entry.first;
      if (value.empty() || text.compare(i, value.size(), value) != 0) return false;
      const size_t end = i + value.size();
      const bool starts_word = !is_alnum(value.front()) || i == 0 || !is_alnum(text[i - 1]);
      const bool ends_word = !is_alnum(value.back()) || end == text.size() || !is_alnum(text[end]);
      return starts_word && ends_word;
    });
    if (match == known.end()) {
      out += text[i++];
      continue;
    }
    out += '<';
    out += match->second;
    out += '>';
    i += match->first.size();
  }
  return out;
}

std::string Vault::restore(std::string_view text) const {
  if (values_.empty()) return std::string(text);
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const bool bracketed = is_open(text[i]);
    const size_t begin = bracketed ? i + 1 : i;
    const size_t end = placeholder_end(text, begin);
    if (end != std::string_view::npos) {
      auto found = values_.find(std::string(text.substr(begin, end - begin)));
      if (found != values_.end()) {
        const bool closed = bracketed && end < text.size() && text[end] == closing(text[i]);
        if (bracketed && !closed) out += text[i];  // a lone bracket is the model's own text
        out += found->second;
        i = closed ? end + 1 : end;
        continue;
      }
    }
    out += text[i++];
  }
  return out;
}

std::string StreamRestorer::push(std::string_view delta) {
  pending_.append(delta);
  std::string ready;
  if (follows_word_) {
    // The rest of a word already emitted: no placeholder starts inside a word.
    size_t n = 0;
    while (n < pending_.size() && is_word_char(pending_[n])) ++n;
    ready.append(pending_, 0, n);
    pending_.erase(0, n);
    if (pending_.empty()) return ready;
    follows_word_ = false;
  }
  // Hold the trailing word, which could still grow into a placeholder (or get its closing
  // bracket); a whole word is held so that restore() sees where it starts.
  size_t hold_from = pending_.size();
  while (hold_from > 0 && is_word_char(pending_[hold_from - 1])) --hold_from;
  if (hold_from > 0 && is_open(pending_[hold_from - 1])) --hold_from;
  if (pending_.size() - hold_from > vault_.longest_placeholder() + 1) {
    hold_from = pending_.size();  // too long to be a placeholder
    follows_word_ = is_word_char(pending_.back());
  }
  ready += vault_.restore(std::string_view(pending_).substr(0, hold_from));
  pending_.erase(0, hold_from);
  return ready;
}

std::string StreamRestorer::finish() {
  std::string rest = vault_.restore(pending_);
  pending_.clear();
  return rest;
}

}  // namespace tandem::privacy
