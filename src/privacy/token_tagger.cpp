#include "privacy/token_tagger.h"

#include <unicode/uchar.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <limits>
#include <numeric>
#include <random>
#include <sstream>

#include "core/file_io.h"
#include "core/sha256.h"
#include "privacy/name_detector.h"
#include "privacy/pii_eval.h"
#include "privacy/word_tokens.h"

namespace tandem::privacy {
namespace {

static_assert(std::endian::native == std::endian::little, "the tagger file is read as little-endian");

constexpr int kTags = TokenTagger::kTagCount;
constexpr int kStart = kTags;  // the row of transitions from the start of a text
constexpr std::array<EntityType, 4> kTaggedTypes{EntityType::kPerson, EntityType::kOrganization, EntityType::kLocation,
                                                 EntityType::kAddress};
constexpr std::string_view kMagic = "tandem-pii-tagger 1";

int tagged_index(EntityType type) {
  for (size_t k = 0; k < kTaggedTypes.size(); ++k)
    if (kTaggedTypes[k] == type) return static_cast<int>(k);
  return -1;
}
int begin_tag(int type_index) {
  return 1 + 2 * type_index;
}
bool is_inside_tag(int tag) {
  return tag > 0 && tag % 2 == 0;
}
int type_of_tag(int tag) {
  return (tag - 1) / 2;
}
// I-X may only follow B-X or I-X.
bool allowed(int from, int to) {
  return !is_inside_tag(to) || (from != kStart && from != 0 && type_of_tag(from) == type_of_tag(to));
}

// ---------------------------------------------------------------------------------------------
// Features: FNV-1a over a template number and its parts

class FeatureHash {
 public:
  explicit FeatureHash(uint8_t feature_template) { add_byte(feature_template); }
  FeatureHash& add(std::string_view part) {
    for (char c : part) add_byte(static_cast<uint8_t>(c));
    add_byte(0x1f);  // a separator, so ("ab", "c") and ("a", "bc") differ
    return *this;
  }
  FeatureHash& add(uint64_t value) {
    for (int i = 0; i < 8; ++i) add_byte(static_cast<uint8_t>(value >> (8 * i)));
    return *this;
  }
  uint64_t value() const { return hash_; }

