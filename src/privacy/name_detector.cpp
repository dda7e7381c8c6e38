#include "privacy/name_detector.h"

#include <unicode/uchar.h>
#include <unicode/utf8.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <sstream>
#include <unordered_set>

#include "privacy/word_tokens.h"

namespace tandem::privacy {
namespace {

// ---------------------------------------------------------------------------------------------
// Gazetteer loading

struct KindName {
  std::string_view name;
  uint32_t kind;
};

constexpr std::array<KindName, 18> kKindNames{{
    {"first_name", kFirstName},
    {"last_name", kLastName},
    {"country", kCountry},
    {"state", kState},
    {"city", kCity},
    {"state_abbr", kStateAbbreviation},
    {"street_suffix", kStreetSuffix},
    {"street_prefix", kStreetPrefix},
    {"company_suffix", kCompanySuffix},
    {"person_prefix", kPersonTitle},
    {"zh_surname", kZhSurname},
    {"zh_given_name", kZhGivenName},
    {"zh_province", kZhPlace},
    {"zh_city", kZhPlace},
    {"zh_country", kZhPlace},
    {"zh_district", kZhDistrict},
    {"zh_company_suffix", kZhCompanySuffix},
    {"zh_street", 0},  // street names: the 路/街 rule covers them
}};

uint32_t kind_from_name(std::string_view name) {
  for (const KindName& k : kKindNames)
    if (k.name == name) return k.kind;
  return 0;
}

// Phrases longer than this are dropped: no detector rule looks further ahead.
constexpr int kMaxPhraseWords = 6;

// ---------------------------------------------------------------------------------------------
// Word lists the detector needs beyond the gazetteer

// The words of a space-separated list, as views into it (the list is a constant).
std::unordered_set<std::string_view> word_set(std::string_view list) {
  std::unordered_set<std::string_view> set;
  size_t start = 0;
  while (start < list.size()) {
    size_t end = list.find(' ', start);
    if (end == std::string_view::npos) end = list.size();
    if (end > start) set.insert(list.substr(start, end - start));
    start = end + 1;
  }
  return set;
}

// Words that never belong to a name: function words, pronouns, auxiliaries, greetings. They split
// capitalised runs, so "When Susan" is read as "Susan".
const std::unordered_set<std::string_view>& function_words() {
  static const std::unordered_set<std::string_view> words = [] {
    static constexpr std::string_view kList =
        "a about above after again against all also although am an and another any anyone anything "
        "are as at away be because been before being below between both but by can cannot could "
        "did do does doing done down during each either else even ever every everyone everything "
        "few for from further get gets got had has have having he hello her here hers herself hi "
        "him himself his how however i if in into is it its itself just let like many me might "
        "mine more most much must my myself neither never no none nor not nothing now of off often "
        "oh ok okay on once one only onto or other others our ours ourselves out over own per "
        "perhaps please quite rather same shall she should since so some someone something soon "
        "still such than thank thanks that the their theirs them themselves then there therefore "
        "these they this those though through thus to too toward towards under until up upon us "
        "very via was we were what whatever when whenever where wherever whether which while who "
        "whom whose why will with within without would yes yet you your yours yourself yourselves "
        "hey dear sir madam mr mrs ms miss dr prof i'm i've i'd i'll it's don't can't won't isn't "
        "name named called call address phone email city country state street is zip code "
        "two three four five six seven eight nine ten first second third last next new old "
        "good great best better big small little high low many several another said says say "
        "tell told know knew think thought see saw look looked want wanted need needed make made "
        "go went come came take took give gave find found work worked live lived born move moved "
        "update send sent change changed please kindly hope thanks regards sincerely best "
        "yesterday today tomorrow tonight morning evening night week month year day time "
        "monday tuesday wednesday thursday friday saturday sunday january february march april "
        "may june july august september october november december christmas easter "
        "english american british french german chinese spanish italian dutch european african "
        "asian russian indian japanese korean canadian australian mexican brazilian irish "
        "song songs film movie book album list band music story version record the number "
        "company group bank university college school hospital church club team family "
        "mother father brother sister son daughter wife husband friend boss partner "
        "president king queen prince princess lord lady god royal captain general doctor "
        "north south east west northern southern eastern western central upper lower "
        "account card credit order payment customer service help support information "
        "internet web online website app apt suite unit jr sr md phd ii iii esq date producer";
    return word_set(kList);
  }();
  return words;
}

// Common English words that are also names ("Will", "Mark", "Brown"): part of a name next to
// another name word, never a name alone.
const std::unordered_set<std::string_view>& ambiguous_words() {
  static const std::unordered_set<std::string_view> words = [] {
    static constexpr std::string_view kList =
        "will may mark bill grant rose young brown green white black gray grey long hope joy faith "
        "summer winter spring autumn page bank park love king rich guy art ray chase lane hill wood "
        "price major sterling golden case hunter baker cook miller smith taylor carter walker "
        "bell hall cross field ford gate river rivers moon star sun day days law well wells "
        "little may june april august dawn sunny honey cherry ruby pearl amber crystal jade ivy "
        "lily daisy iris violet hazel olive holly heather angel christian justice liberty "
        "noble earnest frank sharp short strong stone wolf fox bird swan lamb bush reed rush "
        "house home street road way bridge church castle court hope power glass gold silver "
        "can do an le la de van von da di del den ten ter al bin el ma mai ha ho lo so to my "
        "yes no us we he she you me be go i a o u y";
    return word_set(kList);
  }();
  return words;
}

bool one_of(std::string_view key, std::initializer_list<std::string_view> words) {
  return std::find(words.begin(), words.end(), key) != words.end();
}

// Lower-case particles inside names: "Donald van der Voet", "Mansilla de la Sierra".
bool is_name_particle(std::string_view key) {
  return one_of(key, {"van", "der", "den", "de",  "del", "della", "la",  "le",  "von", "zu", "bin", "binti", "al", "el",
                      "da",  "di",  "du",  "dos", "das", "do",    "ten", "ter", "y",   "e",  "af",  "st",    "mac"});
}

// Titles before a name: "Mr. Ford", "Dr Alena Kovač".
bool is_person_title(std::string_view key) {
  return one_of(key, {"mr",   "mrs",   "ms",     "miss",   "mx",  "dr",     "prof",   "professor", "sir",
                      "dame", "madam", "mister", "doctor", "rev", "herr",   "frau",   "monsieur",  "madame",
                      "mme",  "señor", "señora", "sr",     "sra", "signor", "signora"});
}

// Words that make the next capitalised word a place: "from Bahrain", "in Kalatsova".
bool is_place_preposition(std::string_view key) {
  return one_of(
      key, {"in", "from", "at", "near", "to", "into", "visit", "visited", "visiting", "outside", "around", "where"});
}

// Organisation words that end a capitalised run: "Rand Corporation", "Boston Consulting Group".
bool is_organization_word(std::string_view key) {
  return one_of(key, {"corporation",  "corp",         "company",       "co",
                      "incorporated", "inc",          "ltd",           "llc",
                      "plc",          "gmbh",         "group",         "holdings",
                      "bank",         "university",   "institute",     "college",
                      "foundation",   "association",  "partners",      "industries",
                      "technologies", "technology",   "solutions",     "systems",
                      "services",     "consulting",   "agency",        "networks",
                      "labs",         "laboratories", "enterprises",   "ventures",
                      "capital",      "media",        "research",      "ratings",
                      "insurance",    "airlines",     "motors",        "pharmaceuticals",
                      "society",      "council",      "ministry",      "department",
                      "hospital",     "school",       "academy",       "trust",
                      "fund",         "studios",      "entertainment", "communications",
                      "software",     "analytics",    "data",          "international",
                      "limited",      "organization", "organisation",  "committee",
                      "commission",   "federation",   "union",         "church",
                      "club",         "maintenance",  "appraisals",    "economic"});
}

// Organisation words that come first: "Bank of America", "University of Oslo".
bool is_leading_organization_word(std::string_view key) {
  return one_of(key, {"bank", "university", "institute", "college", "museum", "ministry", "department", "school",
                      "academy", "church", "society", "council", "federation", "union"});
}

// Words that start a unit line or an address element: "Apt. 305", "Suite 603", "Box 8380".
bool is_unit_word(std::string_view key) {
  return one_of(key, {"apt", "apartment", "suite", "ste", "unit", "flat", "floor", "fl", "room", "rm", "box", "po",
                      "p.o", "bldg", "building", "no", "nr", "#"});
}

// Endings of one-word street names in the Nordic, Germanic and Baltic languages:
// "Auerstrasse 84", "Vesturgata 66" (but not "Kromwater 38": without a known ending a word and a
// number are too often something else, "Windows 10").
bool has_street_ending(std::string_view key) {
  static constexpr std::array<std::string_view, 34> kEndings{
      "straße", "strasse", "str",  "weg",  "gasse", "allee", "platz", "ring",  "damm", "ufer",   "gata",  "gatan",
      "vägen",  "väg",     "gade", "vej",  "veien", "vegen", "vegur", "braut", "laan", "straat", "plein", "dreef",
      "gracht", "kade",    "tie",  "katu", "kuja",  "tee",   "iela",  "gatve", "utca", "plaats"};
  for (std::string_view ending : kEndings)
    if (key.size() > ending.size() + 2 && key.ends_with(ending)) return true;
  return false;
}

// ---------------------------------------------------------------------------------------------
// The English rules

struct Candidate {
  EntityType type;
  size_t begin;
  size_t end;
  double score;
};

class EnglishScan {
 public:
  EnglishScan(std::string_view text, const std::vector<WordToken>& words, const Gazetteer& gazetteer,
              std::vector<Candidate>& out)
      : text_(text), gazetteer_(gazetteer), tokens_(words), used_(words.size(), false), out_(out) {}

