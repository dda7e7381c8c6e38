#include "privacy/pattern_detector.h"

#include <arpa/inet.h>
#include <re2/re2.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <optional>
#include <string>

#include "privacy/checksums.h"

namespace tandem::privacy {
namespace {

constexpr double kScoreChecksum = 1.0;
constexpr double kScoreFixedFormat = 0.95;
constexpr double kScoreStrongPattern = 0.9;
constexpr double kScorePattern = 0.85;
constexpr double kScoreNumericDate = 0.8;
constexpr double kScoreEntropy = 0.7;
constexpr double kScoreLocalPhone = 0.6;

// ---- character classes and boundaries ----------------------------------------------------------

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_upper(char c) {
  return c >= 'A' && c <= 'Z';
}
bool is_lower(char c) {
  return c >= 'a' && c <= 'z';
}
bool is_ascii_alnum(char c) {
  return is_digit(c) || is_upper(c) || is_lower(c);
}

bool char_is(std::string_view text, size_t i, bool (*predicate)(char)) {
  return i < text.size() && predicate(text[i]);
}

// The span [begin, end) is not glued to an ASCII letter or digit on either side. Anything else,
// including Chinese text, punctuation and the ends of the text, is a boundary.
bool standalone(std::string_view text, size_t begin, size_t end) {
  return !(begin > 0 && is_ascii_alnum(text[begin - 1])) && !char_is(text, end, is_ascii_alnum);
}

// The span is a piece of a longer number: a "." or "-" joins it to a digit on either side, as
// "2.3.4.5" in "1.2.3.4.5" or "123-45-6789" in "123-45-6789-0".
bool continues_number(std::string_view text, size_t begin, size_t end) {
  const auto joiner = [](char c) { return c == '.' || c == '-'; };
  const bool before = begin >= 2 && joiner(text[begin - 1]) && is_digit(text[begin - 2]);
  const bool after = end + 1 < text.size() && joiner(text[end]) && is_digit(text[end + 1]);
  return before || after;
}

bool standalone_number(std::string_view text, size_t begin, size_t end) {
  return standalone(text, begin, end) && !continues_number(text, begin, end);
}

std::string digits_of(std::string_view s) {
  std::string digits;
  for (char c : s) {
    if (is_digit(c)) digits += c;
  }
  return digits;
}

int parse_int(std::string_view digits) {
  int value = 0;
  for (char c : digits) value = value * 10 + (c - '0');
  return value;
}

bool is_leap_year(int year) {
  return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

bool valid_date(int year, int month, int day) {
  static constexpr int kDaysInMonth[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (year < 1900 || year > 2100 || month < 1 || month > 12 || day < 1) return false;
  if (month == 2 && day == 29) return is_leap_year(year);
  return day <= kDaysInMonth[month - 1];
}

std::string_view view(const re2::StringPiece& piece) {
  return {piece.data(), piece.size()};
}

// The English month names, case-insensitive, as capture group 1 of the pattern they go into.
std::string with_month_name(std::string_view before, std::string_view after) {
  constexpr std::string_view kMonthName =
      "(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|"
      "oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)";
  return std::string(before) + std::string(kMonthName) + std::string(after);
}

// ---- the compiled patterns ---------------------------------------------------------------------

// Latin-1 makes every byte one character: the ASCII classes below match exactly the ASCII bytes
// of UTF-8 text, negated classes step over Chinese byte by byte, and invalid UTF-8 is harmless.
RE2::Options pattern_options() {
  RE2::Options options;
  options.set_encoding(RE2::Options::EncodingLatin1);
  options.set_log_errors(false);
  return options;
}

}  // namespace

struct PatternDetector::Patterns {
  const RE2::Options options = pattern_options();
  const RE2 email{R"([A-Za-z0-9_][A-Za-z0-9._%+-]*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,24})",
                  options};
  const RE2 cn_mobile{R"((?:(?:\+|\b00)86[ -]?|\(\+?86\) ?|\b)1[3-9]\d(?:[ -]?\d{4}){2}\b)", options};
  const RE2 north_american_phone{R"((?:\+1[ .-]?)?(?:\([2-9]\d{2}\) ?|\b[2-9]\d{2}[-.])[2-9]\d{2}[-.]\d{4}\b)",
                                 options};
  const RE2 e164_phone{R"(\+[1-9](?:[ .-]?(?:\(\d{1,4}\)|\d))+)", options};
  // National formats of any country ("089 72 63 41", "(69) 948-538", "001-748-088-2851x818"):
  // accepted only with a phone word nearby or an unmistakable shape (validate_local_phone).
  const RE2 local_phone{
      R"((?:\+\d{1,3}[ .-]?|\b00\d{0,2}[ .-]?)?(?:\(\d{1,4}\) ?)?\b\d{2,5}(?:[ .-]\d{2,8}){0,4}(?: ?(?:x|ext\.?) ?\d{1,6})?\b)",
      options};
  const RE2 cn_resident_id{R"(\b[1-8]\d{5} ?\d{8} ?\d{3}[\dXx]\b)", options};
  const RE2 cn_credit_code{R"(\b[0-9A-HJ-NP-RTUWXY]{18}\b)", options};
  const RE2 bank_card{R"(\b(?:\d{13,19}|\d{4,6}(?:[ -]\d{3,6}){1,4})\b)", options};
  const RE2 iban{R"(\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b)", options};
  const RE2 us_ssn{R"(\b(\d{3})-(\d{2})-(\d{4})\b)", options};
  const RE2 ipv4{R"(\b\d{1,3}(?:\.\d{1,3}){3}\b)", options};
  const RE2 ipv6{R"([0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:\.\d{1,3}){0,3})", options};
  const RE2 mac{R"(\b[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}\b|\b[0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){5}\b)", options};
  const RE2 url_credentials{
      R"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s/?#@:"'<>]+:[^\s/?#@"'<>]+@(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._~%-]+)(?::\d{1,5})?)",
      options};
  // One alternative per provider; each group is the random part that must look random.
  const RE2 prefixed_secret{
      R"(\b(?:sk-(?:proj-|ant-|svcacct-)?([A-Za-z0-9_-]{20,})|(?:ghp|gho|ghu|ghs|ghr)_([A-Za-z0-9]{36,})|)"
      R"(github_pat_([A-Za-z0-9_]{22,})|(?:AKIA|ASIA)([0-9A-Z]{16})|xox[baprs]-([A-Za-z0-9-]{10,})|)"
      R"(AIza([0-9A-Za-z_-]{35})|glpat-([0-9A-Za-z_-]{20,})|hf_([A-Za-z0-9]{30,})|)"
      R"((?:sk|rk)_(?:live|test)_([0-9A-Za-z]{16,})|eyJ[A-Za-z0-9_-]{10,}\.(eyJ[A-Za-z0-9_-]{10,})\.[A-Za-z0-9_-]{10,}))",
      options};
  // Without an END line (a truncated paste) the block runs over the "Name: value" header lines,
  // one blank line and the base64 lines after BEGIN; a BEGIN line mentioned in prose has neither.
  const RE2 private_key{
      R"(-----BEGIN[A-Z0-9 ]* PRIVATE KEY(?: BLOCK)?-----(?:(?s:.*?)-----END[A-Z0-9 ]* PRIVATE KEY(?: BLOCK)?-----|)"
      R"((?:\r?\n[A-Za-z-]+: [^\r\n]*)*(?:\r?\n)?(?:\r?\n[A-Za-z0-9+/=]+)+))",
      options};
  const RE2 token{R"([A-Za-z0-9+/_-]{20,}={0,2})", options};
  const RE2 iso_date{R"(\b(\d{4})([-/])(\d{1,2})([-/])(\d{1,2}))", options};
  const RE2 numeric_date{R"(\b(\d{1,2})([-/.])(\d{1,2})([-/.])(\d{4})\b)", options};
  const RE2 month_day_year{with_month_name(R"((?i)\b)", R"(\.?[ \t]+(\d{1,2})(?:st|nd|rd|th)?,?[ \t]+(\d{4})\b)"),
                           options};
  const RE2 day_month_year{
      with_month_name(R"((?i)\b(\d{1,2})(?:st|nd|rd|th)?[ \t]+(?:of[ \t]+)?)", R"(\.?,?[ \t]+(\d{4})\b)"), options};
  const RE2 chinese_date{R"((\d{4}) ?年 ?(\d{1,2}) ?月 ?(\d{1,2}) ?(?:日|号))", options};
  // "10:30", "08:11:32", "14:56:41.5Z", "9:45 pm": a time of day, which a date before it joins.
  const RE2 clock_time{R"((?:[01]?\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d{1,9})?)?(?:Z\b|[ \t]?(?i:[ap]m\b|[ap]\.m\.))?)",
                       options};
  // "password=...", "api_key: ...", "密码：...": the value after a name that says it is a secret.
  // Group 1: a key or token name, whose value must be longer than a password's; group 2 the value.
  const RE2 named_secret{
      R"((?i)(?:\bpass(?:word|wd|phrase|code)|\bpwd|密码|口令|)"
      R"(\b((?:api|access|secret|private|client)[_-]?(?:key|token|secret)|auth[_-]?token|secret|token)))"
      R"([ \t]*(?:[:=]|：|是)[ \t]*["']?([\x21-\x7e]+))",
      options};

