// A statistical tagger for the name-like PII types (person, organisation, location, address) in
// English text: one BIO tag per token (O, B-person, I-person, ... I-address), scored by a linear
// model over sparse features and decoded with Viterbi over the tag transitions. The model is an
// averaged structured perceptron (Collins 2002) trained in C++ on labelled texts.
//
//   auto tagger = privacy::TokenTagger::load(path, gazetteer);      // Result<TokenTagger>
//   if (!tagger) return tagger.error();
//   std::vector<privacy::Entity> spans = tagger->tag(text, rules.detect(text));
//
//   auto trained = privacy::TokenTagger::train(dev.texts, hints, gazetteer, {.epochs = 10});
//   if (auto st = trained.save("data/pii/pii-tagger.bin"); !st) return st;
//
// Features of a token: its folded word, shape ("Xxxx", "dd"), prefixes and suffixes, the words
// and shapes at -2..+2, gazetteer kinds of the word and of the multi-word gazetteer phrases it is
// in, capitalisation at a sentence start, line breaks, digit counts, and the span the rule
// detector (NameDetector) reports over it: the tagger learns when to trust the rules. Features
// are 64-bit hashes, so the file holds no word list. Han characters are always O: Chinese stays
// with the rules.
//
// The file (save/load): a text header "tandem-pii-tagger 1", the feature count, the weight
// scale and the SHA-256 of the payload; then the payload, little-endian: the transition weights
// and, per feature, its hash, a mask of the tags with a weight, and those weights as int16.
// A wrong header, a truncated payload or a checksum mismatch is kDataLoss naming the file.
// Thread-safety: immutable after construction; tag() may run on any number of threads at once.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "privacy/pii.h"
#include "privacy/word_tokens.h"

namespace tandem::privacy {

class Gazetteer;
struct LabelledText;

struct TaggerTrainingOptions {
  int epochs = 10;
  uint64_t seed = 1;  // the order of the texts, reshuffled every epoch
};

class TokenTagger {
 public:
  static constexpr int kTagCount = 9;  // O, then B and I for person, organization, location, address

  // kNotFound when the file is missing; kDataLoss when it is not a tagger file, is truncated or
  // fails its checksum.
  static Result<TokenTagger> load(const std::string& path, std::shared_ptr<const Gazetteer> gazetteer);
  static Result<TokenTagger> parse(std::string_view bytes, std::shared_ptr<const Gazetteer> gazetteer);

  // `hints(text)` is what the rule detector finds in a text, read as features; labels of other
  // types than the four above are taken as O.
  using Hints = std::function<std::vector<Entity>(std::string_view)>;
  static TokenTagger train(const std::vector<LabelledText>& texts, const Hints& hints,
                           std::shared_ptr<const Gazetteer> gazetteer, const TaggerTrainingOptions& options = {});

  std::string serialize() const;
  Status save(const std::string& path) const;

  // kPerson, kOrganization, kLocation and kAddress spans of `utf8`, sorted and non-overlapping.
  // `hints`: the rule detector's spans of the same text (sorted, non-overlapping).
  std::vector<Entity> tag(std::string_view utf8, const std::vector<Entity>& hints) const;
  // The same over `words` = tokenize_words(utf8), when the rules already split the text; tokens
  // that overlap a span of `outside` (what another detector took, a URL; sorted by begin and
  // non-overlapping) are tagged O.
  std::vector<Entity> tag(std::string_view utf8, std::vector<WordToken> words, const std::vector<Entity>& hints,
                          const std::vector<Entity>& outside = {}) const;

  size_t feature_count() const { return index_.size(); }

 private:
  using Weights = std::array<float, kTagCount>;
  explicit TokenTagger(std::shared_ptr<const Gazetteer> gazetteer) : gazetteer_(std::move(gazetteer)) {}

  // Feature hash -> row of weights_, open addressing with linear probing: with a node-based map,
  // its cache misses were a fifth of a whole scan.
  class FeatureIndex {
   public:
    static constexpr uint32_t kMissing = UINT32_MAX;
    uint32_t find(uint64_t feature) const;
    // The row `feature` already has, or `row` after adding it.
    uint32_t insert(uint64_t feature, uint32_t row);
    size_t size() const { return size_; }
    std::vector<std::pair<uint64_t, uint32_t>> entries() const;

   private:
    size_t slot(uint64_t feature) const;
    void grow();
    std::vector<uint64_t> keys_;
    std::vector<uint32_t> rows_;  // kMissing: an empty slot
    size_t size_ = 0;
  };

  std::shared_ptr<const Gazetteer> gazetteer_;
  FeatureIndex index_;
  std::vector<Weights> weights_;
  // transitions_[from][to]; from == kTagCount is the start of the text.
  std::array<Weights, kTagCount + 1> transitions_{};

  friend class TaggerTrainer;
};

}  // namespace tandem::privacy
