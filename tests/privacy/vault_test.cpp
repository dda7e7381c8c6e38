#include "privacy/vault.h"

#include <gtest/gtest.h>

namespace tandem::privacy {
namespace {

Entity at(std::string_view text, std::string_view value, EntityType type) {
  const size_t begin = text.find(value);
  EXPECT_NE(begin, std::string_view::npos) << value;
  return Entity{type, begin, begin + value.size(), 1.0};
}

TEST(VaultTest, ReplacesEachValueWithAStablePlaceholderAndRestoresIt) {
  Vault vault;
  const std::string text = "Mail alice@example.com, then call Alice Smith.";
  const std::string sent = vault.pseudonymize(
      text, {at(text, "alice@example.com", EntityType::kEmail), at(text, "Alice Smith", EntityType::kPerson)});
  EXPECT_EQ(sent, "Mail <EMAIL_1>, then call <PERSON_1>.");
  EXPECT_EQ(vault.restore(sent), text);
  EXPECT_EQ(vault.size(), 2U);
  EXPECT_EQ(vault.counts()[static_cast<size_t>(EntityType::kPerson)], 1);
}

TEST(VaultTest, TheSameValueInALaterTurnGetsTheSamePlaceholder) {
  Vault vault;
  const std::string first = "I am Zhang Wei.";
  const std::string second = "Did zhang  wei or Li Na write?";
  EXPECT_EQ(vault.pseudonymize(first, {at(first, "Zhang Wei", EntityType::kPerson)}), "I am <PERSON_1>.");
  EXPECT_EQ(vault.pseudonymize(
                second, {at(second, "zhang  wei", EntityType::kPerson), at(second, "Li Na", EntityType::kPerson)}),
            "Did <PERSON_1> or <PERSON_2> write?");
  // Restored as first seen.
  EXPECT_EQ(vault.restore("<PERSON_1> and <PERSON_2>"), "Zhang Wei and Li Na");
}

// A detector that finds a name once and misses its repetitions (or finds it in one turn only)
// must not leave the others in clear: the cloud would learn who <PERSON_1> is.
TEST(VaultTest, RepetitionsOfAFoundValueAreReplacedEverywhere) {
  Vault vault;
  const std::string first = "李娜是我的同事。李娜住在上海。Smith called.";
  const std::string second = "我和李娜明天见。Later John Smith wrote; Smith is nice, Smithson is not. Mail a@b.cn";
  const std::string sent_first =
      vault.pseudonymize(first, {at(first, "李娜", EntityType::kPerson), at(first, "Smith", EntityType::kPerson)});
  const std::string sent_second = vault.pseudonymize(second, {at(second, "John Smith", EntityType::kPerson)});
  EXPECT_EQ(vault.replace_known(sent_first), "<PERSON_1>是我的同事。<PERSON_1>住在上海。<PERSON_2> called.");
  EXPECT_EQ(vault.replace_known(sent_second),
            "我和<PERSON_1>明天见。Later <PERSON_3> wrote; <PERSON_2> is nice, Smithson is not. Mail a@b.cn");
  // Stop strings carry no entities of their own; a found value in one goes out as its placeholder.
  EXPECT_EQ(vault.replace_known("John Smith:"), "<PERSON_3>:");
  EXPECT_EQ(vault.restore(vault.replace_known(second)), second);
}

// A user's own text about placeholders ("<PERSON_1>" in a template) keeps its meaning: values get
// other numbers, and restoring the answer leaves the user's placeholders as written.
TEST(VaultTest, PlaceholdersAlreadyInTheInputAreNotHandedOutOrRestored) {
  Vault vault;
  const std::string text = "In templates, <PERSON_1> and <EMAIL_1> are placeholders. I am John Smith, mail j@x.org.";
  vault.reserve_placeholders_in(text);
  const std::string sent =
      vault.pseudonymize(text, {at(text, "John Smith", EntityType::kPerson), at(text, "j@x.org", EntityType::kEmail)});
  EXPECT_EQ(sent, "In templates, <PERSON_1> and <EMAIL_1> are placeholders. I am <PERSON_2>, mail <EMAIL_2>.");
  EXPECT_EQ(vault.restore(sent), text);
  EXPECT_EQ(vault.counts()[static_cast<size_t>(EntityType::kPerson)], 1);
}

TEST(VaultTest, RestoresLooselyEchoedPlaceholdersAndLeavesOtherTextAlone) {
  Vault vault;
  const std::string text = "张伟的电话是13812345678";
  vault.pseudonymize(text, {at(text, "张伟", EntityType::kPerson), at(text, "13812345678", EntityType::kPhone)});
  EXPECT_EQ(vault.restore("[PERSON_1] / PERSON_1 / <PHONE_1>。"), "张伟 / 张伟 / 13812345678。");
  // Unknown numbers, lower case, longer words and a lone bracket are the model's own text.
  EXPECT_EQ(vault.restore("PERSON_2 person_1 XPERSON_1 PERSON_10 <PERSON_1"),
            "PERSON_2 person_1 XPERSON_1 PERSON_10 <张伟");
}

TEST(VaultTest, NothingToReplaceLeavesTheTextAsItIs) {
  Vault vault;
  EXPECT_EQ(vault.pseudonymize("no personal data", {}), "no personal data");
  EXPECT_EQ(vault.restore("PERSON_1"), "PERSON_1");
}

std::string stream_through(const Vault& vault, const std::vector<std::string>& deltas) {
  StreamRestorer restorer(vault);
  std::string out;
  for (const auto& d : deltas) out += restorer.push(d);
  return out + restorer.finish();
}

TEST(StreamRestorerTest, APlaceholderSplitAcrossDeltasIsRestored) {
  Vault vault;
  const std::string text = "Write to Bob Jones at bob@example.org";
  vault.pseudonymize(text,
                     {at(text, "Bob Jones", EntityType::kPerson), at(text, "bob@example.org", EntityType::kEmail)});
  EXPECT_EQ(stream_through(vault, {"Dear <PER", "SON_", "1>, your mail <EMAIL", "_1", "> works."}),
            "Dear Bob Jones, your mail bob@example.org works.");
  EXPECT_EQ(stream_through(vault, {"Hi PERSON", "_1"}), "Hi Bob Jones");
  // Every split point of the same answer gives the same text.
  const std::string answer = "<PERSON_1> wrote to EMAIL_1 twice.";
  for (size_t cut = 0; cut <= answer.size(); ++cut) {
    EXPECT_EQ(stream_through(vault, {answer.substr(0, cut), answer.substr(cut)}),
              "Bob Jones wrote to bob@example.org twice.")
        << "cut at " << cut;
  }
}

TEST(StreamRestorerTest, OrdinaryTextIsNotHeldBackLongerThanAWord) {
  Vault vault;
  const std::string text = "Ann";
  vault.pseudonymize(text, {Entity{EntityType::kPerson, 0, 3, 1.0}});
  StreamRestorer restorer(vault);
  EXPECT_EQ(restorer.push("Hello there, "), "Hello there, ");
  EXPECT_EQ(restorer.push("how"), "");  // the word may go on
  EXPECT_EQ(restorer.push(" are"), "how ");
  EXPECT_EQ(restorer.finish(), "are");
  // A run longer than any placeholder cannot be one.
  EXPECT_EQ(restorer.push("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
}

}  // namespace
}  // namespace tandem::privacy
