// Person names, organisations, places and street addresses in English and Chinese text, found
// without a model: gazetteers built from Faker's word lists (scripts/build_gazetteer.py) plus
// context rules (titles such as "Mr." or 先生, "my name is", company suffixes such as "Ltd." or
// 有限公司, house numbers before a street, 路/街 + 号).
//
//   auto gazetteer = privacy::Gazetteer::load(models_dir + "/pii-gazetteer.tsv");
//   if (!gazetteer) return gazetteer.error();
//   privacy::NameDetector names(std::make_shared<const privacy::Gazetteer>(std::move(*gazetteer)));
//   names.detect("Dear Mr. Zhang, 请联系北京市朝阳区建国路88号的王小明先生");
//   // person "Zhang", address "北京市朝阳区建国路88号", person "王小明"
//
// Heuristics trade precision for recall: a capitalised word that is also a first name ("Grant")
// is reported when nothing says otherwise, but common English words, months and weekdays alone
// are not. Entities are byte offsets into the UTF-8 text, sorted and non-overlapping.
// Thread-safety: Gazetteer and NameDetector are immutable after construction; detect() may run
// on any number of threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "privacy/pii.h"
#include "privacy/word_tokens.h"

namespace tandem::privacy {

// What a gazetteer word or phrase is; one phrase may be several things ("Jordan").
enum GazetteerKind : uint32_t {
  kFirstName = 1u << 0,
  kLastName = 1u << 1,
  kCountry = 1u << 2,
  kState = 1u << 3,
  kCity = 1u << 4,
  kStateAbbreviation = 1u << 5,  // "CA", "NSW": only trusted inside an address
  kStreetSuffix = 1u << 6,       // "Street", "Road", "Allee"
  kStreetPrefix = 1u << 7,       // "Rua", "Via", "Calle"
  kCompanySuffix = 1u << 8,      // "Ltd", "GmbH", "and Sons"
  kPersonTitle = 1u << 9,        // "Mr.", "Dr", "Frau"
  kZhSurname = 1u << 10,
  kZhGivenName = 1u << 11,
  kZhPlace = 1u << 12,     // province, city or country in Chinese
  kZhDistrict = 1u << 13,  // a district: a place only with 区 or 县 after it
  kZhCompanySuffix = 1u << 14,
  kPhraseStart = 1u << 31,  // the first words of a longer phrase: keep reading
};

class Gazetteer {
 public:
  // Reads `kind<TAB>value` lines ('#' starts a comment). Unknown kinds are skipped, so a newer
  // gazetteer still loads; a file without any known entry is kDataLoss.
  static Result<Gazetteer> load(const std::string& tsv_path);
  // The same from memory, for tests and embedded lists.
  static Result<Gazetteer> parse(std::string_view tsv);

  // The kinds of a word or space-separated phrase, matched case-insensitively; 0 when unknown.
  uint32_t lookup(std::string_view phrase) const;
  // lookup() for a key already folded with fold_key().
  uint32_t lookup_folded(const std::string& key) const;
  // The longest phrase in words, so callers know how far to look ahead.
  int max_phrase_words() const { return max_phrase_words_; }
  size_t size() const { return kinds_.size(); }

  // Case folding used for keys: full Unicode case folding, NFC assumed.
  static void fold_key(std::string_view text, std::string& out);

 private:
  std::unordered_map<std::string, uint32_t> kinds_;
  int max_phrase_words_ = 1;
};

class NameDetector {
 public:
  explicit NameDetector(std::shared_ptr<const Gazetteer> gazetteer);

  // kPerson, kOrganization, kLocation and kAddress spans of `utf8`, sorted by begin and
  // non-overlapping. Invalid UTF-8 bytes are treated as separators.
  std::vector<Entity> detect(std::string_view utf8) const;
  // The same over words(utf8), which the statistical tagger reads too: one tokenization for both.
  std::vector<Entity> detect(std::string_view utf8, const std::vector<WordToken>& words) const;
  std::vector<WordToken> words(std::string_view utf8) const;

 private:
  std::shared_ptr<const Gazetteer> gazetteer_;
};

}  // namespace tandem::privacy