 private:
  void add_byte(uint8_t b) {
    hash_ ^= b;
    hash_ *= 0x100000001b3ULL;
  }
  uint64_t hash_ = 0xcbf29ce484222325ULL;
};

// One feature template per kind of evidence; the numbers are part of the file format.
enum Template : uint8_t {
  kBias,
  kWord,
  kShape,
  kPrefix,
  kSuffix,
  kWordAt,   // with the offset: the word at -2..+2
  kShapeAt,  // with the offset
  kShapeTrigram,
  kGazetteerKind,  // with the offset: each kind bit of the words at -1..+1
  kPhraseKind,     // a kind of a multi-word gazetteer phrase covering the token, B or I
  kHint,           // with the offset: the rule detector's type and B/I at -1..+1
  kHintShape,
  kCapitalisation,  // capitalised, all caps; at a sentence start or not
  kLayout,          // line break before or after, first or last token
  kDigits,          // a number's leading zero, with the word before it
  kKindCapitalised,
  kWordShape,    // word -1 and the shape of word 0
  kLeftWindow,   // any of the words at -5..-3
  kNearbyShape,  // the shapes at -2..-1 and at +1..+2, without their exact place
};

// "Xx" for "Maria", "d" for "07", "X'Xx" for "O'Brien": upper, lower, digit, the character itself
// for ASCII punctuation ('o' for any other), repeats collapsed, at most 6 characters. Numbers get
// their length appended by the caller ("d2").
std::string shape_of(std::string_view text) {
  std::string shape;
  for (size_t i = 0; i < text.size() && shape.size() < 6;) {
    size_t next;
    const int32_t c = decode_at(text, i, &next);
    i = next;
    char s = 'o';
    if (c >= 0 && u_isupper(c)) {
      s = 'X';
    } else if (c >= 0 && u_islower(c)) {
      s = 'x';
    } else if (c >= 0 && u_isdigit(c)) {
      s = 'd';
    } else if (c > 0 && c < 0x80) {
      s = static_cast<char>(c);
    }
    if (shape.empty() || shape.back() != s) shape.push_back(s);
  }
  return shape;
}

struct TextFeatures {
  std::vector<WordToken> tokens;
  std::vector<std::vector<uint64_t>> features;  // per token; empty for a Chinese one
  std::vector<bool> chinese;                    // Han characters and the tokens glued to them: always O
};

bool sentence_start(const std::vector<WordToken>& tokens, size_t i) {
  if (i == 0 || tokens[i].newline_before) return true;
  const WordToken& p = tokens[i - 1];
  return p.kind == TokenKind::kPunct &&
         std::u32string_view(U".!?:\"(\u3002\uFF01\uFF1F").find(p.punct) != std::u32string_view::npos;
}

// The kinds (B or I) of the longest multi-word gazetteer phrases over each token.
std::vector<std::pair<uint32_t, uint32_t>> phrase_kinds(const std::vector<WordToken>& tokens,
                                                        const Gazetteer& gazetteer) {
  std::vector<std::pair<uint32_t, uint32_t>> kinds(tokens.size(), {0, 0});  // {begins, inside}
  std::string key;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tokens[i].kind != TokenKind::kWord || !(tokens[i].kinds & kPhraseStart)) continue;
    key = tokens[i].key;
    size_t last = i;
    uint32_t found = 0;
    for (size_t j = i + 1; j < tokens.size() && static_cast<int>(j - i) < gazetteer.max_phrase_words(); ++j) {
      if (tokens[j].kind != TokenKind::kWord || tokens[j].newline_before) break;
      key += ' ';
      key += tokens[j].key;
      const uint32_t k = gazetteer.lookup_folded(key);
      if (k & ~kPhraseStart) {
        found = k & ~kPhraseStart;
        last = j;
      }
      if (!(k & kPhraseStart)) break;
    }
    if (last == i) continue;
    kinds[i].first |= found;
    for (size_t j = i + 1; j <= last; ++j) kinds[j].second |= found;
  }
  return kinds;
}

// The rule detector's tag per token: 0, or B/I of its type as in the tag numbering.
std::vector<int> hint_tags(const std::vector<WordToken>& tokens, const std::vector<Entity>& hints) {
  std::vector<int> tags(tokens.size(), 0);
  size_t h = 0;
  for (size_t i = 0; i < tokens.size(); ++i) {
    while (h < hints.size() && hints[h].end <= tokens[i].begin) ++h;
    if (h == hints.size() || hints[h].begin >= tokens[i].end) continue;
    const int type = tagged_index(hints[h].type);
    if (type < 0) continue;
    tags[i] = begin_tag(type) + (tokens[i].begin > hints[h].begin ? 1 : 0);
  }
  return tags;
}

std::string_view word_or_class(const WordToken& t, const std::string& shape) {
  // Numbers by their shape and length ("dd"), so a house number is not a word of its own.
  return t.kind == TokenKind::kNumber ? std::string_view(shape) : std::string_view(t.key);
}