  void run() {
    for (size_t i = 0; i < tokens_.size(); ++i) try_military_address(i);
    for (size_t i = 0; i < tokens_.size(); ++i) try_street_address(i);
    for (size_t i = 0; i < tokens_.size(); ++i) try_organization(i);
    for (size_t i = 0; i < tokens_.size(); ++i) try_company_of_names(i);
    for (size_t i = 0; i < tokens_.size(); ++i) try_names_and_places(i);
  }

 private:
  size_t size() const { return tokens_.size(); }
  const WordToken& at(size_t i) const { return tokens_[i]; }
  bool is_word(size_t i) const { return i < size() && !used_[i] && at(i).kind == TokenKind::kWord; }
  bool is_number(size_t i) const { return i < size() && !used_[i] && at(i).kind == TokenKind::kNumber; }
  bool is_punct(size_t i, char32_t c) const {
    return i < size() && at(i).kind == TokenKind::kPunct && at(i).punct == c;
  }
  bool is_function_word(size_t i) const { return function_words().contains(at(i).key); }
  bool is_ambiguous(size_t i) const { return ambiguous_words().contains(at(i).key); }
  bool name_like(size_t i) const { return is_word(i) && (at(i).capitalised || at(i).all_caps); }
  // A '.' right after token i, as in "Ltd." or "Apt.".
  size_t with_dot(size_t i) const { return is_punct(i + 1, '.') && !at(i + 1).space_before ? i + 1 : i; }
  // The previous word's key, skipping one '.' or ':' ("Mr. Ford", "Name: Allen").
  size_t previous_word(size_t i) const {
    size_t j = i;
    while (j > 0) {
      --j;
      if (at(j).kind == TokenKind::kWord) return j;
      if (at(j).kind == TokenKind::kNumber || !(at(j).punct == '.' || at(j).punct == ':')) return size();
    }
    return size();
  }
  // Sentence start, line start or after a quote or a list marker: capitals say nothing there.
  bool sentence_initial(size_t i) const {
    if (i == 0 || at(i).newline_before) return true;
    const WordToken& p = at(i - 1);
    return p.kind == TokenKind::kPunct && (p.punct == '.' || p.punct == '!' || p.punct == '?' || p.punct == '"' ||
                                           p.punct == '>' || p.punct == ':' || p.punct == '(' || p.punct == 0x201C);
  }
  // Gazetteer kinds of the longest phrase starting at token i, on one line, words joined by
  // single spaces; `*last` is its last token.
  uint32_t longest_phrase(size_t i, size_t* last) const {
    uint32_t found = 0;
    std::string key;
    int words = 0;
    for (size_t j = i;; ++j, ++words) {
      if (j > i) key += ' ';
      key += at(j).key;
      // "People's Republic of China": the tokenizer split the possessive off.
      if (is_punct(j + 1, '\'') && !at(j + 1).space_before && is_word(j + 2) && at(j + 2).key == "s" &&
          !at(j + 2).space_before && (gazetteer_.lookup_folded(key + "'s") & kPhraseStart)) {
        key += "'s";
        j += 2;
      }
      const uint32_t kinds = j == i ? at(j).kinds : gazetteer_.lookup_folded(key);
      if (kinds & ~kPhraseStart) {
        found = kinds;
        *last = j;
      }
      if (!(kinds & kPhraseStart) || !is_word(j + 1) || at(j + 1).newline_before ||
          words + 1 >= gazetteer_.max_phrase_words())
        break;
    }
    return found & ~kPhraseStart;
  }

