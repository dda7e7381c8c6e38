#include "privacy/policy.h"

#include <algorithm>

#include "core/config.h"

namespace tandem::privacy {
namespace {

// The type names of a comma-separated list (spaces around names allowed).
Result<std::vector<EntityType>> parse_list(const std::string& list, std::string_view setting) {
  std::vector<EntityType> types;
  for (const std::string& name : split_setting_list(list)) {
    auto type = entity_type_from_name(name);
    if (!type) {
      return make_error(ErrorCode::kInvalidArgument,
                        std::string(setting) + ": unknown entity type '" + name + "' (see `tandem pii types`)");
    }
    types.push_back(*type);
  }
  return types;
}

}  // namespace

PrivacyPolicy::PrivacyPolicy() {
  actions_.fill(PiiAction::kPseudonymize);
  actions_[static_cast<size_t>(EntityType::kSecret)] = PiiAction::kBlock;
  actions_[static_cast<size_t>(EntityType::kLocation)] = PiiAction::kAllow;
  actions_[static_cast<size_t>(EntityType::kDateTime)] = PiiAction::kAllow;
}

Result<PrivacyPolicy> PrivacyPolicy::from_lists(const std::string& block, const std::string& allow) {
  auto blocked = parse_list(block, "privacy.block");
  if (!blocked) return blocked.error();
  auto allowed = parse_list(allow, "privacy.allow");
  if (!allowed) return allowed.error();
  PrivacyPolicy policy;
  policy.actions_.fill(PiiAction::kPseudonymize);
  for (EntityType type : *blocked) policy.actions_[static_cast<size_t>(type)] = PiiAction::kBlock;
  for (EntityType type : *allowed) {
    if (policy.action(type) == PiiAction::kBlock) {
      return make_error(ErrorCode::kInvalidArgument,
                        "privacy.block and privacy.allow both name '" + std::string(entity_type_name(type)) + "'");
    }
    policy.actions_[static_cast<size_t>(type)] = PiiAction::kAllow;
  }
  return policy;
}

Inspection PrivacyPolicy::inspect(const std::vector<Entity>& entities) const {
  Inspection inspection;
  for (const Entity& entity : entities) {
    switch (action(entity.type)) {
      case PiiAction::kAllow:
        break;
      case PiiAction::kPseudonymize:
        inspection.pseudonymize.push_back(entity);
        break;
      case PiiAction::kBlock:
        if (std::find(inspection.blocked.begin(), inspection.blocked.end(), entity.type) == inspection.blocked.end()) {
          inspection.blocked.push_back(entity.type);
        }
        break;
    }
  }
  return inspection;
}

}  // namespace tandem::privacy