  bool all_compiled() const {
    for (const RE2* re : {&email,
                          &cn_mobile,
                          &north_american_phone,
                          &e164_phone,
                          &local_phone,
                          &cn_resident_id,
                          &cn_credit_code,
                          &bank_card,
                          &iban,
                          &us_ssn,
                          &ipv4,
                          &ipv6,
                          &mac,
                          &url_credentials,
                          &prefixed_secret,
                          &private_key,
                          &token,
                          &iso_date,
                          &numeric_date,
                          &month_day_year,
                          &day_month_year,
                          &chinese_date,
                          &clock_time,
                          &named_secret}) {
      if (!re->ok()) return false;
    }
    return true;
  }
};

namespace {

constexpr int kMaxGroups = 12;
using Groups = std::array<re2::StringPiece, kMaxGroups>;

// What a validator says about one regex match: the entity's span (possibly trimmed to fewer
// groups of digits than the regex took) or nothing.
struct Span {
  size_t begin = 0;
  size_t end = 0;
};
using Verdict = std::optional<Span>;

// Where the search goes on after a rejected match: one byte later, so that a shorter valid value
// starting inside it is still found, or after it, for maximal runs whose pieces mean nothing.
enum class OnReject { kRetryInside, kSkipMatch };

// Runs `re` over the whole text and asks `validate` about every leftmost match; accepted spans
// are reported and the search goes on after them.
template <typename Validate>
void scan(const RE2& re, std::string_view text, EntityType type, double score, std::vector<Entity>& out,
          Validate&& validate, OnReject on_reject = OnReject::kRetryInside) {
  const int groups_wanted = std::min(1 + re.NumberOfCapturingGroups(), kMaxGroups);
  Groups groups;
  size_t pos = 0;
  while (pos < text.size() && re.Match(re2::StringPiece(text.data(), text.size()), pos, text.size(), RE2::UNANCHORED,
                                       groups.data(), groups_wanted)) {
    const size_t begin = static_cast<size_t>(groups[0].data() - text.data());
    const size_t end = begin + groups[0].size();
    if (const Verdict span = validate(begin, end, groups); span && span->end > span->begin) {
      out.push_back({type, span->begin, span->end, score});
      pos = std::max(span->end, begin + 1);
    } else {
      pos = on_reject == OnReject::kSkipMatch ? std::max(end, begin + 1) : begin + 1;
    }
  }
}

Verdict accept_if(bool ok, size_t begin, size_t end) {
  return ok ? Verdict(Span{begin, end}) : std::nullopt;
}

// ---- validators ---------------------------------------------------------------------------------

// Ends of the maximal digit runs in [begin, end), in order, with the digit count up to each.
struct DigitGroup {
  size_t end = 0;
  size_t digits_so_far = 0;
};

std::vector<DigitGroup> digit_groups(std::string_view text, size_t begin, size_t end) {
  std::vector<DigitGroup> groups;
  size_t digits = 0;
  for (size_t i = begin; i < end; ++i) {
    if (!is_digit(text[i])) continue;
    ++digits;
    if (i + 1 == end || !is_digit(text[i + 1])) groups.push_back({i + 1, digits});
  }
  return groups;
}

// Issuer prefixes and the lengths their cards have (ISO/IEC 7812 ranges of the big networks), so
// that a Luhn-valid number of another shape (one in ten random numbers) is not taken for a card.
bool plausible_card_issuer(std::string_view digits) {
  const size_t n = digits.size();
  const auto prefix = [&](size_t length) { return std::stoi(std::string(digits.substr(0, length))); };
  switch (digits[0]) {
    case '2':
      return n == 16 && prefix(4) >= 2221 && prefix(4) <= 2720;  // Mastercard
    case '3': {
      const int two = prefix(2);
      if (two == 34 || two == 37) return n == 15;                            // American Express
      if (two == 35) return n >= 16;                                         // JCB
      return (two == 30 || two == 36 || two == 38 || two == 39) && n >= 14;  // Diners Club
    }
    case '4':
      return n == 13 || n == 16 || n == 19;  // Visa
    case '5':
      return (prefix(2) >= 51 && prefix(2) <= 55) ? n == 16 : n >= 12;  // Mastercard, Maestro
    case '6': {
      const int two = prefix(2);
      return (two == 60 || two == 62 || two == 64 || two == 65) && n >= 16;  // Discover, UnionPay
    }
    case '8':
      return digits[1] == '1' && n >= 16;  // UnionPay 81
    default:
      return false;
  }
}

Verdict validate_bank_card(std::string_view text, size_t begin, size_t end) {
  const std::string_view candidate = text.substr(begin, end - begin);
  const bool has_space = candidate.find(' ') != std::string_view::npos;
  const bool has_dash = candidate.find('-') != std::string_view::npos;
  if ((has_space && has_dash) || continues_number(text, begin, end)) return std::nullopt;
  // "4111 1111 1111 1111 2026": the regex took the year as a fifth group; try fewer groups.
  const std::vector<DigitGroup> groups = digit_groups(text, begin, end);
  for (size_t n = groups.size(); n > 0; --n) {
    const size_t digits = groups[n - 1].digits_so_far;
    if (digits < 13) break;
    if (digits > 19) continue;
    const std::string number = digits_of(text.substr(begin, groups[n - 1].end - begin));
    if (cn_resident_id_shaped(number)) continue;
    if (plausible_card_issuer(number) && luhn_valid(number)) return Span{begin, groups[n - 1].end};
  }
  return std::nullopt;
}

Verdict validate_iban(std::string_view text, size_t begin, size_t end) {
  // Printed IBANs end in a short group that the regex may have extended with the next word
  // ("... 7034 EUR"): drop trailing groups until the checksum holds.
  size_t cut = end;
  while (cut > begin) {
    if (iban_valid(text.substr(begin, cut - begin))) return Span{begin, cut};
    const size_t space = text.substr(begin, cut - begin).rfind(' ');
    if (space == std::string_view::npos) break;
    cut = begin + space;
  }
  return std::nullopt;
}

// A word that says a number nearby is a phone number: before it ("Phone:", "call", "电话") or
// after it ("office", "fax").
bool phone_context(std::string_view text, size_t begin, size_t end) {
  static constexpr std::string_view kBefore[] = {"phone", "tel",      "call", "reach", "answering at", "mobile", "cell",
                                                 "fax",   "whatsapp", "sms",  "dial",  "landline",     "office", "电话",
                                                 "手机",  "联系",     "致电", "座机",  "固话"};
  static constexpr std::string_view kAfter[] = {"office", "fax", "mobile", "home", "work", "cell"};
  auto lower = [](std::string_view part) {
    std::string out(part);
    for (char& c : out) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    return out;
  };
  const size_t window_start = begin > 40 ? begin - 40 : 0;
  const std::string before = lower(text.substr(window_start, begin - window_start));
  const std::string after = lower(text.substr(end, 12));
  return std::any_of(std::begin(kBefore), std::end(kBefore),
                     [&](std::string_view w) { return before.find(w) != std::string::npos; }) ||
         std::any_of(std::begin(kAfter), std::end(kAfter),
                     [&](std::string_view w) { return after.find(w) != std::string::npos; });
}

Verdict validate_local_phone(std::string_view text, size_t begin, size_t end) {
  if (!standalone_number(text, begin, end)) return std::nullopt;
  const std::string_view candidate = text.substr(begin, end - begin);
  const size_t extension = candidate.find_first_of("xe");
  const std::string digits = digits_of(candidate.substr(0, extension));
  if (digits.size() < 7 || digits.size() > 15) return std::nullopt;
  // Dates and times are the dates detector's ("1994-06-17 08").
  static const RE2 kLeadingDate{R"(^(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4})\b)"};
  if (RE2::PartialMatch(re2::StringPiece(candidate.data(), candidate.size()), kLeadingDate)) return std::nullopt;
  const size_t separators = static_cast<size_t>(std::count_if(
      candidate.begin(), candidate.end(), [](char c) { return c == ' ' || c == '-' || c == '.' || c == '('; }));
  // A Chinese landline: a trunk 0 and a 2-3 digit area code, a dash, 7-8 digits ("0755-86013388").
  static const RE2 kChineseLandline{R"(0[1-9]\d{1,2}-[2-9]\d{6,7})"};
  const bool unmistakable = extension != std::string_view::npos || candidate[0] == '+' || candidate[0] == '(' ||
                            (digits.size() >= 10 && separators >= 2 && candidate.find(' ') == std::string_view::npos) ||
                            RE2::FullMatch(re2::StringPiece(candidate.data(), candidate.size()), kChineseLandline);
  return accept_if(unmistakable || phone_context(text, begin, end), begin, end);
}

Verdict validate_e164(std::string_view text, size_t begin, size_t end) {
  if (begin > 0 && is_ascii_alnum(text[begin - 1])) return std::nullopt;
  // E.164 allows at most 15 digits; the regex also takes whatever number follows after a space,
  // so keep the longest prefix of whole groups that fits. A trunk "(0)" is not counted.
  size_t digits = 0;
  size_t best_end = 0;
  size_t best_digits = 0;
  for (size_t i = begin + 1; i < end;) {
    size_t group_end = i;
    size_t group_digits = 0;
    if (text[i] == '(') {
      group_end = text.find(')', i) + 1;
      const std::string_view inside = text.substr(i + 1, group_end - i - 2);
      group_digits = inside == "0" ? 0 : inside.size();
    } else if (is_digit(text[i])) {
      while (group_end < end && is_digit(text[group_end])) ++group_end;
      group_digits = group_end - i;
    } else {
      ++i;  // a separator
      continue;
    }
    digits += group_digits;
    if (digits > 15) break;
    best_end = group_end;
    best_digits = digits;
    i = group_end;
  }
  if (best_digits < 8 || char_is(text, best_end, is_ascii_alnum) || continues_number(text, begin, best_end)) {
    return std::nullopt;
  }
  return Span{begin, best_end};
}

Verdict validate_us_ssn(std::string_view text, size_t begin, size_t end, const Groups& g) {
  const int area = parse_int(view(g[1]));
  const int group = parse_int(view(g[2]));
  const int serial = parse_int(view(g[3]));
  const bool issued = area != 0 && area != 666 && area < 900 && group != 0 && serial != 0;
  return accept_if(issued && standalone_number(text, begin, end), begin, end);
}

// "version 1.2.3.4", "build: 10.0.2.15", "版本 2.1.0.3": four dotted numbers named a version just before.
bool after_version_word(std::string_view text, size_t begin) {
  static constexpr std::string_view kWords[] = {"version", "ver",   "ver.",     "v",    "v.",
                                                "release", "build", "firmware", "版本", "版本号"};
  size_t end = begin;
  while (end > 0 && (text[end - 1] == ' ' || text[end - 1] == ':' || text[end - 1] == '=')) --end;
  const size_t start = end > 16 ? end - 16 : 0;
  std::string before(text.substr(start, end - start));
  for (char& c : before) c = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  return std::any_of(std::begin(kWords), std::end(kWords), [&](std::string_view word) {
    if (!std::string_view(before).ends_with(word)) return false;
    const size_t word_start = end - word.size();
    return word_start == 0 || !is_ascii_alnum(text[word_start - 1]);
  });
}

Verdict validate_ipv4(std::string_view text, size_t begin, size_t end) {
  size_t part_begin = begin;
  for (size_t i = begin; i <= end; ++i) {
    if (i < end && text[i] != '.') continue;
    const std::string_view octet = text.substr(part_begin, i - part_begin);
    if ((octet.size() > 1 && octet[0] == '0') || parse_int(octet) > 255) return std::nullopt;
    part_begin = i + 1;
  }
  return accept_if(standalone_number(text, begin, end) && !after_version_word(text, begin), begin, end);
}

Verdict validate_ipv6(std::string_view text, size_t begin, size_t end) {
  // "fe80::1: link-local": a single trailing colon is punctuation, not part of the address.
  const bool trailing_colon = end - begin >= 2 && text[end - 1] == ':' && text[end - 2] != ':';
  if (trailing_colon) --end;
  const std::string_view candidate = text.substr(begin, end - begin);
  // Glued to more hex or colons ("1:2:3:4:5:6:7:8:9", "std::x") it is a piece of something else.
  const auto colon_or_alnum = [](char c) { return c == ':' || is_ascii_alnum(c); };
  const size_t after = trailing_colon ? end + 1 : end;
  if ((begin > 0 && colon_or_alnum(text[begin - 1])) || (after < text.size() && colon_or_alnum(text[after])) ||
      continues_number(text, begin, end)) {
    return std::nullopt;
  }
  // Require some substance: "::1", "a::b" or "std::" leftovers are not worth a placeholder.
  size_t hex_groups = 0;
  size_t longest_group = 0;
  for (size_t i = 0; i < candidate.size();) {
    size_t j = i;
    while (j < candidate.size() && candidate[j] != ':') ++j;
    if (j > i) ++hex_groups;
    longest_group = std::max(longest_group, j - i);
    i = j + 1;
  }
  if (hex_groups < 2 || longest_group < 3) return std::nullopt;
  std::array<char, 64> buffer{};
  if (candidate.size() >= buffer.size()) return std::nullopt;
  std::memcpy(buffer.data(), candidate.data(), candidate.size());
  in6_addr address;
  return accept_if(inet_pton(AF_INET6, buffer.data(), &address) == 1, begin, end);
}

Verdict validate_mac(std::string_view text, size_t begin, size_t end) {
  const char separator = text[begin + 2];
  const bool longer = (begin > 0 && text[begin - 1] == separator) || (end < text.size() && text[end] == separator);
  return accept_if(!longer, begin, end);
}

bool looks_random(std::string_view body) {
  bool upper = false;
  bool lower = false;
  bool digit = false;
  for (char c : body) {
    upper |= is_upper(c);
    lower |= is_lower(c);
    digit |= is_digit(c);
  }
  return digit && (upper || lower);
}

Verdict validate_prefixed_secret(std::string_view text, size_t begin, size_t end, const Groups& g) {
  if (char_is(text, end, is_ascii_alnum)) return std::nullopt;
  // The random part decides: "sk-learn-is-a-python-library" has the prefix but no random body.
  for (size_t i = 1; i < g.size(); ++i) {
    if (g[i].data() == nullptr) continue;
    const std::string_view body = view(g[i]);
    const bool openai_style = text.substr(begin, 3) == "sk-";
    const bool mixed_case =
        std::any_of(body.begin(), body.end(), is_upper) && std::any_of(body.begin(), body.end(), is_lower);
    return accept_if(looks_random(body) && (!openai_style || mixed_case), begin, end);
  }
  return std::nullopt;
}

// Share of the token that reads like words: runs of three or more lower-case letters, with the
// capital before them ("Account", "get"). About 0.2 for random base64, 0.6-1.0 for identifiers.
double wordlike_share(std::string_view token) {
  size_t wordlike = 0;
  for (size_t i = 0; i < token.size();) {
    size_t j = i;
    while (j < token.size() && is_lower(token[j])) ++j;
    if (j - i >= 3) wordlike += j - i + (i > 0 && is_upper(token[i - 1]) ? 1 : 0);
    i = j == i ? i + 1 : j;
  }
  return static_cast<double>(wordlike) / static_cast<double>(token.size());
}

// A token of 20+ base64/base64url characters that is more random than words, identifiers, paths
// and version strings. Tuned on random tokens (about 92% of 20-character and 99% of
// 40-character ones pass) against identifiers like "getUserAccountById2024".
Verdict validate_token(std::string_view text, size_t begin, size_t end) {
  const std::string_view token = text.substr(begin, end - begin);
  size_t separators = 0;
  bool upper = false;
  bool lower = false;
  bool digit = false;
  for (char c : token) {
    upper |= is_upper(c);
    lower |= is_lower(c);
    digit |= is_digit(c);
    separators += (c == '-' || c == '_' || c == '/' || c == '+') ? 1 : 0;
  }
  // Hex (git hashes, checksums) has no upper case next to lower case and is left alone.
  if (!(upper && lower && digit)) return std::nullopt;
  // "Windows10-Pro-x64-22H2": many short segments are names, not a key.
  if (separators * 10 > token.size()) return std::nullopt;
  if (wordlike_share(token) > 0.5) return std::nullopt;
  // A string of n characters has at most log2(n) bits per character; random base64 comes within
  // about 0.5 of that, words and identifiers much less.
  const double threshold = std::min(4.0, std::log2(static_cast<double>(token.size())) - 0.7);
  return accept_if(shannon_entropy(token) >= threshold, begin, end);
}

Verdict validate_iso_date(std::string_view text, size_t begin, size_t end, const Groups& g) {
  if (view(g[2]) != view(g[4]) || !valid_date(parse_int(view(g[1])), parse_int(view(g[3])), parse_int(view(g[5])))) {
    return std::nullopt;
  }
  // "2024-05-17T10:30:00Z" is still a date; any other letter or digit glued on is not.
  const bool time_follows = end + 1 < text.size() && text[end] == 'T' && is_digit(text[end + 1]);
  const bool glued = char_is(text, end, is_ascii_alnum) && !time_follows;
  return accept_if(!glued && !(begin > 0 && is_ascii_alnum(text[begin - 1])) && !continues_number(text, begin, end),
                   begin, end);
}

Verdict validate_clock_time(std::string_view text, size_t begin, size_t end) {
  // Not a piece of a longer run of numbers and colons or dots ("1:12:30:45", "v1.10:30"), nor
  // glued to a letter or digit, except the T between an ISO date and its time.
  const auto joiner = [](char c) { return c == ':' || c == '.'; };
  const bool iso_t = begin >= 2 && text[begin - 1] == 'T' && is_digit(text[begin - 2]);
  const bool before = begin > 0 && !iso_t && (joiner(text[begin - 1]) || is_ascii_alnum(text[begin - 1]));
  const bool after = end + 1 < text.size() && joiner(text[end]) && is_ascii_alnum(text[end + 1]);
  return accept_if(!before && !after && !char_is(text, end, is_ascii_alnum), begin, end);
}

// The value after "password=" and the like, without the punctuation that ends its sentence; not a
// placeholder ("<password>", "${TOKEN}", "****") or a word that says there is none.
Verdict validate_named_secret(std::string_view text, const Groups& g) {
  const bool key_or_token = g[1].data() != nullptr;
  const std::string_view raw = view(g[2]);
  const size_t begin = static_cast<size_t>(raw.data() - text.data());
  std::string_view value = raw;
  while (!value.empty() && std::string_view(".,;:!?)]}'\"").find(value.back()) != std::string_view::npos) {
    value.remove_suffix(1);
  }
  if (value.size() < (key_or_token ? 8u : 4u)) return std::nullopt;
  if (std::string_view("<{$%[").find(value.front()) != std::string_view::npos) return std::nullopt;
  if (std::all_of(value.begin(), value.end(), [&](char c) { return c == value.front(); })) return std::nullopt;
  std::string lower(value);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static constexpr std::string_view kNotSecrets[] = {"none",    "null",     "empty",     "required",  "redacted",
                                                     "hidden",  "optional", "invalid",   "incorrect", "wrong",
                                                     "expired", "missing",  "protected", "reset"};
  if (std::find(std::begin(kNotSecrets), std::end(kNotSecrets), lower) != std::end(kNotSecrets)) return std::nullopt;
  return Span{begin, begin + value.size()};
}

Verdict validate_numeric_date(std::string_view text, size_t begin, size_t end, const Groups& g) {
  if (view(g[2]) != view(g[4]) || continues_number(text, begin, end)) return std::nullopt;
  const int first = parse_int(view(g[1]));
  const int second = parse_int(view(g[3]));
  const int year = parse_int(view(g[5]));
  // 17/05/2024 (day first) and 05/17/2024 (US) are both dates; one reading must be real.
  return accept_if(valid_date(year, second, first) || valid_date(year, first, second), begin, end);
}

int month_from_name(std::string_view name) {
  static constexpr std::string_view kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                                 "jul", "aug", "sep", "oct", "nov", "dec"};
  std::string prefix(name.substr(0, 3));
  for (char& c : prefix) c = static_cast<char>(c | 0x20);  // ASCII letters to lower case
  for (size_t i = 0; i < std::size(kMonths); ++i) {
    if (kMonths[i] == prefix) return static_cast<int>(i) + 1;
  }
  return 0;
}