  void emit(EntityType type, size_t first, size_t last, double score) {
    for (size_t k = first; k <= last; ++k) used_[k] = true;
    out_.push_back({type, at(first).begin, at(last).end, score});
  }

  // "PSC 7004, Box 8380\nAPO AP 11949", "USNV Evseyev\nFPO AE 51332": US military mail.
  void try_military_address(size_t i) {
    if (!is_word(i)) return;
    size_t j;
    if ((at(i).key == "psc" || at(i).key == "unit" || at(i).key == "cmr") && is_number(i + 1)) {
      j = i + 2;
      if (is_punct(j, ',')) ++j;
      if (!(is_word(j) && at(j).key == "box" && is_number(j + 1))) return;
      j += 1;
    } else if (one_of(at(i).key, {"usns", "usnv", "uss", "uscgc"}) && name_like(i + 1)) {
      j = i + 1;
    } else {
      return;
    }
    if (!(is_word(j + 1) && one_of(at(j + 1).key, {"apo", "fpo", "dpo"}) && is_word(j + 2) && is_number(j + 3))) return;
    emit(EntityType::kAddress, i, j + 3, 0.9);
  }

  // "92 Eusebio Dávila 57", "01 4589 40th Street Suite 603 Calgary AB", "19 pierre delannoyplaats
  // 211 apt. 098 erwetegem united states", "Auerstrasse 84".
  void try_street_address(size_t i) {
    if (i < size() && used_[i]) return;
    size_t j = i;
    int leading_numbers = 0;
    while (leading_numbers < 3 && is_number(j) && at(j).end - at(j).begin <= 6 &&
           (leading_numbers == 0 || !at(j).newline_before)) {
      ++leading_numbers;
      ++j;
    }
    const size_t street_first = j;
    bool capitalised = false;
    bool street_word = false;  // a suffix, prefix or a street-name ending
    bool name_word = false;
    size_t street_last = size();
    int words = 0;
    for (; words < 6 && is_word(j) &&
           (j == street_first ? (leading_numbers == 0 || !at(j).newline_before) : !at(j).newline_before);
         ++j, ++words) {
      const WordToken& t = at(j);
      const bool particle = words > 0 && is_name_particle(t.key);
      if (!particle && is_function_word(j) && !(t.kinds & (kStreetSuffix | kStreetPrefix))) break;
      if (t.capitalised || t.all_caps) capitalised = true;
      if (((t.kinds & kStreetSuffix) && words > 0 && t.key.size() >= 2) ||
          ((t.kinds & kStreetPrefix) && words == 0 && t.key.size() >= 3) || has_street_ending(t.key))
        street_word = true;
      if (t.kinds & (kFirstName | kLastName)) name_word = true;
      street_last = j;
      if (words > 0 && (t.kinds & kStreetSuffix) && t.key.size() >= 4 && !is_number(j + 1)) {
        ++j;
        break;  // "Halsey Road": the street ends with its suffix
      }
    }
    if (street_last == size()) return;
    size_t last = with_dot(street_last);
    bool trailing_number = false;
    if (is_number(last + 1) && !at(last + 1).newline_before && at(last + 1).end - at(last + 1).begin <= 5) {
      trailing_number = true;
      last = with_dot(last + 1);
    }
    const bool lowercase_only = !capitalised;
    bool accepted = false;
    if (leading_numbers > 0)
      accepted = street_word || trailing_number || (leading_numbers >= 2 && capitalised);
    else
      accepted = trailing_number && street_word && words == 1;  // "Auerstrasse 84"
    if (lowercase_only && !(street_word || name_word)) accepted = false;
    if (!accepted) return;
    last = extend_address(last);
    emit(EntityType::kAddress, i, last, leading_numbers > 0 ? 0.85 : 0.6);
  }

