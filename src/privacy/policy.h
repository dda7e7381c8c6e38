// What happens to each type of personal data when a request would leave the device: allowed
// through, replaced by a placeholder (restored in the answer), or blocked (the request stays on
// this device). The pipeline enforces it in code; no instruction to a model can change it.
//
//   auto policy = privacy::PrivacyPolicy::from_lists("secret", "location,date_time");
//   if (!policy) return policy.error();           // an unknown type name
//   auto check = policy->inspect(scanner.scan(text));
//   if (!check.blocked.empty()) stay_local();     // else vault.pseudonymize(text, check.pseudonymize)
//
// Thread-safety: a value type.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "core/status.h"
#include "privacy/pii.h"

namespace tandem::privacy {

enum class PiiAction { kAllow, kPseudonymize, kBlock };

struct Inspection {
  std::vector<Entity> pseudonymize;  // sorted, non-overlapping: what the vault replaces
  std::vector<EntityType> blocked;   // distinct types whose action is kBlock, in order of appearance
};

class PrivacyPolicy {
 public:
  PrivacyPolicy();  // secrets blocked, places and dates allowed, everything else pseudonymized

  // Comma-separated type names (see entity_type_name) to block and to allow; every other type is
  // pseudonymized. A name in both lists or an unknown name is kInvalidArgument.
  static Result<PrivacyPolicy> from_lists(const std::string& block, const std::string& allow);

  PiiAction action(EntityType type) const { return actions_[static_cast<size_t>(type)]; }
  Inspection inspect(const std::vector<Entity>& entities) const;

 private:
  std::array<PiiAction, kEntityTypeCount> actions_;
};

}  // namespace tandem::privacy