Verdict validate_chinese_date(std::string_view text, size_t begin, size_t end, const Groups& g) {
  const bool glued = begin > 0 && is_ascii_alnum(text[begin - 1]);
  return accept_if(!glued && valid_date(parse_int(view(g[1])), parse_int(view(g[2])), parse_int(view(g[3]))), begin,
                   end);
}

// Keeps the best of every group of overlapping detections: longer first, then higher score, then
// the detector that ran first. Returns them sorted by begin.
std::vector<Entity> resolve_overlaps(std::vector<Entity> candidates) {
  std::stable_sort(candidates.begin(), candidates.end(), [](const Entity& a, const Entity& b) {
    const size_t length_a = a.end - a.begin;
    const size_t length_b = b.end - b.begin;
    if (length_a != length_b) return length_a > length_b;
    return a.score > b.score;
  });
  std::map<size_t, const Entity*> kept;  // by begin
  for (const Entity& candidate : candidates) {
    const auto next = kept.lower_bound(candidate.begin);
    if (next != kept.end() && next->first < candidate.end) continue;
    if (next != kept.begin() && std::prev(next)->second->end > candidate.begin) continue;
    kept.emplace(candidate.begin, &candidate);
  }
  std::vector<Entity> result;
  result.reserve(kept.size());
  for (const auto& [begin, entity] : kept) result.push_back(*entity);
  return result;
}