TextFeatures extract(std::string_view text, std::vector<WordToken> words, const std::vector<Entity>& hints,
                     const Gazetteer& gazetteer) {
  TextFeatures out;
  out.tokens = std::move(words);
  const auto& tokens = out.tokens;
  const size_t n = tokens.size();
  out.features.resize(n);
  out.chinese.resize(n);
  std::vector<std::string> shapes(n);
  const auto han = [&](size_t i) {
    return tokens[i].kind == TokenKind::kPunct && is_han(static_cast<int32_t>(tokens[i].punct));
  };
  for (size_t i = 0; i < n; ++i) {
    // "建国路88号": digits and punctuation inside Chinese text belong to it.
    out.chinese[i] = han(i) || (i > 0 && !tokens[i].space_before && han(i - 1)) ||
                     (i + 1 < n && !tokens[i + 1].space_before && han(i + 1));
    shapes[i] = shape_of(text.substr(tokens[i].begin, tokens[i].end - tokens[i].begin));
    if (tokens[i].kind == TokenKind::kNumber) shapes[i] += std::to_string(tokens[i].end - tokens[i].begin);
  }
  const auto phrases = phrase_kinds(tokens, gazetteer);
  const auto hinted = hint_tags(tokens, hints);
  static const std::string kOutside = "<none>";
  const auto word_at = [&](ptrdiff_t i) -> std::string_view {
    if (i < 0 || i >= static_cast<ptrdiff_t>(n)) return kOutside;
    return word_or_class(tokens[static_cast<size_t>(i)], shapes[static_cast<size_t>(i)]);
  };
  const auto shape_at = [&](ptrdiff_t i) -> std::string_view {
    return i < 0 || i >= static_cast<ptrdiff_t>(n) ? std::string_view(kOutside) : shapes[static_cast<size_t>(i)];
  };
  const auto kinds_at = [&](ptrdiff_t i) -> uint32_t {
    return i < 0 || i >= static_cast<ptrdiff_t>(n) ? 0 : tokens[static_cast<size_t>(i)].kinds & ~kPhraseStart;
  };
  const auto hint_at = [&](ptrdiff_t i) -> uint64_t {
    return i < 0 || i >= static_cast<ptrdiff_t>(n) ? 0 : static_cast<uint64_t>(hinted[static_cast<size_t>(i)]);
  };
  for (size_t u = 0; u < n; ++u) {
    if (out.chinese[u]) continue;
    const auto i = static_cast<ptrdiff_t>(u);
    const WordToken& t = tokens[u];
    auto& f = out.features[u];
    f.reserve(48);
    const std::string_view word = word_at(i);
    f.push_back(FeatureHash(kBias).value());
    f.push_back(FeatureHash(kWord).add(word).value());
    f.push_back(FeatureHash(kShape).add(shapes[u]).value());
    if (t.kind == TokenKind::kWord) {
      for (size_t len = 2; len <= 4; ++len) {
        if (t.key.size() <= len) break;
        f.push_back(FeatureHash(kPrefix).add(std::string_view(t.key).substr(0, len)).value());
        f.push_back(FeatureHash(kSuffix).add(std::string_view(t.key).substr(t.key.size() - len)).value());
      }
    }
    for (ptrdiff_t d : {-2, -1, 1, 2}) {
      const auto offset = static_cast<uint64_t>(d + 2);
      f.push_back(FeatureHash(kWordAt).add(offset).add(word_at(i + d)).value());
      f.push_back(FeatureHash(kShapeAt).add(offset).add(shape_at(i + d)).value());
    }
    for (ptrdiff_t d : {-2, -1, 1, 2})
      f.push_back(FeatureHash(kNearbyShape).add(uint64_t{d > 0}).add(shape_at(i + d)).value());
    f.push_back(FeatureHash(kWordShape).add(word_at(i - 1)).add(shapes[u]).value());
    for (ptrdiff_t d = 3; d <= 5 && i - d >= 0; ++d) f.push_back(FeatureHash(kLeftWindow).add(word_at(i - d)).value());
    f.push_back(FeatureHash(kShapeTrigram).add(shape_at(i - 1)).add(shapes[u]).add(shape_at(i + 1)).value());
    for (ptrdiff_t d : {-1, 0, 1}) {
      const uint32_t kinds = kinds_at(i + d);
      for (uint32_t bits = kinds; bits != 0; bits &= bits - 1) {
        const auto bit = static_cast<uint64_t>(std::countr_zero(bits));
        f.push_back(FeatureHash(kGazetteerKind).add(static_cast<uint64_t>(d + 1) << 8 | bit).value());
        if (d == 0)
          f.push_back(
              FeatureHash(kKindCapitalised).add(bit << 2 | (t.capitalised ? 1 : 0) | (t.all_caps ? 2 : 0)).value());
      }
    }
    for (int inside = 0; inside < 2; ++inside) {
      const uint32_t kinds = inside ? phrases[u].second : phrases[u].first;
      for (uint32_t bits = kinds; bits != 0; bits &= bits - 1)
        f.push_back(FeatureHash(kPhraseKind).add(static_cast<uint64_t>(std::countr_zero(bits)) << 1 | inside).value());
    }
    for (ptrdiff_t d : {-1, 0, 1})
      f.push_back(FeatureHash(kHint).add(static_cast<uint64_t>(d + 1) << 8 | hint_at(i + d)).value());
    f.push_back(FeatureHash(kHintShape).add(hint_at(i)).add(shapes[u]).value());
    const bool at_start = sentence_start(tokens, u);
    f.push_back(FeatureHash(kCapitalisation)
                    .add(uint64_t{t.capitalised} | uint64_t{t.all_caps} << 1 | uint64_t{at_start} << 2)
                    .value());
    const bool newline_after = u + 1 < n && tokens[u + 1].newline_before;
    f.push_back(FeatureHash(kLayout)
                    .add(uint64_t{t.newline_before} | uint64_t{newline_after} << 1 | uint64_t{u == 0} << 2 |
                         uint64_t{u + 1 == n} << 3)
                    .value());
    if (t.kind == TokenKind::kNumber) {
      const bool leading_zero = text[t.begin] == '0';
      f.push_back(FeatureHash(kDigits).add(uint64_t{leading_zero}).add(word_at(i - 1)).value());
    }
  }
  return out;
}