  // Everything after the street that still belongs to the address: unit, city, state code, ZIP,
  // country, across line breaks; stops at a function word or sentence punctuation.
  size_t extend_address(size_t last) {
    int lines = 0;
    size_t j = last + 1;
    for (int steps = 0; steps < 16 && j < size() && !used_[j]; ++steps) {
      const WordToken& t = at(j);
      if (t.newline_before && ++lines > 4) break;
      if (t.kind == TokenKind::kPunct) {
        if (t.punct == ',' || t.punct == '#') {
          ++j;
          continue;
        }
        break;
      }
      if (t.kind == TokenKind::kNumber) {
        const size_t digits = t.end - t.begin;
        if (digits < 4 || digits > 6) break;
        last = j++;  // a postcode
        continue;
      }
      if (is_unit_word(t.key) || t.key == "nan") {
        size_t k = with_dot(j);
        if (is_punct(k + 1, '#')) ++k;
        if (is_number(k + 1)) {
          last = k + 1;
          j = k + 2;
          continue;
        }
        if (t.key != "nan") break;
        last = j++;
        continue;
      }
      size_t phrase_last = j;
      const uint32_t kinds = longest_phrase(j, &phrase_last);
      const bool place = (kinds & (kCountry | kState | kCity | kStateAbbreviation)) != 0;
      if (is_function_word(j) && !place) break;
      // A lower-case place word counts only on its own line, as in a lower-case letter head.
      if (!(t.capitalised || t.all_caps || place || (t.newline_before && lines > 0))) break;
      last = phrase_last;
      j = phrase_last + 1;
    }
    return last;
  }

  // "Cantrell Ltd.", "Rand Corporation", "Bank of America".
  void try_organization(size_t i) {
    if (!name_like(i)) return;
    const WordToken& t = at(i);
    const bool suffix =
        ((t.kinds & kCompanySuffix) && t.key.size() >= 2 && !is_function_word(i)) || is_organization_word(t.key);
    if (suffix && i > 0) {
      size_t first = i;
      int words = 0;
      bool crossed_and = false;  // a comma joins names only in a list ending in "and"
      for (size_t k = i; k > 0 && words < 6;) {
        size_t p = k - 1;
        if (at(k).newline_before) break;
        if (name_like(p) && !is_function_word(p)) {
          first = p;
          k = p;
          ++words;
          continue;
        }
        // "Jones, Mitchell and Williams Group": joiners inside a name, if a capitalised word precedes.
        const bool joiner = is_punct(p, '&') || (is_punct(p, ',') && crossed_and) ||
                            (is_word(p) && (at(p).key == "and" || at(p).key == "of"));
        if (joiner && p > 0 && name_like(p - 1) && !is_function_word(p - 1) && !at(p).newline_before) {
          if (at(p).key == "and") crossed_and = true;
          k = p;
          continue;
        }
        break;
      }
      if (words > 0 && !(words == 1 && sentence_initial(first) && is_function_word(first))) {
        emit(EntityType::kOrganization, first, with_dot(i), 0.8);
        return;
      }
    }
    if (is_leading_organization_word(t.key) && is_word(i + 1) && at(i + 1).key == "of" && name_like(i + 2) &&
        !is_function_word(i + 2)) {
      size_t last = i + 2;
      while (last + 1 < size() && name_like(last + 1) && !at(last + 1).newline_before && !is_function_word(last + 1))
        ++last;
      emit(EntityType::kOrganization, i, last, 0.75);
    }
  }

  // Faker's company names: "Graham, Ochoa and Vasquez", "Mayo-Walters".
  void try_company_of_names(size_t i) {
    const auto surname = [&](size_t k) {
      return is_word(k) && (at(k).kinds & kLastName) && !is_function_word(k) &&
             at(k).key.find('-') == std::string::npos;
    };
    if (surname(i) && is_punct(i + 1, ',') && surname(i + 2) && is_word(i + 3) && at(i + 3).key == "and" &&
        surname(i + 4) && !(i > 0 && (is_punct(i - 1, ',') || is_punct(i - 1, ':'))) && !is_punct(i + 5, ',') &&
        (at(i).capitalised == at(i + 2).capitalised)) {
      emit(EntityType::kOrganization, i, i + 4, 0.7);
      return;
    }
    if (!name_like(i) || (at(i).kinds & (kFirstName | kLastName))) return;
    const std::string& key = at(i).key;
    const size_t dash = key.find('-');
    if (dash == std::string::npos || key.find('-', dash + 1) != std::string::npos) return;
    const uint32_t left = gazetteer_.lookup_folded(key.substr(0, dash));
    const uint32_t right = gazetteer_.lookup_folded(key.substr(dash + 1));
    const size_t before = previous_word(i);
    const bool after_first_name =
        before < size() && name_like(before) && (at(before).kinds & kFirstName) && !at(i).newline_before;
    if ((left & kLastName) && (right & kLastName) && !after_first_name && !((left | right) & (kCity | kCountry)))
      emit(EntityType::kOrganization, i, i, 0.6);
  }

  bool place_context(size_t i) const {
    const size_t p = previous_word(i);
    if (p >= size() || at(i).newline_before) return false;
    if (is_place_preposition(at(p).key)) return true;
    // "the city of Kiel", "Where: SAINT-PRIEST"
    return at(p).key == "of" && p > 0 && is_word(p - 1) && one_of(at(p - 1).key, {"city", "town", "village"});
  }

