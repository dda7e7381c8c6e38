#include "privacy/checksums.h"

#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>

namespace tandem::privacy {
namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_upper(char c) {
  return c >= 'A' && c <= 'Z';
}
int digit_value(char c) {
  return c - '0';
}

bool all_digits(std::string_view s) {
  for (char c : s) {
    if (!is_digit(c)) return false;
  }
  return true;
}

int parse_number(std::string_view digits) {
  int value = 0;
  for (char c : digits) value = value * 10 + digit_value(c);
  return value;
}

// Birth dates in a resident ID: a real calendar day, not before 1900 and not in the future.
bool plausible_birth_date(std::string_view yyyymmdd) {
  using namespace std::chrono;
  const year_month_day date{year{parse_number(yyyymmdd.substr(0, 4))},
                            month{static_cast<unsigned>(parse_number(yyyymmdd.substr(4, 2)))},
                            day{static_cast<unsigned>(parse_number(yyyymmdd.substr(6, 2)))}};
  if (!date.ok()) return false;
  const year_month_day today{floor<days>(system_clock::now())};
  return date >= year_month_day{year{1900}, January, day{1}} && date <= today;
}

constexpr std::string_view kCreditCodeAlphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY";

int credit_code_value(char c) {
  const size_t i = kCreditCodeAlphabet.find(c);
  return i == std::string_view::npos ? -1 : static_cast<int>(i);
}

struct IbanLength {
  std::string_view country;
  int length;
};

// SWIFT IBAN registry: countries with full IBAN support and their fixed lengths.
constexpr IbanLength kIbanLengths[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16}, {"BG", 22}, {"BH", 22},
    {"BI", 27}, {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DJ", 27},
    {"DK", 18}, {"DO", 28}, {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18}, {"FK", 18}, {"FO", 18}, {"FR", 27},
    {"GB", 22}, {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27}, {"GT", 28}, {"HR", 21}, {"HU", 28}, {"IE", 22},
    {"IL", 23}, {"IQ", 23}, {"IS", 26}, {"IT", 27}, {"JO", 30}, {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LC", 32},
    {"LI", 21}, {"LT", 20}, {"LU", 20}, {"LV", 21}, {"LY", 25}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19},
    {"MN", 20}, {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NI", 28}, {"NL", 18}, {"NO", 15}, {"OM", 23}, {"PK", 24},
    {"PL", 28}, {"PS", 29}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"RU", 33}, {"SA", 24}, {"SC", 31}, {"SD", 18},
    {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27}, {"SO", 23}, {"ST", 25}, {"SV", 28}, {"TL", 23}, {"TN", 24},
    {"TR", 26}, {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20}, {"YE", 30},
};
constexpr size_t kIbanMaxLength = 34;

int iban_length_of(std::string_view country) {
  for (const IbanLength& entry : kIbanLengths) {
    if (entry.country == country) return entry.length;
  }
  return 0;
}

}  // namespace

bool luhn_valid(std::string_view digits) {
  if (digits.size() < 2 || !all_digits(digits)) return false;
  int sum = 0;
  bool double_it = false;  // every second digit from the right, the check digit itself excluded
  for (size_t i = digits.size(); i-- > 0;) {
    int d = digit_value(digits[i]);
    if (double_it) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double_it = !double_it;
  }
  return sum % 10 == 0;
}

bool cn_resident_id_shaped(std::string_view id18) {
  if (id18.size() != 18 || !all_digits(id18.substr(0, 17))) return false;
  if (id18[0] < '1' || id18[0] > '8') return false;  // region codes run from 11 (Beijing) to 82 (Macau)
  return plausible_birth_date(id18.substr(6, 8));
}

bool cn_resident_id_valid(std::string_view id18) {
  if (!cn_resident_id_shaped(id18)) return false;
  static constexpr int kWeights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  static constexpr std::string_view kCheckChars = "10X98765432";
  int sum = 0;
  for (size_t i = 0; i < 17; ++i) sum += digit_value(id18[i]) * kWeights[i];
  const char expected = kCheckChars[static_cast<size_t>(sum % 11)];
  const char actual = id18[17] == 'x' ? 'X' : id18[17];
  return actual == expected;
}

bool cn_credit_code_valid(std::string_view code18) {
  if (code18.size() != 18) return false;
  // Registering authority (1-9 for the state departments, A, N and Y for the rest) and a
  // non-zero organisation category within it.
  if (std::string_view("123456789ANY").find(code18[0]) == std::string_view::npos) return false;
  if (code18[1] < '1' || code18[1] > '9') return false;
  // Administrative region code: 100000 for national bodies, else 11xxxx (Beijing) .. 82xxxx.
  if (!all_digits(code18.substr(2, 6)) || code18[2] < '1' || code18[2] > '8') return false;
  static constexpr int kWeights[17] = {1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28};
  int sum = 0;
  for (size_t i = 0; i < 17; ++i) {
    const int value = credit_code_value(code18[i]);
    if (value < 0) return false;
    sum += value * kWeights[i];
  }
  return credit_code_value(code18[17]) == (31 - sum % 31) % 31;
}

bool iban_valid(std::string_view iban) {
  std::array<char, kIbanMaxLength> compact{};
  size_t length = 0;
  for (size_t i = 0; i < iban.size(); ++i) {
    const char c = iban[i];
    if (c == ' ') {
      // One space between two characters, as printed in groups; no leading, trailing or double.
      if (i == 0 || i + 1 == iban.size() || iban[i + 1] == ' ') return false;
      continue;
    }
    if (!is_digit(c) && !is_upper(c)) return false;
    if (length == kIbanMaxLength) return false;
    compact[length++] = c;
  }
  const std::string_view s(compact.data(), length);
  if (length < 4 || !is_upper(s[0]) || !is_upper(s[1]) || !is_digit(s[2]) || !is_digit(s[3])) return false;
  if (iban_length_of(s.substr(0, 2)) != static_cast<int>(length)) return false;
  // Move the first four characters to the end, read letters as 10..35 and take the whole number
  // mod 97 digit by digit so it never overflows.
  int remainder = 0;
  for (size_t k = 0; k < length; ++k) {
    const char c = s[(k + 4) % length];
    if (is_digit(c)) {
      remainder = (remainder * 10 + digit_value(c)) % 97;
    } else {
      remainder = (remainder * 100 + (c - 'A' + 10)) % 97;
    }
  }
  return remainder == 1;
}

double shannon_entropy(std::string_view s) {
  if (s.empty()) return 0.0;
  std::array<uint32_t, 256> counts{};
  for (char c : s) ++counts[static_cast<unsigned char>(c)];
  const double n = static_cast<double>(s.size());
  double bits = 0.0;
  for (uint32_t count : counts) {
    if (count == 0) continue;
    const double p = count / n;
    bits -= p * std::log2(p);
  }
  return bits;
}

}  // namespace tandem::privacy