// The best tag sequence under `emission` (per token, per tag) and `transitions`.
std::vector<int> viterbi(const std::vector<std::array<float, kTags>>& emission, const std::vector<bool>& chinese,
                         const std::array<std::array<float, kTags>, kTags + 1>& transitions) {
  const size_t n = emission.size();
  std::vector<int> tags(n, 0);
  if (n == 0) return tags;
  constexpr float kImpossible = -std::numeric_limits<float>::infinity();
  std::vector<std::array<float, kTags>> best(n);
  std::vector<std::array<uint8_t, kTags>> back(n);
  for (size_t i = 0; i < n; ++i) {
    for (int to = 0; to < kTags; ++to) {
      float top = kImpossible;
      uint8_t from_top = 0;
      if (!(chinese[i] && to != 0)) {
        if (i == 0) {
          if (allowed(kStart, to)) top = transitions[kStart][to];
        } else {
          for (int from = 0; from < kTags; ++from) {
            if (!allowed(from, to) || best[i - 1][from] == kImpossible) continue;
            const float s = best[i - 1][from] + transitions[from][to];
            if (s > top) {
              top = s;
              from_top = static_cast<uint8_t>(from);
            }
          }
        }
      }
      best[i][to] = top == kImpossible ? top : top + emission[i][to];
      back[i][to] = from_top;
    }
  }
  int tag = static_cast<int>(std::max_element(best[n - 1].begin(), best[n - 1].end()) - best[n - 1].begin());
  for (size_t i = n; i-- > 0;) {
    tags[i] = tag;
    tag = back[i][tag];
  }
  return tags;
}

std::vector<int> gold_tags(const std::vector<WordToken>& tokens, const std::vector<Entity>& labels) {
  std::vector<int> tags(tokens.size(), 0);
  for (const Entity& label : labels) {
    const int type = tagged_index(label.type);
    if (type < 0) continue;
    bool first = true;
    for (size_t i = 0; i < tokens.size(); ++i) {
      if (tokens[i].end <= label.begin || tokens[i].begin >= label.end) continue;
      tags[i] = begin_tag(type) + (first ? 0 : 1);
      first = false;
    }
  }
  return tags;
}

std::vector<Entity> spans_of(const std::vector<WordToken>& tokens, const std::vector<int>& tags) {
  std::vector<Entity> spans;
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (tags[i] == 0) continue;
    if (is_inside_tag(tags[i]) && !spans.empty() && spans.back().end == tokens[i - 1].end) {
      spans.back().end = tokens[i].end;
      continue;
    }
    spans.push_back({kTaggedTypes[static_cast<size_t>(type_of_tag(tags[i]))], tokens[i].begin, tokens[i].end, 0.75});
  }
  return spans;
}