  bool name_context(size_t i) const {
    const size_t p = previous_word(i);
    if (p >= size()) return false;
    const std::string& k = at(p).key;
    if (is_person_title(k) || one_of(k, {"named", "called", "dear", "name", "i'm", "mister"})) return true;
    if (k == "is" && p >= 2 && at(p - 1).key == "name") return true;  // "my name is"
    if (k == "am" && p >= 1 && at(p - 1).key == "i") return true;
    if ((k == "him" || k == "her") && p >= 1 && one_of(at(p - 1).key, {"named", "called"})) return true;
    return false;
  }

  // Capitalised runs: names, places, or nothing.
  void try_names_and_places(size_t i) {
    if (!is_word(i)) return;
    const bool context_name = name_context(i);
    // Lower-case text: only gazetteer names after "named"/"called" and places after "from"/"in".
    if (!(at(i).capitalised || at(i).all_caps)) {
      size_t last = i;
      const uint32_t kinds = longest_phrase(i, &last);
      const bool first_name = (at(i).kinds & kFirstName) && !is_function_word(i) && !is_ambiguous(i);
      // "roberto yamamura", "dr. christopher lundgren"
      if (first_name && at(i).key.size() >= 3 && is_word(i + 1) && !at(i + 1).newline_before &&
          (at(i + 1).kinds & kLastName) && !is_function_word(i + 1) && !is_ambiguous(i + 1) &&
          !(at(i + 1).kinds & (kCountry | kState))) {
        emit(EntityType::kPerson, i, i + 1, 0.55);
      } else if (context_name && first_name) {
        emit(EntityType::kPerson, i, i, 0.6);
      } else if ((kinds & (kCountry | kState)) && at(i).key.size() >= 4 && !is_function_word(i) && !is_ambiguous(i) &&
                 !(kinds & (kFirstName | kLastName) && last == i)) {
        emit(EntityType::kLocation, i, last, 0.6);
      } else if ((kinds & kCity) && place_context(i) && at(i).key.size() >= 4 && !is_function_word(i) &&
                 !is_ambiguous(i)) {
        emit(EntityType::kLocation, i, last, 0.5);
      }
      return;
    }
    // The run: capitalised words on one line, with particles between them.
    size_t last = i;
    while (true) {
      size_t k = last + 1;
      while (is_word(k) && !at(k).capitalised && is_name_particle(at(k).key) && !at(k).newline_before) ++k;
      if (k < size() && name_like(k) && !at(k).newline_before && !is_function_word(k) && !used_[k]) {
        last = k;
        continue;
      }
      break;
    }
    // Function words never belong to a name: the run starts after the last one.
    size_t first = i;
    for (size_t k = i; k <= last; ++k)
      if (is_function_word(k)) first = k + 1;
    if (first > last) return;
    if (first != i) {
      for (size_t k = i; k < first; ++k) used_[k] = true;  // "When": handled, nothing found
      try_names_and_places(first);
      return;
    }
    classify_run(first, last, context_name);
  }

  void classify_run(size_t first, size_t last, bool context_name) {
    // A known place phrase covering the run's start: "Saint Vincent and the Grenadines".
    size_t place_last = first;
    const uint32_t phrase = longest_phrase(first, &place_last);
    const bool in_place_context = place_context(first);
    int first_names = 0;
    int last_names = 0;
    int unambiguous = 0;
    for (size_t k = first; k <= last; ++k) {
      if (!at(k).capitalised && !at(k).all_caps) continue;  // particles
      const uint32_t kinds = at(k).kinds;
      if (kinds & kFirstName) ++first_names;
      if (kinds & kLastName) ++last_names;
      if ((kinds & (kFirstName | kLastName)) && !is_ambiguous(k) && at(k).key.size() >= 2) ++unambiguous;
    }
    const size_t words = last - first + 1;
    const bool country_or_state = (phrase & (kCountry | kState)) && !(phrase & kFirstName && place_last == first);
    if (country_or_state && (place_last == last || !(first_names + last_names > 1))) {
      emit(EntityType::kLocation, first, place_last, 0.8);
      return;
    }
    if (context_name && !in_place_context) {
      emit(EntityType::kPerson, first, last, 0.85);
      return;
    }
    if (in_place_context && (phrase & kCity) && !(words > 1 && place_last < last && unambiguous > 1)) {
      emit(EntityType::kLocation, first, place_last, 0.7);
      return;
    }
    const bool all_caps = at(first).all_caps;
    if (unambiguous > 0 && !(all_caps && words == 1 && !(at(first).kinds & kFirstName))) {
      // One ambiguous word ("Grant") needs no help when it is a first name in a longer run.
      emit(EntityType::kPerson, first, last, words > 1 ? 0.8 : 0.6);
      return;
    }
    if (words > 1 && first_names + last_names >= 2) {
      emit(EntityType::kPerson, first, last, 0.6);  // "Rose Young"
      return;
    }
    if (phrase & kCity && place_last == last && !is_ambiguous(first) && !sentence_initial(first)) {
      emit(EntityType::kLocation, first, place_last, 0.5);
      return;
    }
    if (in_place_context && !is_ambiguous(first)) {
      emit(EntityType::kLocation, first, last, 0.45);  // "grew up in Kalatsova"
      return;
    }
    for (size_t k = first; k <= last; ++k) used_[k] = true;
  }

