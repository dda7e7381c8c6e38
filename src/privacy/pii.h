// Personal data found in text: the entity types Tandem knows and the spans its detectors report.
//
//   privacy::PiiScanner scanner(privacy::PiiScanner::Options{.gazetteer = gazetteer});
//   for (const privacy::Entity& e : scanner.scan("Call Zhang Wei at 13812345678"))
//     std::cout << privacy::entity_type_name(e.type) << " " << e.begin << ".." << e.end;
//
// Offsets are byte offsets into the UTF-8 text, half-open [begin, end). Detectors with a checksum
// (resident ID, credit code, bank card, IBAN) report only values whose checksum holds, so a
// look-alike number is never pseudonymized by mistake.
// Thread-safety: Entity is a value type; detectors are immutable after construction and may be
// used by any number of threads at once.
#pragma once

#include <array>
#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tandem::privacy {

enum class EntityType {
  kEmail,
  kPhone,         // E.164, Chinese mobile 1[3-9]xxxxxxxxx, North-American
  kCnResidentId,  // 18 characters, ISO 7064 MOD 11-2 check, valid birth date
  kCnCreditCode,  // unified social credit code, 18 characters, mod 31 check
  kBankCard,      // Luhn, 13-19 digits (UnionPay 62... included)
  kIban,          // mod 97
  kUsSsn,
  kIpAddress,  // IPv4 and IPv6
  kMacAddress,
  kUrlCredentials,  // scheme://user:password@host
  kSecret,          // API keys with known prefixes, private key blocks, high-entropy tokens
  kPerson,
  kOrganization,
  kLocation,  // a named place: country, region, city
  kAddress,   // a street address
  kDateTime,  // a date, e.g. a birth date
};
inline constexpr int kEntityTypeCount = static_cast<int>(EntityType::kDateTime) + 1;

// Stable lower-case names used in config, placeholders, audit entries and JSON: "email", "phone",
// "cn_resident_id", "cn_credit_code", "bank_card", "iban", "us_ssn", "ip_address", "mac_address",
// "url_credentials", "secret", "person", "organization", "location", "address", "date_time".
std::string_view entity_type_name(EntityType type);
std::optional<EntityType> entity_type_from_name(std::string_view name);

// Non-zero counts per type, keyed by entity_type_name(): for JSON answers and audit entries.
std::map<std::string, int> counts_by_name(const std::array<int, kEntityTypeCount>& counts);

struct Entity {
  EntityType type = EntityType::kEmail;
  size_t begin = 0;    // bytes
  size_t end = 0;      // bytes, exclusive
  double score = 1.0;  // 1.0 for a validated checksum; lower for patterns and name heuristics
};

}  // namespace tandem::privacy