template <typename T>
void put(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

template <typename T>
bool take(std::string_view& in, T* value) {
  if (in.size() < sizeof(T)) return false;
  std::memcpy(value, in.data(), sizeof(T));
  in.remove_prefix(sizeof(T));
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Training: the averaged structured perceptron, averages kept lazily (w - u / c, Daumé's trick);
// scoring, which training and tag() share

class TaggerTrainer {
 public:
  explicit TaggerTrainer(TokenTagger& model) : model_(model) {}

  void learn(const TextFeatures& text, const std::vector<int>& gold) {
    ++step_;
    const std::vector<int> predicted = viterbi(emissions(model_, text), text.chinese, model_.transitions_);
    for (size_t i = 0; i < gold.size(); ++i) {
      const int from_gold = i == 0 ? kStart : gold[i - 1];
      const int from_predicted = i == 0 ? kStart : predicted[i - 1];
      if (gold[i] == predicted[i] && from_gold == from_predicted) continue;
      update_transition(from_gold, gold[i], 1);
      update_transition(from_predicted, predicted[i], -1);
      if (gold[i] == predicted[i]) continue;
      for (uint64_t feature : text.features[i]) {
        const uint32_t row = row_of(feature);
        update(row, gold[i], 1);
        update(row, predicted[i], -1);
      }
    }
  }

  // The averaged weights, without the rows whose averaged weights are all (nearly) zero.
  void finish() {
    const auto c = static_cast<float>(step_ + 1);
    TokenTagger::FeatureIndex index;
    std::vector<TokenTagger::Weights> weights;
    for (const auto& [feature, row] : model_.index_.entries()) {
      TokenTagger::Weights averaged{};
      bool kept = false;
      for (int t = 0; t < kTags; ++t) {
        averaged[t] = model_.weights_[row][t] - totals_[row][t] / c;
        if (std::fabs(averaged[t]) >= 1e-3f) kept = true;
      }
      if (!kept) continue;
      index.insert(feature, static_cast<uint32_t>(weights.size()));
      weights.push_back(averaged);
    }
    model_.index_ = std::move(index);
    model_.weights_ = std::move(weights);
    for (int from = 0; from <= kTags; ++from)
      for (int to = 0; to < kTags; ++to) model_.transitions_[from][to] -= transition_totals_[from][to] / c;
  }

  static std::vector<std::array<float, kTags>> emissions(const TokenTagger& model, const TextFeatures& text) {
    std::vector<std::array<float, kTags>> scores(text.features.size());
    for (size_t i = 0; i < text.features.size(); ++i) {
      scores[i].fill(0);
      for (uint64_t feature : text.features[i]) {
        const uint32_t row = model.index_.find(feature);
        if (row == TokenTagger::FeatureIndex::kMissing) continue;
        for (int t = 0; t < kTags; ++t) scores[i][t] += model.weights_[row][t];
      }
    }
    return scores;
  }

 private:
  uint32_t row_of(uint64_t feature) {
    const auto next = static_cast<uint32_t>(model_.weights_.size());
    const uint32_t row = model_.index_.insert(feature, next);
    if (row == next) {
      model_.weights_.push_back({});
      totals_.push_back({});
    }
    return row;
  }
  void update(uint32_t row, int tag, float delta) {
    model_.weights_[row][tag] += delta;
    totals_[row][tag] += static_cast<float>(step_) * delta;
  }
  void update_transition(int from, int to, float delta) {
    model_.transitions_[from][to] += delta;
    transition_totals_[from][to] += static_cast<float>(step_) * delta;
  }

  TokenTagger& model_;
  std::vector<TokenTagger::Weights> totals_;
  std::array<TokenTagger::Weights, kTags + 1> transition_totals_{};
  int64_t step_ = 0;
};

TokenTagger TokenTagger::train(const std::vector<LabelledText>& texts, const Hints& hints,
                               std::shared_ptr<const Gazetteer> gazetteer, const TaggerTrainingOptions& options) {
  TokenTagger model(std::move(gazetteer));
  std::vector<TextFeatures> features;
  std::vector<std::vector<int>> gold;
  features.reserve(texts.size());
  for (const LabelledText& item : texts) {
    features.push_back(
        extract(item.text, tokenize_words(item.text, *model.gazetteer_), hints(item.text), *model.gazetteer_));
    gold.push_back(gold_tags(features.back().tokens, item.labels));
  }
  TaggerTrainer trainer(model);
  std::vector<size_t> order(texts.size());
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(options.seed);
  for (int epoch = 0; epoch < options.epochs; ++epoch) {
    std::shuffle(order.begin(), order.end(), rng);
    for (size_t k : order) trainer.learn(features[k], gold[k]);
  }
  trainer.finish();
  return model;
}

std::vector<Entity> TokenTagger::tag(std::string_view utf8, const std::vector<Entity>& hints) const {
  return tag(utf8, tokenize_words(utf8, *gazetteer_), hints);
}

std::vector<Entity> TokenTagger::tag(std::string_view utf8, std::vector<WordToken> words,
                                     const std::vector<Entity>& hints, const std::vector<Entity>& outside) const {
  const TextFeatures text = extract(utf8, std::move(words), hints, *gazetteer_);
  std::vector<bool> always_o = text.chinese;
  size_t o = 0;  // both lists are sorted by begin, and `outside` does not overlap itself
  for (size_t i = 0; i < text.tokens.size(); ++i) {
    while (o < outside.size() && outside[o].end <= text.tokens[i].begin) ++o;
    if (o < outside.size() && outside[o].begin < text.tokens[i].end) always_o[i] = true;
  }
  return spans_of(text.tokens, viterbi(TaggerTrainer::emissions(*this, text), always_o, transitions_));
}

// ---------------------------------------------------------------------------------------------
// The feature index

size_t TokenTagger::FeatureIndex::slot(uint64_t feature) const {
  return static_cast<size_t>((feature * 0x9E3779B97F4A7C15ULL) >> 32) & (keys_.size() - 1);
}

uint32_t TokenTagger::FeatureIndex::find(uint64_t feature) const {
  if (keys_.empty()) return kMissing;
  for (size_t s = slot(feature);; s = (s + 1) & (keys_.size() - 1)) {
    if (rows_[s] == kMissing || keys_[s] == feature) return rows_[s];
  }
}

uint32_t TokenTagger::FeatureIndex::insert(uint64_t feature, uint32_t row) {
  if (2 * (size_ + 1) > keys_.size()) grow();  // at most half full
  size_t s = slot(feature);
  while (rows_[s] != kMissing && keys_[s] != feature) s = (s + 1) & (keys_.size() - 1);
  if (rows_[s] != kMissing) return rows_[s];
  keys_[s] = feature;
  rows_[s] = row;
  ++size_;
  return row;
}

void TokenTagger::FeatureIndex::grow() {
  const auto old = entries();
  keys_.assign(std::max<size_t>(1024, 2 * keys_.size()), 0);
  rows_.assign(keys_.size(), kMissing);
  size_ = 0;
  for (const auto& [feature, row] : old) insert(feature, row);
}

std::vector<std::pair<uint64_t, uint32_t>> TokenTagger::FeatureIndex::entries() const {
  std::vector<std::pair<uint64_t, uint32_t>> out;
  out.reserve(size_);
  for (size_t s = 0; s < keys_.size(); ++s)
    if (rows_[s] != kMissing) out.emplace_back(keys_[s], rows_[s]);
  return out;
}

// ---------------------------------------------------------------------------------------------
// The file

std::string TokenTagger::serialize() const {
  float largest = 0;
  for (const Weights& row : weights_)
    for (float w : row) largest = std::max(largest, std::fabs(w));
  const float scale = largest > 0 ? largest / 32767.0f : 1.0f;
  // Sorted by hash, so the same model always makes the same bytes.
  std::vector<std::pair<uint64_t, uint32_t>> rows = index_.entries();
  std::sort(rows.begin(), rows.end());
  std::string payload;
  for (const Weights& from : transitions_)
    for (float w : from) put(payload, w);
  for (const auto& [feature, row] : rows) {
    uint16_t mask = 0;
    std::array<int16_t, kTags> quantized{};
    for (int t = 0; t < kTags; ++t) {
      quantized[t] = static_cast<int16_t>(std::lround(weights_[row][t] / scale));
      if (quantized[t] != 0) mask = static_cast<uint16_t>(mask | (1u << t));
    }
    put(payload, feature);
    put(payload, mask);
    for (int t = 0; t < kTags; ++t)
      if (mask & (1u << t)) put(payload, quantized[t]);
  }
  std::ostringstream header;
  header << kMagic << "\nfeatures " << rows.size() << "\nscale " << std::setprecision(9) << scale << "\nsha256 "
         << sha256_hex(payload) << "\n\n";
  return header.str() + payload;
}

Status TokenTagger::save(const std::string& path) const {
  return replace_file_atomically(path, serialize());
}

Result<TokenTagger> TokenTagger::parse(std::string_view bytes, std::shared_ptr<const Gazetteer> gazetteer) {
  const auto corrupt = [](std::string_view why) {
    return make_error(ErrorCode::kDataLoss, "not a PII tagger file (" + std::string(why) + ")");
  };
  if (!bytes.starts_with(std::string(kMagic) + "\n")) return corrupt("no 'tandem-pii-tagger 1' header");
  const size_t header_end = bytes.find("\n\n");
  if (header_end == std::string_view::npos) return corrupt("header without an end");
  std::istringstream header(std::string(bytes.substr(kMagic.size(), header_end - kMagic.size())));
  std::string name_features, name_scale, name_sha;
  size_t count = 0;
  float scale = 0;
  std::string sha;
  if (!(header >> name_features >> count >> name_scale >> scale >> name_sha >> sha) || name_features != "features" ||
      name_scale != "scale" || name_sha != "sha256" || !(scale > 0) || !std::isfinite(scale))
    return corrupt("malformed header");
  std::string_view payload = bytes.substr(header_end + 2);
  if (sha256_hex(payload) != sha) return corrupt("checksum mismatch: truncated or damaged");
  TokenTagger model(std::move(gazetteer));
  for (Weights& from : model.transitions_)
    for (float& w : from)
      if (!take(payload, &w) || !std::isfinite(w)) return corrupt("truncated or non-finite transitions");
  model.weights_.reserve(std::min(count, payload.size() / (sizeof(uint64_t) + sizeof(uint16_t))));
  for (size_t r = 0; r < count; ++r) {
    uint64_t feature = 0;
    uint16_t mask = 0;
    if (!take(payload, &feature) || !take(payload, &mask)) return corrupt("truncated features");
    Weights row{};
    for (int t = 0; t < kTags; ++t) {
      int16_t q = 0;
      if ((mask & (1u << t)) && !take(payload, &q)) return corrupt("truncated weights");
      row[t] = static_cast<float>(q) * scale;
    }
    if (model.index_.insert(feature, static_cast<uint32_t>(model.weights_.size())) != model.weights_.size())
      return corrupt("a feature listed twice");
    model.weights_.push_back(row);
  }
  if (!payload.empty()) return corrupt("bytes after the last feature");
  return model;
}

Result<TokenTagger> TokenTagger::load(const std::string& path, std::shared_ptr<const Gazetteer> gazetteer) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error(ErrorCode::kNotFound, "cannot open PII tagger " + path);
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) return make_error(ErrorCode::kDataLoss, "cannot read PII tagger " + path);
  auto model = parse(contents.str(), std::move(gazetteer));
  if (!model) return make_error(model.error().code, path + ": " + model.error().message);
  return model;
}

}  // namespace tandem::privacy