  std::string_view text_;
  const Gazetteer& gazetteer_;
  const std::vector<WordToken>& tokens_;
  std::vector<bool> used_;  // the rules' own mark of what is already part of an entity
  std::vector<Candidate>& out_;
};

// ---------------------------------------------------------------------------------------------
// The Chinese rules, on code points

struct CodePoints {
  std::vector<UChar32> cp;
  std::vector<size_t> offset;  // byte offset of cp[i]; offset[cp.size()] == text size
};

CodePoints decode(std::string_view text) {
  CodePoints out;
  out.cp.reserve(text.size());
  out.offset.reserve(text.size() + 1);
  for (size_t i = 0; i < text.size();) {
    size_t next;
    out.offset.push_back(i);
    out.cp.push_back(decode_at(text, i, &next));
    i = next;
  }
  out.offset.push_back(text.size());
  return out;
}

// Characters that end a Chinese name, organisation or address when reading backwards or forwards:
// function words, pronouns, verbs of place ("我在腾讯科技有限公司工作").
bool is_zh_boundary(UChar32 c) {
  static constexpr std::u32string_view kBoundary =
      U"的了在于是和与及或到从给为我你他她它们这那请向被把对将家个该本此各每去来住位说叫"
      U"电手和由往至经以让使将就也都还又很更最已会要想能可";
  return kBoundary.find(static_cast<char32_t>(c)) != std::u32string_view::npos;
}

bool is_zh_digit(UChar32 c) {
  return (c >= '0' && c <= '9') || (c >= 0xFF10 && c <= 0xFF19) ||
         std::u32string_view(U"零一二三四五六七八九十百").find(static_cast<char32_t>(c)) != std::u32string_view::npos;
}

class ChineseScan {
 public:
  ChineseScan(std::string_view text, const Gazetteer& gazetteer, std::vector<Candidate>& out)
      : gazetteer_(gazetteer),
        cps_(decode(text)),
        used_(cps_.cp.size(), false),
        person_(cps_.cp.size(), false),
        out_(out) {}

  void run() {
    if (std::none_of(cps_.cp.begin(), cps_.cp.end(), is_han)) return;
    for (size_t i = 0; i < n(); ++i) try_address(i);
    for (size_t i = 0; i < n(); ++i) try_organization(i);
    for (size_t i = 0; i < n(); ++i) try_person(i);
    for (size_t i = 0; i < n();) i = try_listed_people(i);
    for (size_t i = 0; i < n(); ++i) try_place(i);
  }

 private:
  size_t n() const { return cps_.cp.size(); }
  bool free_han(size_t i) const { return i < n() && !used_[i] && is_han(cps_.cp[i]); }
  bool matches(size_t i, std::u32string_view word) const {
    if (i + word.size() > n()) return false;
    for (size_t k = 0; k < word.size(); ++k)
      if (static_cast<char32_t>(cps_.cp[i + k]) != word[k]) return false;
    return true;
  }
  uint32_t lookup(size_t i, size_t len) const {
    if (i + len > n()) return 0;
    std::string key;
    for (size_t k = i; k < i + len; ++k) append_utf8(key, cps_.cp[k]);
    return gazetteer_.lookup_folded(key) & ~kPhraseStart;
  }
  // The start of a name read backwards from `end` (exclusive) over Han characters.
  size_t extend_left(size_t end, size_t max_chars) const {
    size_t first = end;
    while (first > 0 && end - first < max_chars && free_han(first - 1) && !is_zh_boundary(cps_.cp[first - 1])) --first;
    return first;
  }
  void emit(EntityType type, size_t first, size_t end, double score) {
    for (size_t k = first; k < end; ++k) {
      used_[k] = true;
      person_[k] = type == EntityType::kPerson;
    }
    out_.push_back({type, cps_.offset[first], cps_.offset[end], score});
  }

  // "北京市朝阳区建国路88号", "长宁路1018弄3号1202室": a road, then numbered parts.
  void try_address(size_t i) {
    static constexpr std::array<std::u32string_view, 6> kRoads{U"大道", U"胡同", U"路", U"街", U"道", U"巷"};
    static constexpr std::array<std::u32string_view, 9> kParts{U"号楼", U"单元", U"号", U"弄", U"栋",
                                                               U"幢",   U"楼",   U"层", U"室"};
    if (!free_han(i)) return;
    size_t road_end = 0;
    for (std::u32string_view road : kRoads)
      if (matches(i, road)) {
        road_end = i + road.size();
        break;
      }
    if (road_end == 0 || road_end >= n() || !is_zh_digit(cps_.cp[road_end])) return;
    size_t end = road_end;
    bool has_number_part = false;
    while (end < n() && is_zh_digit(cps_.cp[end])) {
      size_t k = end;
      while (k < n() && (is_zh_digit(cps_.cp[k]) || cps_.cp[k] == '-')) ++k;
      size_t part_end = 0;
      for (std::u32string_view part : kParts)
        if (matches(k, part)) {
          part_end = k + part.size();
          break;
        }
      if (part_end == 0) break;
      has_number_part = true;
      end = part_end;
    }
    if (!has_number_part) return;
    size_t first = extend_left(i, 20);
    if (i - first < 1) return;
    // Verbs run into the address ("联系北京市..."): start at its first place name when it has one.
    for (size_t k = first; k + 2 <= i; ++k)
      if (lookup(k, 2) & kZhPlace || lookup(k, 3) & kZhPlace) {
        first = k;
        break;
      }
    emit(EntityType::kAddress, first, end, 0.85);
  }

  // "腾讯科技有限公司", "中国工商银行", "北京大学".
  void try_organization(size_t i) {
    static constexpr std::array<std::u32string_view, 17> kSuffixes{
        U"股份有限公司", U"有限责任公司", U"有限公司", U"集团",   U"银行", U"大学", U"学院", U"医院", U"研究所",
        U"研究院",       U"事务所",       U"基金会",   U"委员会", U"协会", U"中学", U"小学", U"公司"};
    if (!free_han(i)) return;
    for (std::u32string_view suffix : kSuffixes) {
      if (!matches(i, suffix)) continue;
      const size_t first = extend_left(i, 15);
      if (i - first >= 2) emit(EntityType::kOrganization, first, i + suffix.size(), 0.8);
      return;
    }
  }

