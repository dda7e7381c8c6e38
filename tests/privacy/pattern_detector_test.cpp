#include "privacy/pattern_detector.h"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace tandem::privacy {
namespace {

using Found = std::pair<EntityType, std::string>;

const PatternDetector& detector() {
  static const PatternDetector instance;
  return instance;
}

// What was found, as (type, covered text): failures then show the text, not just offsets.
std::vector<Found> found(std::string_view text) {
  std::vector<Found> out;
  for (const Entity& e : detector().detect(text))
    out.emplace_back(e.type, std::string(text.substr(e.begin, e.end - e.begin)));
  return out;
}

// `value` is the only entity in `text`, at exactly [begin, begin + value.size()).
void expect_only(std::string_view text, EntityType type, std::string_view value, size_t begin) {
  const std::vector<Entity> entities = detector().detect(text);
  ASSERT_EQ(entities.size(), 1u) << text;
  EXPECT_EQ(entities[0].type, type) << text;
  EXPECT_EQ(entities[0].begin, begin) << text;
  EXPECT_EQ(entities[0].end, begin + value.size()) << text;
  EXPECT_EQ(text.substr(entities[0].begin, entities[0].end - entities[0].begin), value);
}

void expect_none(std::string_view text) {
  EXPECT_EQ(found(text), std::vector<Found>{}) << text;
}

double score_of(std::string_view text) {
  const std::vector<Entity> entities = detector().detect(text);
  return entities.size() == 1 ? entities[0].score : -1.0;
}

// ---- email ----

TEST(PatternDetectorEmailTest, FindsAddresses) {
  expect_only("Mail john.doe+news@example.co.uk today", EntityType::kEmail, "john.doe+news@example.co.uk", 5);
  expect_only("邮箱zhangsan@example.com。", EntityType::kEmail, "zhangsan@example.com", 6);
  EXPECT_DOUBLE_EQ(score_of("a.b@example.org"), 0.95);
}

TEST(PatternDetectorEmailTest, IgnoresAddressesWithoutADomain) {
  expect_none("user@localhost");
  expect_none("a@b.c");
  expect_none("@example.com");
}

// ---- phone ----

TEST(PatternDetectorPhoneTest, FindsChineseMobilesInEveryCommonFormat) {
  expect_only("电话13812345678", EntityType::kPhone, "13812345678", 6);
  expect_only("call 138 1234 5678.", EntityType::kPhone, "138 1234 5678", 5);
  expect_only("call 138-1234-5678", EntityType::kPhone, "138-1234-5678", 5);
  expect_only("tel +86 138 1234 5678", EntityType::kPhone, "+86 138 1234 5678", 4);
  expect_only("tel +8613812345678", EntityType::kPhone, "+8613812345678", 4);
  expect_only("tel 0086 13812345678", EntityType::kPhone, "0086 13812345678", 4);
  expect_only("tel (+86)13812345678", EntityType::kPhone, "(+86)13812345678", 4);
  EXPECT_DOUBLE_EQ(score_of("13812345678"), 0.9);
}

TEST(PatternDetectorPhoneTest, IgnoresNumbersThatAreNotChineseMobiles) {
  expect_none("12812345678");         // second digit 2
  expect_none("138123456789");        // 12 digits
  expect_none("order 213812345678");  // part of a longer number
  expect_none("ref A13812345678");    // glued to a letter
}

TEST(PatternDetectorPhoneTest, FindsNorthAmericanNumbers) {
  expect_only("call (415) 555-2671 now", EntityType::kPhone, "(415) 555-2671", 5);
  expect_only("call 415-555-2671", EntityType::kPhone, "415-555-2671", 5);
  expect_only("call 415.555.2671", EntityType::kPhone, "415.555.2671", 5);
  expect_only("call +1 415-555-2671", EntityType::kPhone, "+1 415-555-2671", 5);
}

TEST(PatternDetectorPhoneTest, NationalFormatsNeedAPhoneWordOrAnUnmistakableShape) {
  // Not a valid North-American number (area codes start with 2-9), but shaped like a phone
  // number and nothing else: reported, with the lower score of national formats.
  const PatternDetector detector;
  const auto dashed = detector.detect("015-555-2671");
  ASSERT_EQ(dashed.size(), 1U);
  EXPECT_EQ(dashed[0].type, EntityType::kPhone);
  EXPECT_LT(dashed[0].score, 0.85);
  expect_none("4155552671");  // bare ten digits are too ambiguous
  expect_none("Order 089 72 63 41 arrived");
  expect_only("You can call 089 72 63 41", EntityType::kPhone, "089 72 63 41", 13);
  expect_only("96 228011 office", EntityType::kPhone, "96 228011", 0);
  expect_only("Fax: (978)645-9740x11144", EntityType::kPhone, "(978)645-9740x11144", 5);
  expect_only("联系电话 021-4006034", EntityType::kPhone, "021-4006034", 13);
  expect_only("Landline 089 72 63 41", EntityType::kPhone, "089 72 63 41", 9);
  expect_only("座机 010 6552 3344", EntityType::kPhone, "010 6552 3344", 7);
  expect_only("深圳总部 0755-86013388", EntityType::kPhone, "0755-86013388", 13);  // a Chinese landline's shape
  expect_none("Order 0755-1234 arrived");
  expect_only("Phone: 1994-06-17 08:11", EntityType::kDateTime, "1994-06-17 08:11", 7);  // a date, not a phone
}

TEST(PatternDetectorPhoneTest, FindsInternationalNumbers) {
  expect_only("London +44 20 7946 0958.", EntityType::kPhone, "+44 20 7946 0958", 7);
  expect_only("Berlin +49 (0)30 1234567", EntityType::kPhone, "+49 (0)30 1234567", 7);
  expect_only("NY +1 415 555 2671", EntityType::kPhone, "+1 415 555 2671", 3);
}

TEST(PatternDetectorPhoneTest, KeepsInternationalNumbersWithinFifteenDigits) {
  expect_none("+12 345");               // too short
  expect_none("+1234567890123456789");  // too long
  // The regex runs on into the next number; only the groups that fit are the phone.
  expect_only("+44 20 7946 0958 1234", EntityType::kPhone, "+44 20 7946 0958", 0);
}

// ---- Chinese resident ID ----

TEST(PatternDetectorCnResidentIdTest, FindsValidIds) {
  expect_only("身份证号11010519491231002X，请核对", EntityType::kCnResidentId, "11010519491231002X", 12);
  expect_only("id 11010519491231002x", EntityType::kCnResidentId, "11010519491231002x", 3);
  expect_only("id 110105 19491231 002X", EntityType::kCnResidentId, "110105 19491231 002X", 3);
  expect_only("310115198802291233", EntityType::kCnResidentId, "310115198802291233", 0);
  EXPECT_DOUBLE_EQ(score_of("11010519491231002X"), 1.0);
}

TEST(PatternDetectorCnResidentIdTest, IgnoresLookAlikes) {
  expect_none("身份证号11010519491231003X");  // one digit changed
  expect_none("身份证号110105194902310026");  // 31 February, check char computed to match
  expect_none("身份证号11010521990101002X");  // born in 2199
  expect_none("ID11010519491231002X");        // glued to letters
  expect_none("11010519491231002X1");         // part of a longer run
}

TEST(PatternDetectorCnResidentIdTest, WinsATieWithACardOfTheSameDigits) {
  // Valid resident ID and Luhn-valid with a Visa prefix: reported once, as the ID.
  EXPECT_EQ(found("440304199003070050"), (std::vector<Found>{{EntityType::kCnResidentId, "440304199003070050"}}));
}

// ---- unified social credit code ----

TEST(PatternDetectorCnCreditCodeTest, FindsValidCodes) {
  expect_only("统一社会信用代码91350100M000100Y43", EntityType::kCnCreditCode, "91350100M000100Y43", 24);
  expect_only("USCC 914403001922038216.", EntityType::kCnCreditCode, "914403001922038216", 5);
}

TEST(PatternDetectorCnCreditCodeTest, IgnoresLookAlikes) {
  expect_none("统一社会信用代码91350100M000100Y44");
  expect_none("914403001922038217");
  expect_none("X91350100M000100Y43");
}

// ---- bank card ----

TEST(PatternDetectorBankCardTest, FindsLuhnValidCardsWithOrWithoutSeparators) {
  expect_only("card 4111111111111111 exp", EntityType::kBankCard, "4111111111111111", 5);
  expect_only("card 4111 1111 1111 1111", EntityType::kBankCard, "4111 1111 1111 1111", 5);
  expect_only("card 4111-1111-1111-1111", EntityType::kBankCard, "4111-1111-1111-1111", 5);
  expect_only("Amex 3782 822463 10005", EntityType::kBankCard, "3782 822463 10005", 5);
  expect_only("卡号6212345678901265。", EntityType::kBankCard, "6212345678901265", 6);
  expect_only("银联6217002020000001230", EntityType::kBankCard, "6217002020000001230", 6);
  EXPECT_DOUBLE_EQ(score_of("4111111111111111"), 1.0);
}

TEST(PatternDetectorBankCardTest, DropsTheTrailingGroupThatIsNotPartOfTheCard) {
  expect_only("4111 1111 1111 1111 2026", EntityType::kBankCard, "4111 1111 1111 1111", 0);
}

TEST(PatternDetectorBankCardTest, IgnoresLookAlikes) {
  expect_none("4111111111111112");      // Luhn fails
  expect_none("6212345678901266");      // Luhn fails
  expect_none("41111111111111110000");  // 20 digits hold a valid card, but it is one number
  expect_none("abc4111111111111111");   // glued to letters
  expect_none("4111 1111-1111 1111");   // mixed separators
  expect_none("1111111111111117");      // Luhn-valid, but no card network starts with 1
  expect_none("621234567890128");       // UnionPay 62 needs 16-19 digits
}

// ---- IBAN ----

TEST(PatternDetectorIbanTest, FindsValidIbans) {
  expect_only("IBAN GB82 WEST 1234 5698 7654 32.", EntityType::kIban, "GB82 WEST 1234 5698 7654 32", 5);
  expect_only("IBAN GB82WEST12345698765432", EntityType::kIban, "GB82WEST12345698765432", 5);
  expect_only("to DE89 3704 0044 0532 0130 00", EntityType::kIban, "DE89 3704 0044 0532 0130 00", 3);
  expect_only("FR14 2004 1010 0505 0001 3M02 606", EntityType::kIban, "FR14 2004 1010 0505 0001 3M02 606", 0);
  expect_only("账户NL91ABNA0417164300。", EntityType::kIban, "NL91ABNA0417164300", 6);
  expect_only("BE68 5390 0754 7034 EUR", EntityType::kIban, "BE68 5390 0754 7034", 0);
}

TEST(PatternDetectorIbanTest, IgnoresLookAlikes) {
  expect_none("IBAN GB82WEST12345698765433");
  expect_none("IBAN GB82 WEST 1234 5698 7654 3");
  expect_none("IBAN DE89370400440532013001");
  expect_none("iban gb82west12345698765432");
}

// ---- US SSN ----

TEST(PatternDetectorUsSsnTest, FindsIssuableNumbers) {
  expect_only("SSN 123-45-6789.", EntityType::kUsSsn, "123-45-6789", 4);
  EXPECT_DOUBLE_EQ(score_of("123-45-6789"), 0.85);
}

TEST(PatternDetectorUsSsnTest, IgnoresNumbersNeverIssued) {
  expect_none("000-12-3456");
  expect_none("666-12-3456");
  expect_none("999-12-3456");
  expect_none("123-00-4567");
  expect_none("123-45-0000");
  expect_none("1-123-45-6789");
  expect_none("123-45-6789-1");
}

// ---- IP and MAC addresses ----

TEST(PatternDetectorIpAddressTest, FindsIpv4) {
  expect_only("host 192.168.1.1.", EntityType::kIpAddress, "192.168.1.1", 5);
  expect_only("服务器10.0.0.255上", EntityType::kIpAddress, "10.0.0.255", 9);
}

TEST(PatternDetectorIpAddressTest, IgnoresIpv4LookAlikes) {
  expect_none("256.1.1.1");
  expect_none("1.2.3.4.5");
  expect_none("01.2.3.4");
  expect_none("version 1.2.3");
  // Four dotted numbers named a version are one, not an address; an address after other words stays one.
  expect_none("Version 1.2.3.4 fixes it");
  expect_none("build: 10.0.2.15");
  expect_none("固件版本 2.1.0.3");
  expect_only("dev 10.0.0.1", EntityType::kIpAddress, "10.0.0.1", 4);
  expect_only("server v2 at 10.0.0.1", EntityType::kIpAddress, "10.0.0.1", 13);
}

TEST(PatternDetectorIpAddressTest, FindsIpv6) {
  expect_only("addr 2001:db8::1, ok", EntityType::kIpAddress, "2001:db8::1", 5);
  expect_only("fe80::1ff:fe23:4567:890a", EntityType::kIpAddress, "fe80::1ff:fe23:4567:890a", 0);
  expect_only("link fe80::1: local", EntityType::kIpAddress, "fe80::1", 5);
  expect_only("mapped ::ffff:192.0.2.128", EntityType::kIpAddress, "::ffff:192.0.2.128", 7);
}

TEST(PatternDetectorIpAddressTest, IgnoresIpv6LookAlikes) {
  expect_only("at 12:30:45", EntityType::kDateTime, "12:30:45", 3);  // a time of day
  expect_none("std::vector<int> a::b");
  expect_none("1:2:3:4:5:6:7:8:9");
  expect_none("2001:db8:::1");
  expect_none("::1");
}

TEST(PatternDetectorMacAddressTest, FindsMacAddresses) {
  expect_only("mac 00:1A:2B:3C:4D:5E", EntityType::kMacAddress, "00:1A:2B:3C:4D:5E", 4);
  expect_only("mac 00-1a-2b-3c-4d-5e.", EntityType::kMacAddress, "00-1a-2b-3c-4d-5e", 4);
}

TEST(PatternDetectorMacAddressTest, IgnoresLookAlikes) {
  expect_none("00:1A:2B:3C:4D");
  expect_none("00:1A:2B:3C:4D:5E:6F");
  expect_none("00:1A-2B:3C:4D:5E");
}

// ---- URL credentials and secrets ----

TEST(PatternDetectorUrlCredentialsTest, CoversSchemeToHostAndLeavesThePath) {
  const std::string text = "db postgres://admin:s3cr3t@db.example.com:5432/app?ssl=1";
  // The password@host part also looks like an email address; the longer URL wins.
  expect_only(text, EntityType::kUrlCredentials, "postgres://admin:s3cr3t@db.example.com:5432", 3);
  EXPECT_DOUBLE_EQ(score_of(text), 0.95);
}

TEST(PatternDetectorUrlCredentialsTest, IgnoresUrlsWithoutAPassword) {
  expect_none("https://example.com/path");
  // A user name alone is no credential; "user@example.com" still reads as an email address.
  EXPECT_EQ(found("https://user@example.com/"), (std::vector<Found>{{EntityType::kEmail, "user@example.com"}}));
}

TEST(PatternDetectorSecretTest, FindsKeysWithKnownPrefixes) {
  const std::vector<std::string> keys = {
      "sk-proj-Ab3dE5gH7jK9mN1pQ3sT5vW7xY",
      "sk-Ab3dE5gH7jK9mN1pQ3sT5vW7xYz0123456789AbCdEfGhIj",
      "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
      "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
      "AKIAIOSFODNN7EXAMPLE",
      "xoxb-263594206564-2343594206574-FGqddMF8t08v8N7Oq4i57vs1",
      "AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI",
      "glpat-AbCdEf1234567890XyZw",
      "hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789",
  };
  for (const std::string& key : keys) {
    expect_only("key=" + key + ";", EntityType::kSecret, key, 4);
    EXPECT_DOUBLE_EQ(score_of(key), 0.95) << key;
  }
}

TEST(PatternDetectorSecretTest, FindsTheValueAfterAPasswordOrKeyName) {
  expect_only("password=hunter2 and more", EntityType::kSecret, "hunter2", 9);
  expect_only("Passwd: S3cr3t!x.", EntityType::kSecret, "S3cr3t!x", 8);
  expect_only("api_key = 'abcd1234efgh5678'", EntityType::kSecret, "abcd1234efgh5678", 11);
  expect_only("AUTH_TOKEN=q8w7e6r5t4y3", EntityType::kSecret, "q8w7e6r5t4y3", 11);
  expect_only("我的密码：Abc12345，请记住", EntityType::kSecret, "Abc12345", 15);
  expect_only("口令是 xk92-pq", EntityType::kSecret, "xk92-pq", 10);
}

TEST(PatternDetectorSecretTest, IgnoresPlaceholdersAndWordsAfterAPasswordName) {
  expect_none("password: <your password>");
  expect_none("PASSWORD=${DB_PASSWORD}");
  expect_none("password: ********");
  expect_none("Password: required.");
  expect_none("token: expired");        // a token's value needs 8 characters
  expect_none("max_tokens=4096");       // not a token name
  expect_none("boarding pass: 12345");  // "pass" alone is not a password
  expect_none("I forgot my password yesterday");
}

TEST(PatternDetectorSecretTest, IgnoresPrefixesWithoutARandomBody) {
  expect_none("sk-learn-is-a-python-library");
  expect_none("AKIAIOSFODNN7EXAMPL");  // 15 characters after AKIA
  expect_none("ghp_short");
}

TEST(PatternDetectorSecretTest, FindsPrivateKeyBlocksWholeEvenWithCardLikeDigitsInside) {
  const std::string block =
      "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA 4111111111111111\nabcDEF123+/=\n-----END RSA PRIVATE KEY-----";
  expect_only("key:\n" + block + "\nthanks", EntityType::kSecret, block, 5);
}

TEST(PatternDetectorSecretTest, FindsTheBodyOfATruncatedPrivateKey) {
  const std::string text = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nMIIEpAIBAAKCAQEA";
  expect_only(text, EntityType::kSecret, text, 0);
}

TEST(PatternDetectorSecretTest, FindsTheBodyOfATruncatedEncryptedPrivateKey) {
  const std::string block =
      "-----BEGIN RSA PRIVATE KEY-----\r\nProc-Type: 4,ENCRYPTED\r\nDEK-Info: AES-128-CBC,3F17F5316E2BAC89\r\n\r\n"
      "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC";
  expect_only(block + "\r\n\r\nsent from my phone", EntityType::kSecret, block, 0);
}

TEST(PatternDetectorSecretTest, IgnoresABeginLineMentionedInProse) {
  expect_none("A PEM file starts with -----BEGIN PRIVATE KEY----- and ends with the END line.");
}

TEST(PatternDetectorSecretTest, FindsHighEntropyTokensWithALowerScore) {
  expect_only("token: Xk9pLm2QrT7vWz4YbN8cFd6H", EntityType::kSecret, "Xk9pLm2QrT7vWz4YbN8cFd6H", 7);
  expect_only("secret=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", EntityType::kSecret,
              "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", 7);
  EXPECT_DOUBLE_EQ(score_of("Xk9pLm2QrT7vWz4YbN8cFd6H"), 0.7);
}

TEST(PatternDetectorSecretTest, IgnoresWordsIdentifiersPathsAndHexHashes) {
  expect_none("internationalization and counterrevolutionaries");
  expect_none("getUserAccountById2024 CamelCaseIdentifierName MyVeryLongVariableName123");
  expect_none("HELLO_WORLD_CONSTANT_2024 TestCase_UserLogin_2FA_Enabled");
  expect_none("/usr/lib/x86_64-linux-gnu/libGL.so and org/apache/commons/lang3/StringUtils");
  expect_none("commit 2f4e1c9a8b7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f");
  expect_none("Windows10-Pro-x64-22H2-Build19045 meta-llama/Meta-Llama-3-8B-Instruct");
  expect_none("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1A");
}

// ---- dates ----

TEST(PatternDetectorDateTest, FindsCommonDateFormats) {
  expect_only("born 2024-05-17.", EntityType::kDateTime, "2024-05-17", 5);
  expect_only("at 2024-05-17T10:30:00Z", EntityType::kDateTime, "2024-05-17T10:30:00Z", 3);
  expect_only("born 17/05/2024", EntityType::kDateTime, "17/05/2024", 5);
  expect_only("born 05/17/2024", EntityType::kDateTime, "05/17/2024", 5);
  expect_only("am 17.05.2024 geboren", EntityType::kDateTime, "17.05.2024", 3);
  expect_only("on May 17, 2024.", EntityType::kDateTime, "May 17, 2024", 3);
  expect_only("on 17 May 2024", EntityType::kDateTime, "17 May 2024", 3);
  expect_only("on September 5th, 2023", EntityType::kDateTime, "September 5th, 2023", 3);
  expect_only("the 5th of Sept. 2023", EntityType::kDateTime, "5th of Sept. 2023", 4);
  expect_only("出生于2024年5月17日。", EntityType::kDateTime, "2024年5月17日", 9);
  expect_only("2024 年 05 月 17 号", EntityType::kDateTime, "2024 年 05 月 17 号", 0);
}

TEST(PatternDetectorDateTest, FindsTimesOfDayAndJoinsThemToTheDateBefore) {
  expect_only("see you at 10:30 tomorrow", EntityType::kDateTime, "10:30", 11);
  expect_only("at 9:45 pm.", EntityType::kDateTime, "9:45 pm", 3);
  expect_only("by 7:05 a.m. sharp", EntityType::kDateTime, "7:05 a.m.", 3);
  expect_only("下午14:05开会", EntityType::kDateTime, "14:05", 6);
  expect_only("When: 1993-01-04 14:56:41\nWhere", EntityType::kDateTime, "1993-01-04 14:56:41", 6);
  expect_none("25:00");          // no such hour
  expect_none("10:75");          // no such minute
  expect_none("1:12:30:45:99");  // a longer run of numbers
  expect_none("v10:30");
}

TEST(PatternDetectorDateTest, IgnoresDaysThatDoNotExistAndDatesWithoutAYear) {
  expect_none("2024-02-30");
  expect_none("2023-02-29");
  expect_none("32/13/2024");
  expect_none("May 32, 2024");
  expect_none("2024年13月1日");
  expect_none("I may 17 times");
  expect_none("on May 17");
  expect_none("2024.1.1 release");
  expect_none("1850-01-01");
}

// ---- mixed text, boundaries, ordering ----

TEST(PatternDetectorTest, FindsEveryEntityInAChineseSentence) {
  const std::string text =
      "身份证号11010519491231002X，电话13812345678，卡号6212345678901265，邮箱zhangsan@example.com";
  const std::vector<Entity> entities = detector().detect(text);
  ASSERT_EQ(entities.size(), 4u);
  EXPECT_EQ(entities[0].type, EntityType::kCnResidentId);
  EXPECT_EQ(entities[0].begin, 12u);
  EXPECT_EQ(entities[0].end, 30u);
  EXPECT_EQ(entities[1].type, EntityType::kPhone);
  EXPECT_EQ(entities[1].begin, 39u);
  EXPECT_EQ(entities[1].end, 50u);
  EXPECT_EQ(entities[2].type, EntityType::kBankCard);
  EXPECT_EQ(entities[2].begin, 59u);
  EXPECT_EQ(entities[2].end, 75u);
  EXPECT_EQ(entities[3].type, EntityType::kEmail);
  EXPECT_EQ(entities[3].begin, 84u);
  EXPECT_EQ(entities[3].end, 104u);
}

TEST(PatternDetectorTest, FindsEveryEntityInAnEnglishSentence) {
  const std::string text =
      "Contact Jane at jane.doe@example.com or (415) 555-2671; card 4111 1111 1111 1111, SSN 123-45-6789, "
      "server 10.0.0.1, IBAN DE89370400440532013000, born May 17, 1990.";
  EXPECT_EQ(found(text), (std::vector<Found>{
                             {EntityType::kEmail, "jane.doe@example.com"},
                             {EntityType::kPhone, "(415) 555-2671"},
                             {EntityType::kBankCard, "4111 1111 1111 1111"},
                             {EntityType::kUsSsn, "123-45-6789"},
                             {EntityType::kIpAddress, "10.0.0.1"},
                             {EntityType::kIban, "DE89370400440532013000"},
                             {EntityType::kDateTime, "May 17, 1990"},
                         }));
}

TEST(PatternDetectorTest, FindsNothingInOrdinaryText) {
  expect_none("");
  expect_none("The quick brown fox jumps over the lazy dog in 2024, chapter 3.2, page 17 of 400.");
  expect_none("这是一段普通的中文文本，没有任何个人信息，共有3个段落和12句话。");
}

TEST(PatternDetectorTest, FindsValuesBetweenInvalidUtf8Bytes) {
  const std::string text = std::string("\xff\xfe") + "13812345678" + "\x80";
  expect_only(text, EntityType::kPhone, "13812345678", 2);
}

TEST(PatternDetectorTest, ReturnsSortedNonOverlappingSpans) {
  std::string text;
  for (int i = 0; i < 20; ++i) {
    text += "mail a" + std::to_string(i) + "@example.com, 13812345678, 4111 1111 1111 1111, 2024-05-17, ";
    text += "postgres://u:p" + std::to_string(i) + "@h.example.com 10.0.0." + std::to_string(i) + " ";
  }
  const std::vector<Entity> entities = detector().detect(text);
  ASSERT_EQ(entities.size(), 20u * 6);
  for (size_t i = 0; i < entities.size(); ++i) {
    EXPECT_LT(entities[i].begin, entities[i].end);
    EXPECT_LE(entities[i].end, text.size());
    if (i > 0) {
      EXPECT_LE(entities[i - 1].end, entities[i].begin);
    }
  }
}

TEST(PatternDetectorTest, StaysFastOnHostileInput) {
  // Long runs that keep almost matching: digits, colons, dots, at-signs and token characters.
  for (const std::string& unit : {std::string("1"), std::string("1:"), std::string("1."), std::string("a@"),
                                  std::string("aB3"), std::string("+1 "), std::string("-----BEGIN PRIVATE KEY-----")}) {
    std::string text;
    while (text.size() < 100'000) text += unit;
    const std::vector<Entity> entities = detector().detect(text);
    for (size_t i = 1; i < entities.size(); ++i) EXPECT_LE(entities[i - 1].end, entities[i].begin);
  }
}

}  // namespace
}  // namespace tandem::privacy