// "1994-06-17 08:11:32", "2024-05-17T10:30:00Z": a date and the time right after it are one.
std::vector<Entity> join_dates_and_times(std::string_view text, std::vector<Entity> sorted) {
  const auto is_time = [&](const Entity& e) {
    return text.substr(e.begin, e.end - e.begin).find(':') != std::string_view::npos;
  };
  std::vector<Entity> joined;
  joined.reserve(sorted.size());
  for (const Entity& e : sorted) {
    if (!joined.empty()) {
      Entity& date = joined.back();
      const bool adjacent = e.begin == date.end + 1 && (text[date.end] == ' ' || text[date.end] == 'T');
      if (adjacent && date.type == EntityType::kDateTime && e.type == EntityType::kDateTime && !is_time(date) &&
          is_time(e)) {
        date.end = e.end;
        continue;
      }
    }
    joined.push_back(e);
  }
  return joined;
}

}  // namespace

PatternDetector::PatternDetector() : patterns_(std::make_unique<const Patterns>()) {
  // The patterns are constants of this file; one that does not compile is a bug, not an input error.
  if (!patterns_->all_compiled()) std::abort();
}

PatternDetector::~PatternDetector() = default;
PatternDetector::PatternDetector(PatternDetector&&) noexcept = default;
PatternDetector& PatternDetector::operator=(PatternDetector&&) noexcept = default;

