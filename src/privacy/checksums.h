// Check digits of the structured identifiers the PII detectors look for, so that a number is
// reported only when it really is a card, an ID or an account and not a look-alike.
//
//   privacy::luhn_valid("4111111111111111");               // true: a bank card number
//   privacy::cn_resident_id_valid("11010519491231002X");   // true: check char and birth date hold
//   privacy::iban_valid("GB82 WEST 1234 5698 7654 32");    // true: spaces between groups are fine
//
// Every function takes the bare candidate and answers false for anything malformed (wrong length,
// stray characters), never throws and never reads past the view.
// Thread-safety: pure functions without shared state.
#pragma once

#include <string_view>

namespace tandem::privacy {

// Luhn (mod 10) over a string of ASCII digits only, at least two of them; separators must be
// stripped by the caller.
bool luhn_valid(std::string_view digits);

// Chinese resident identity card number (GB 11643-1999): 17 digits and a check character (digit
// or X/x, ISO 7064 MOD 11-2), a region code starting with 1-8, and a real birth date YYYYMMDD at
// positions 6..13 between 1900-01-01 and today (UTC).
bool cn_resident_id_valid(std::string_view id18);
// The same without the check character: region and birth date only. An 18-digit number of this
// shape is an ID (perhaps mistyped), not a bank card that happens to pass Luhn.
bool cn_resident_id_shaped(std::string_view id18);

// Unified social credit code of a Chinese organisation (GB 32100-2015): 18 characters from
// "0123456789ABCDEFGHJKLMNPQRTUWXY" (upper case), a registering authority and organisation
// category that exist, a numeric region code, and the mod 31 check character.
bool cn_credit_code_valid(std::string_view code18);

// International bank account number (ISO 13616): a country from the IBAN registry with its fixed
// length, two check digits, an upper-case alphanumeric BBAN, and mod 97 == 1 on the rearranged
// number. Single spaces between characters are ignored, as in the printed "DE89 3704 0044 ...".
bool iban_valid(std::string_view iban);

// Shannon entropy of the byte distribution of `s` in bits per byte; 0 for an empty string. A
// random base64 token of 32 characters scores about 4.5, an English word about 2.5-3.
double shannon_entropy(std::string_view s);

}  // namespace tandem::privacy
