#include "privacy/checksums.h"

#include <gtest/gtest.h>

#include <string>

namespace tandem::privacy {
namespace {

TEST(LuhnTest, AcceptsKnownCardNumbers) {
  EXPECT_TRUE(luhn_valid("4111111111111111"));     // Visa test card
  EXPECT_TRUE(luhn_valid("4222222222222"));        // 13-digit Visa
  EXPECT_TRUE(luhn_valid("378282246310005"));      // Amex, 15 digits
  EXPECT_TRUE(luhn_valid("5500005555555559"));     // Mastercard
  EXPECT_TRUE(luhn_valid("6212345678901265"));     // UnionPay, 16 digits
  EXPECT_TRUE(luhn_valid("6217002020000001230"));  // UnionPay, 19 digits
}

TEST(LuhnTest, RejectsOneChangedDigit) {
  EXPECT_FALSE(luhn_valid("4111111111111112"));
  EXPECT_FALSE(luhn_valid("4111111111111121"));
  EXPECT_FALSE(luhn_valid("6212345678901266"));
}

TEST(LuhnTest, RejectsAnythingButDigits) {
  EXPECT_FALSE(luhn_valid(""));
  EXPECT_FALSE(luhn_valid("0"));
  EXPECT_FALSE(luhn_valid("4111 1111 1111 1111"));
  EXPECT_FALSE(luhn_valid("4111-1111-1111-1111"));
  EXPECT_FALSE(luhn_valid("411111111111111a"));
}

TEST(CnResidentIdTest, AcceptsValidNumbers) {
  EXPECT_TRUE(cn_resident_id_valid("11010519491231002X"));
  EXPECT_TRUE(cn_resident_id_valid("11010519491231002x"));
  EXPECT_TRUE(cn_resident_id_valid("44030419900307123X"));
  EXPECT_TRUE(cn_resident_id_valid("310115198802291233"));  // 29 February of a leap year
  EXPECT_TRUE(cn_resident_id_valid("440304199003070050"));
}

TEST(CnResidentIdTest, RejectsWrongCheckCharacter) {
  EXPECT_FALSE(cn_resident_id_valid("110105194912310021"));
  EXPECT_FALSE(cn_resident_id_valid("11010519491231003X"));  // one digit changed, check char kept
  EXPECT_FALSE(cn_resident_id_valid("310115198802291234"));
}

TEST(CnResidentIdTest, RejectsImpossibleBirthDatesEvenWithAMatchingCheckCharacter) {
  EXPECT_FALSE(cn_resident_id_valid("110105194902310026"));  // 31 February
  EXPECT_FALSE(cn_resident_id_valid("110105194902290029"));  // 29 February 1949, not a leap year
  EXPECT_FALSE(cn_resident_id_valid("110105189912310023"));  // before 1900
  EXPECT_FALSE(cn_resident_id_valid("11010521990101002X"));  // born in 2199
}

TEST(CnResidentIdTest, RejectsRegionCodesOutsideOneToEight) {
  EXPECT_FALSE(cn_resident_id_valid("910105194912310029"));
  EXPECT_FALSE(cn_resident_id_valid("010105194912310026"));
}

TEST(CnResidentIdTest, RejectsWrongShapes) {
  EXPECT_FALSE(cn_resident_id_valid(""));
  EXPECT_FALSE(cn_resident_id_valid("11010519491231002"));
  EXPECT_FALSE(cn_resident_id_valid("11010519491231002X1"));
  EXPECT_FALSE(cn_resident_id_valid("1101051949123100XX"));
  EXPECT_FALSE(cn_resident_id_valid("110105 19491231 002X"));
}

TEST(CnCreditCodeTest, AcceptsValidCodes) {
  EXPECT_TRUE(cn_credit_code_valid("91350100M000100Y43"));
  EXPECT_TRUE(cn_credit_code_valid("914403001922038216"));  // all digits is allowed
  EXPECT_TRUE(cn_credit_code_valid("91110108551385082Q"));
}

TEST(CnCreditCodeTest, RejectsWrongCheckCharacterOrBody) {
  EXPECT_FALSE(cn_credit_code_valid("91350100M000100Y44"));
  EXPECT_FALSE(cn_credit_code_valid("91350100M000200Y43"));
  EXPECT_FALSE(cn_credit_code_valid("914403001922038217"));
}

TEST(CnCreditCodeTest, RejectsUnknownAuthorityCategoryOrRegionEvenWithAMatchingCheckCharacter) {
  EXPECT_FALSE(cn_credit_code_valid("B1350100M000100Y41"));  // no authority B
  EXPECT_FALSE(cn_credit_code_valid("90350100M000100Y46"));  // category 0
  EXPECT_FALSE(cn_credit_code_valid("9135A100M000100Y4Y"));  // letter in the region code
}

TEST(CnCreditCodeTest, RejectsCharactersOutsideTheAlphabet) {
  EXPECT_FALSE(cn_credit_code_valid("91350100m000100y43"));  // lower case
  EXPECT_FALSE(cn_credit_code_valid("91350100I000100Y43"));  // I, O, S, V and Z are not used
  EXPECT_FALSE(cn_credit_code_valid("91350100M000100Y4"));
  EXPECT_FALSE(cn_credit_code_valid(""));
}

TEST(IbanTest, AcceptsValidNumbersCompactOrGrouped) {
  EXPECT_TRUE(iban_valid("GB82WEST12345698765432"));
  EXPECT_TRUE(iban_valid("GB82 WEST 1234 5698 7654 32"));
  EXPECT_TRUE(iban_valid("DE89370400440532013000"));
  EXPECT_TRUE(iban_valid("DE89 3704 0044 0532 0130 00"));
  EXPECT_TRUE(iban_valid("FR1420041010050500013M02606"));
  EXPECT_TRUE(iban_valid("NL91ABNA0417164300"));
  EXPECT_TRUE(iban_valid("BE68539007547034"));
  EXPECT_TRUE(iban_valid("CH9300762011623852957"));
}

TEST(IbanTest, RejectsOneChangedCharacter) {
  EXPECT_FALSE(iban_valid("GB82WEST12345698765433"));
  EXPECT_FALSE(iban_valid("GB82WEST12345698765423"));  // two digits swapped
  EXPECT_FALSE(iban_valid("DE89370400440532013001"));
  EXPECT_FALSE(iban_valid("GB83WEST12345698765432"));
}

TEST(IbanTest, RejectsWrongLengthsCountriesAndSpacing) {
  EXPECT_FALSE(iban_valid("GB82WEST1234569876543"));         // 21 characters; GB has 22
  EXPECT_FALSE(iban_valid("ZZ82WEST12345698765432"));        // not a registry country
  EXPECT_FALSE(iban_valid("gb82west12345698765432"));        // lower case
  EXPECT_FALSE(iban_valid("GB82  WEST 1234 5698 7654 32"));  // double space
  EXPECT_FALSE(iban_valid(" GB82WEST12345698765432"));
  EXPECT_FALSE(iban_valid("GB82-WEST-1234-5698-7654-32"));
  EXPECT_FALSE(iban_valid("GB82WEST123456987654321234567890123"));  // over 34 characters
  EXPECT_FALSE(iban_valid(""));
}

TEST(ShannonEntropyTest, CountsBitsPerByte) {
  EXPECT_DOUBLE_EQ(shannon_entropy(""), 0.0);
  EXPECT_DOUBLE_EQ(shannon_entropy("aaaa"), 0.0);
  EXPECT_DOUBLE_EQ(shannon_entropy("abab"), 1.0);
  EXPECT_DOUBLE_EQ(shannon_entropy("abcd"), 2.0);
  std::string every_byte;
  for (int i = 0; i < 256; ++i) every_byte += static_cast<char>(i);
  EXPECT_DOUBLE_EQ(shannon_entropy(every_byte), 8.0);
}

}  // namespace
}  // namespace tandem::privacy
