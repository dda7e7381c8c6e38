#include "privacy/pii.h"

#include <array>

namespace tandem::privacy {
namespace {

constexpr std::array<std::string_view, kEntityTypeCount> kNames = {
    "email",        "phone",      "cn_resident_id", "cn_credit_code",  "bank_card", "iban",
    "us_ssn",       "ip_address", "mac_address",    "url_credentials", "secret",    "person",
    "organization", "location",   "address",        "date_time",
};

}  // namespace

std::string_view entity_type_name(EntityType type) {
  return kNames[static_cast<size_t>(type)];
}

std::optional<EntityType> entity_type_from_name(std::string_view name) {
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (kNames[i] == name) return static_cast<EntityType>(i);
  }
  return std::nullopt;
}

std::map<std::string, int> counts_by_name(const std::array<int, kEntityTypeCount>& counts) {
  std::map<std::string, int> named;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] > 0) named.emplace(entity_type_name(static_cast<EntityType>(i)), counts[i]);
  }
  return named;
}

}  // namespace tandem::privacy
