#include "privacy/policy.h"

#include <gtest/gtest.h>

namespace tandem::privacy {
namespace {

TEST(PrivacyPolicyTest, DefaultsBlockSecretsAllowPlacesAndPseudonymizeTheRest) {
  PrivacyPolicy policy;
  EXPECT_EQ(policy.action(EntityType::kSecret), PiiAction::kBlock);
  EXPECT_EQ(policy.action(EntityType::kLocation), PiiAction::kAllow);
  EXPECT_EQ(policy.action(EntityType::kDateTime), PiiAction::kAllow);
  EXPECT_EQ(policy.action(EntityType::kPerson), PiiAction::kPseudonymize);
  EXPECT_EQ(policy.action(EntityType::kCnResidentId), PiiAction::kPseudonymize);
}

TEST(PrivacyPolicyTest, ListsSetTheActions) {
  auto policy = PrivacyPolicy::from_lists(" cn_resident_id ,secret", "person");
  ASSERT_TRUE(policy) << policy.error().message;
  EXPECT_EQ(policy->action(EntityType::kCnResidentId), PiiAction::kBlock);
  EXPECT_EQ(policy->action(EntityType::kPerson), PiiAction::kAllow);
  EXPECT_EQ(policy->action(EntityType::kLocation), PiiAction::kPseudonymize);

  const std::vector<Entity> found = {{EntityType::kPerson, 0, 3, 1},
                                     {EntityType::kEmail, 4, 9, 1},
                                     {EntityType::kCnResidentId, 10, 28, 1},
                                     {EntityType::kCnResidentId, 30, 48, 1}};
  const auto inspection = policy->inspect(found);
  ASSERT_EQ(inspection.pseudonymize.size(), 1U);
  EXPECT_EQ(inspection.pseudonymize[0].type, EntityType::kEmail);
  EXPECT_EQ(inspection.blocked, std::vector<EntityType>{EntityType::kCnResidentId});
}

TEST(PrivacyPolicyTest, UnknownOrContradictoryNamesAreRefused) {
  auto unknown = PrivacyPolicy::from_lists("passport", "");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(unknown.error().message.find("passport"), std::string::npos);
  auto both = PrivacyPolicy::from_lists("email", "email");
  ASSERT_FALSE(both);
  EXPECT_NE(both.error().message.find("both"), std::string::npos);
}

TEST(EntityTypeTest, NamesRoundTrip) {
  for (int i = 0; i < kEntityTypeCount; ++i) {
    const auto type = static_cast<EntityType>(i);
    EXPECT_EQ(entity_type_from_name(entity_type_name(type)), type);
  }
  EXPECT_FALSE(entity_type_from_name("nope"));
}

}  // namespace
}  // namespace tandem::privacy