std::vector<Entity> PatternDetector::detect(std::string_view text) const {
  const Patterns& p = *patterns_;
  std::vector<Entity> found;
  const auto standalone_span = [&](size_t b, size_t e, const Groups&) {
    return accept_if(standalone(text, b, e), b, e);
  };
  const auto standalone_number_span = [&](size_t b, size_t e, const Groups&) {
    return accept_if(standalone_number(text, b, e), b, e);
  };

  // Checksum-validated first: on equal spans the earlier detector wins the tie.
  scan(p.cn_resident_id, text, EntityType::kCnResidentId, kScoreChecksum, found,
       [&](size_t b, size_t e, const Groups&) {
         std::string id;
         for (char c : text.substr(b, e - b)) {
           if (c != ' ') id += c;
         }
         return accept_if(cn_resident_id_valid(id), b, e);
       });
  scan(p.cn_credit_code, text, EntityType::kCnCreditCode, kScoreChecksum, found,
       [&](size_t b, size_t e, const Groups&) { return accept_if(cn_credit_code_valid(text.substr(b, e - b)), b, e); });
  scan(p.bank_card, text, EntityType::kBankCard, kScoreChecksum, found,
       [&](size_t b, size_t e, const Groups&) { return validate_bank_card(text, b, e); });
  scan(p.iban, text, EntityType::kIban, kScoreChecksum, found,
       [&](size_t b, size_t e, const Groups&) { return validate_iban(text, b, e); });

  scan(p.email, text, EntityType::kEmail, kScoreFixedFormat, found,
       [&](size_t b, size_t e, const Groups&) { return accept_if(!char_is(text, e, is_ascii_alnum), b, e); });
  scan(p.url_credentials, text, EntityType::kUrlCredentials, kScoreFixedFormat, found, standalone_span);
  scan(p.private_key, text, EntityType::kSecret, kScoreFixedFormat, found, [](size_t b, size_t e, const Groups&) {
    return Verdict(Span{b, e});
  });
  scan(p.prefixed_secret, text, EntityType::kSecret, kScoreFixedFormat, found,
       [&](size_t b, size_t e, const Groups& g) { return validate_prefixed_secret(text, b, e, g); });

  scan(p.cn_mobile, text, EntityType::kPhone, kScoreStrongPattern, found, standalone_number_span);
  scan(p.north_american_phone, text, EntityType::kPhone, kScorePattern, found, standalone_number_span);
  scan(p.e164_phone, text, EntityType::kPhone, kScorePattern, found,
       [&](size_t b, size_t e, const Groups&) { return validate_e164(text, b, e); });
  scan(p.local_phone, text, EntityType::kPhone, kScoreLocalPhone, found,
       [&](size_t b, size_t e, const Groups&) { return validate_local_phone(text, b, e); });
  scan(p.us_ssn, text, EntityType::kUsSsn, kScorePattern, found,
       [&](size_t b, size_t e, const Groups& g) { return validate_us_ssn(text, b, e, g); });
  scan(p.ipv4, text, EntityType::kIpAddress, kScoreStrongPattern, found,
       [&](size_t b, size_t e, const Groups&) { return validate_ipv4(text, b, e); });
  scan(p.ipv6, text, EntityType::kIpAddress, kScoreStrongPattern, found,
       [&](size_t b, size_t e, const Groups&) { return validate_ipv6(text, b, e); });
  scan(p.mac, text, EntityType::kMacAddress, kScoreStrongPattern, found,
       [&](size_t b, size_t e, const Groups&) { return validate_mac(text, b, e); });

  scan(p.iso_date, text, EntityType::kDateTime, kScoreStrongPattern, found,
       [&](size_t b, size_t e, const Groups& g) { return validate_iso_date(text, b, e, g); });
  scan(p.numeric_date, text, EntityType::kDateTime, kScoreNumericDate, found,
       [&](size_t b, size_t e, const Groups& g) { return validate_numeric_date(text, b, e, g); });
  scan(p.month_day_year, text, EntityType::kDateTime, kScorePattern, found, [&](size_t b, size_t e, const Groups& g) {
    return accept_if(valid_date(parse_int(view(g[3])), month_from_name(view(g[1])), parse_int(view(g[2]))), b, e);
  });
  scan(p.day_month_year, text, EntityType::kDateTime, kScorePattern, found, [&](size_t b, size_t e, const Groups& g) {
    return accept_if(valid_date(parse_int(view(g[3])), month_from_name(view(g[2])), parse_int(view(g[1]))), b, e);
  });
  scan(p.chinese_date, text, EntityType::kDateTime, kScorePattern, found,
       [&](size_t b, size_t e, const Groups& g) { return validate_chinese_date(text, b, e, g); });
  scan(p.clock_time, text, EntityType::kDateTime, kScorePattern, found,
       [&](size_t b, size_t e, const Groups&) { return validate_clock_time(text, b, e); });
  scan(p.named_secret, text, EntityType::kSecret, kScoreFixedFormat, found,
       [&](size_t, size_t, const Groups& g) { return validate_named_secret(text, g); });

  // Last: a key found by its prefix or an ID found by its checksum beats the same span as a token.
  scan(
      p.token, text, EntityType::kSecret, kScoreEntropy, found,
      [&](size_t b, size_t e, const Groups&) { return validate_token(text, b, e); }, OnReject::kSkipMatch);

  return join_dates_and_times(text, resolve_overlaps(std::move(found)));
}

}  // namespace tandem::privacy
