// The structured half of PII detection: entities with a fixed shape, found by regular expressions
// and then confirmed by checksums and range checks. Names, organisations and places are left to
// the statistical detectors.
//
//   const privacy::PatternDetector detector;  // compiles its patterns once; keep it for the process
//   for (const privacy::Entity& e : detector.detect("身份证号11010519491231002X，电话13812345678"))
//     redact(e.type, e.begin, e.end);  // kCnResidentId [12, 30), kPhone [39, 50)
//
// What it finds, and how sure it is (Entity::score):
//   1.0   checksum holds: Chinese resident ID, unified social credit code, bank card (Luhn, known
//         issuer prefix), IBAN (registry length, mod 97)
//   0.95  fixed formats: email, URL credentials, API keys with a known prefix, private key blocks
//   0.9   phone (Chinese mobile), IPv4/IPv6, MAC, ISO date
//   0.85  phone (North American, E.164), US SSN, dates with month names or 年月日
//   0.8   day/month/year dates with slashes, dashes or dots
//   0.7   high-entropy tokens that look like secrets without a known prefix
//   0.6   phone numbers in national formats ("089 72 63 41"), only with a phone word nearby
//         ("call", "Phone:", "fax", 电话) or a shape no other number has (an extension, a leading
//         + or parenthesis, 10+ digits in 3+ groups)
//
// Decisions worth knowing:
//   - Boundaries are about ASCII letters and digits, not whitespace, so values glued to Chinese
//     text are found, while a digit run inside a longer run of letters or digits is not: a
//     20-digit number yields no card and "ID12345..." no resident ID.
//   - URL credentials cover "scheme://user:password@host[:port]"; the path stays visible.
//   - High-entropy tokens need 20+ characters of [A-Za-z0-9+/_=-] with upper case, lower case and
//     digits. Hex strings (git hashes, checksums) are not reported: they are rarely secrets and
//     very common in technical text.
//   - Dates need a year (1900-2100) and a real calendar day; "May 17" alone is not reported.
//   - Overlapping detections: the longer span wins, then the higher score, so a private key block
//     is never cut into the card-like digits it happens to contain. The result is sorted by begin
//     and non-overlapping.
//
// Offsets are bytes into the UTF-8 input. Input may be any bytes; matching is linear in its size
// (RE2), so hostile text cannot make a scan blow up.
// Thread-safety: immutable after construction; detect() may be called from any number of threads.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "privacy/pii.h"

namespace tandem::privacy {

class PatternDetector {
 public:
  PatternDetector();
  ~PatternDetector();
  PatternDetector(PatternDetector&&) noexcept;
  PatternDetector& operator=(PatternDetector&&) noexcept;
  PatternDetector(const PatternDetector&) = delete;
  PatternDetector& operator=(const PatternDetector&) = delete;

  std::vector<Entity> detect(std::string_view text) const;

 private:
  struct Patterns;  // the compiled RE2 programs, kept out of this header
  std::unique_ptr<const Patterns> patterns_;
};

}  // namespace tandem::privacy