  bool title_at(size_t i) const {
    static constexpr std::array<std::u32string_view, 14> kTitles{U"先生", U"女士", U"小姐", U"老师", U"经理",
                                                                 U"教授", U"医生", U"同学", U"主任", U"博士",
                                                                 U"总监", U"律师", U"阿姨", U"师傅"};
    return std::any_of(kTitles.begin(), kTitles.end(), [&](std::u32string_view t) { return matches(i, t); });
  }
  bool name_cue_before(size_t i) const {
    static constexpr std::array<std::u32string_view, 16> kCues{
        U"我叫", U"名叫", U"叫做", U"姓名", U"联系人", U"收件人", U"负责人", U"是",
        U"和",   U"给",   U"与",   U"跟",   U"同",     U"问",     U"致",     U"找"};
    size_t p = i;
    while (p > 0 && (cps_.cp[p - 1] == ':' || cps_.cp[p - 1] == 0xFF1A || cps_.cp[p - 1] == ' ')) --p;
    return std::any_of(kCues.begin(), kCues.end(),
                       [&](std::u32string_view c) { return p >= c.size() && matches(p - c.size(), c); });
  }
  bool given_char(size_t i) const { return free_han(i) && !is_zh_boundary(cps_.cp[i]) && !title_at(i); }

  // Surname + one or two characters, with a cue ("我叫", "先生") or a known given name.
  void try_person(size_t i) {
    if (!free_han(i)) return;
    size_t surname = 0;
    if (lookup(i, 2) & kZhSurname)
      surname = 2;
    else if (lookup(i, 1) & kZhSurname)
      surname = 1;
    if (surname == 0) return;
    const size_t g = i + surname;
    const bool cue = name_cue_before(i);
    for (size_t len : {size_t{2}, size_t{1}}) {
      if (!given_char(g) || (len == 2 && !given_char(g + 1))) continue;
      const bool known = (lookup(g, len) & kZhGivenName) != 0;
      const bool title_after = title_at(g + len);
      const bool ends_name =
          g + len >= n() || !is_han(cps_.cp[g + len]) || is_zh_boundary(cps_.cp[g + len]) || title_after;
      if ((known && len == 2) || title_after || (cue && (known || ends_name))) {
        emit(EntityType::kPerson, i, g + len, known ? 0.8 : 0.7);
        return;
      }
    }
  }

  // A surname and one or two given characters in [first, end); characters of a person found
  // already count as free.
  bool name_shaped(size_t first, size_t end) const {
    const auto given = [&](size_t k) {
      return is_han(cps_.cp[k]) && (!used_[k] || person_[k]) && !is_zh_boundary(cps_.cp[k]) && !title_at(k);
    };
    for (size_t surname : {size_t{2}, size_t{1}}) {
      if (end < first + surname + 1 || end > first + surname + 2 || !(lookup(first, surname) & kZhSurname)) continue;
      bool all_given = true;
      for (size_t k = first + surname; k < end; ++k) all_given = all_given && given(k);
      if (all_given) return true;
    }
    return false;
  }
  bool known_given_name(size_t first, size_t end) const {
    for (size_t surname : {size_t{2}, size_t{1}}) {
      if (end > first + surname && (lookup(first, surname) & kZhSurname) &&
          (lookup(first + surname, end - first - surname) & kZhGivenName)) {
        return true;
      }
    }
    return false;
  }
  bool list_separator(size_t i) const {
    return i < n() &&
           std::u32string_view(U"、和及与").find(static_cast<char32_t>(cps_.cp[i])) != std::u32string_view::npos;
  }

  // "张伟、王芳、李娜和刘洋": names listed with 、 (and 和, 及 or 与 before the last). When one of
  // them is a person already (a cue, a title, a known given name), so is every item shaped like a
  // name. The first item may follow other words ("邀请张伟、..."), the last may run on into the
  // sentence ("...和王芳参加"). Returns where to look for the next list.
  size_t try_listed_people(size_t i) {
    if (cps_.cp[i] != 0x3001) return i + 1;  // 、
    struct Item {
      size_t first, end;
    };
    // A title after a name ("张伟先生、") is not part of it.
    const auto without_title = [&](size_t first, size_t end) {
      return end >= first + 4 && title_at(end - 2) ? end - 2 : end;
    };
    std::vector<Item> items;
    size_t run = i;
    while (run > 0 && is_han(cps_.cp[run - 1]) && !list_separator(run - 1)) --run;
    const size_t first_end = without_title(run, i);
    for (size_t first = std::max(run, first_end >= 4 ? first_end - 4 : 0); first + 2 <= first_end && items.empty();
         ++first)
      if (name_shaped(first, first_end)) items.push_back({first, first_end});
    if (items.empty()) return i + 1;
    for (size_t separator = i; list_separator(separator);) {
      size_t end = separator + 1;
      while (end < n() && is_han(cps_.cp[end]) && !list_separator(end)) ++end;
      const size_t name_end = without_title(separator + 1, end);
      if (name_shaped(separator + 1, name_end)) {
        items.push_back({separator + 1, name_end});
        separator = end;
        continue;
      }
      // Only the last name may run on into the sentence.
      const bool last = cps_.cp[separator] != 0x3001 || !list_separator(end);
      const size_t item_end = last ? name_at_start(separator + 1, end) : 0;
      if (item_end != 0) items.push_back({separator + 1, item_end});
      break;
    }
    const bool has_person = std::any_of(items.begin(), items.end(), [&](const Item& item) {
      return person_[item.first] || known_given_name(item.first, item.end);
    });
    if (items.size() >= 2 && has_person) {
      for (const Item& item : items)
        if (!used_[item.first]) emit(EntityType::kPerson, item.first, item.end, 0.7);
    }
    return std::max(i + 1, items.back().end);
  }
  // The end of the name that starts a run of text ("王芳参加了会议"): one that a boundary, a title
  // or a known given name ends, else the shortest; 0 when none is name-shaped.
  size_t name_at_start(size_t first, size_t run_end) const {
    size_t shortest = 0;
    for (size_t end = first + 2; end <= std::min(run_end, first + 4); ++end) {
      if (!name_shaped(first, end)) continue;
      if (end == run_end || is_zh_boundary(cps_.cp[end]) || title_at(end) || known_given_name(first, end)) return end;
      if (shortest == 0) shortest = end;
    }
    return shortest;
  }

  // Provinces, cities and (with 区/县) districts: "广东省", "上海", "浦东新区".
  void try_place(size_t i) {
    if (!free_han(i)) return;
    for (size_t len = 5; len >= 2; --len) {
      const uint32_t kinds = lookup(i, len);
      if (!(kinds & (kZhPlace | kZhDistrict))) continue;
      size_t end = i + len;
      const bool suffix = end < n() && std::u32string_view(U"省市区县").find(static_cast<char32_t>(cps_.cp[end])) !=
                                           std::u32string_view::npos;
      if (suffix) ++end;
      if ((kinds & kZhPlace) || suffix) {
        emit(EntityType::kLocation, i, end, 0.7);
        return;
      }
    }
  }

  const Gazetteer& gazetteer_;
  CodePoints cps_;
  std::vector<bool> used_;
  std::vector<bool> person_;  // the characters of the persons emitted
  std::vector<Candidate>& out_;
};

}  // namespace

// ---------------------------------------------------------------------------------------------

void Gazetteer::fold_key(std::string_view text, std::string& out) {
  out.clear();
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c));
      ++i;
      continue;
    }
    size_t next;
    UChar32 cp = decode_at(text, i, &next);
    if (cp < 0) cp = 0xFFFD;
    append_utf8(out, u_foldCase(cp, U_FOLD_CASE_DEFAULT));
    i = next;
  }
}

Result<Gazetteer> Gazetteer::parse(std::string_view tsv) {
  Gazetteer gazetteer;
  std::string key;
  std::string prefix;
  size_t line_start = 0;
  while (line_start < tsv.size()) {
    size_t line_end = tsv.find('\n', line_start);
    if (line_end == std::string_view::npos) line_end = tsv.size();
    std::string_view line = tsv.substr(line_start, line_end - line_start);
    line_start = line_end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    const size_t tab = line.find('\t');
    if (tab == std::string_view::npos) continue;
    const uint32_t kind = kind_from_name(line.substr(0, tab));
    std::string_view value = line.substr(tab + 1);
    // "Inc." and "Inc" are one entry: the tokenizer reads the dot separately.
    while (!value.empty() && (value.back() == '.' || value.back() == ' ')) value.remove_suffix(1);
    if (kind == 0 || value.empty()) continue;
    fold_key(value, key);
    const int words = static_cast<int>(std::count(key.begin(), key.end(), ' ')) + 1;
    if (words > kMaxPhraseWords) continue;
    gazetteer.kinds_[key] |= kind;
    gazetteer.max_phrase_words_ = std::max(gazetteer.max_phrase_words_, words);
    for (size_t space = key.find(' '); space != std::string::npos; space = key.find(' ', space + 1)) {
      prefix.assign(key, 0, space);
      gazetteer.kinds_[prefix] |= kPhraseStart;
    }
  }
  if (gazetteer.kinds_.empty()) return make_error(ErrorCode::kDataLoss, "gazetteer has no entry of a known kind");
  return gazetteer;
}

Result<Gazetteer> Gazetteer::load(const std::string& tsv_path) {
  std::ifstream in(tsv_path, std::ios::binary);
  if (!in) return make_error(ErrorCode::kNotFound, "cannot open gazetteer " + tsv_path);
  std::ostringstream contents;
  contents << in.rdbuf();
  if (in.bad()) return make_error(ErrorCode::kDataLoss, "cannot read gazetteer " + tsv_path);
  auto gazetteer = parse(contents.str());
  if (!gazetteer) return make_error(gazetteer.error().code, tsv_path + ": " + gazetteer.error().message);
  return gazetteer;
}

uint32_t Gazetteer::lookup_folded(const std::string& key) const {
  const auto it = kinds_.find(key);
  return it == kinds_.end() ? 0 : it->second;
}

uint32_t Gazetteer::lookup(std::string_view phrase) const {
  std::string key;
  fold_key(phrase, key);
  return lookup_folded(key) & ~kPhraseStart;
}

NameDetector::NameDetector(std::shared_ptr<const Gazetteer> gazetteer) : gazetteer_(std::move(gazetteer)) {}

std::vector<WordToken> NameDetector::words(std::string_view utf8) const {
  return tokenize_words(utf8, *gazetteer_);
}

std::vector<Entity> NameDetector::detect(std::string_view utf8) const {
  return detect(utf8, words(utf8));
}

std::vector<Entity> NameDetector::detect(std::string_view utf8, const std::vector<WordToken>& words) const {
  std::vector<Candidate> candidates;
  EnglishScan(utf8, words, *gazetteer_, candidates).run();
  ChineseScan(utf8, *gazetteer_, candidates).run();
  // The two scans read different scripts, but a span may still touch both ("Zhang Wei张"): the
  // earlier and longer wins.
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end > b.end;
  });
  std::vector<Entity> entities;
  for (const Candidate& c : candidates) {
    if (!entities.empty() && c.begin < entities.back().end) continue;
    entities.push_back({c.type, c.begin, c.end, c.score});
  }
  return entities;
}

}  // namespace tandem::privacy
