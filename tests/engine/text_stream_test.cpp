#include "engine/text_stream.h"

#include <gtest/gtest.h>

namespace tandem::engine {
namespace {

TEST(TextStream, PassesPlainTextThrough) {
  TextStream text;
  EXPECT_FALSE(text.append("Hello"));
  EXPECT_EQ(text.take_ready(), "Hello");
  EXPECT_FALSE(text.append(", world"));
  EXPECT_EQ(text.take_ready(), ", world");
  EXPECT_EQ(text.take_rest(), "");
}

TEST(TextStream, HoldsBackSplitUtf8Character) {
  const std::string ni = "\xE4\xBD\xA0";  // 你
  TextStream text;
  text.append(ni.substr(0, 2));
  EXPECT_EQ(text.take_ready(), "");
  text.append(ni.substr(2) + "a");
  EXPECT_EQ(text.take_ready(), ni + "a");
}

TEST(TextStream, DropsIncompleteCharacterAtTheEnd) {
  TextStream text;
  text.append("ok\xF0\x9F");
  EXPECT_EQ(text.take_rest(), "ok");
}

TEST(TextStream, CutsAtStopSequenceAcrossPieces) {
  TextStream text({"END"});
  EXPECT_FALSE(text.append("abc E"));
  EXPECT_EQ(text.take_ready(), "abc ");  // "E" may begin "END": held back
  EXPECT_FALSE(text.append("N"));
  EXPECT_EQ(text.take_ready(), "");
  EXPECT_TRUE(text.append("D and more"));
  EXPECT_EQ(text.take_rest(), "");
}

TEST(TextStream, ReleasesHeldTextWhenStopDoesNotComplete) {
  TextStream text({"END"});
  text.append("EN");
  EXPECT_EQ(text.take_ready(), "");
  text.append("VOY");
  EXPECT_EQ(text.take_ready(), "ENVOY");
}

TEST(TextStream, EarliestOfSeveralStops) {
  TextStream text({"\n\n", "User:"});
  EXPECT_TRUE(text.append("one User: two\n\nthree"));
  EXPECT_EQ(text.take_rest(), "one ");
}

TEST(Utf8, ValidatesWellFormedText) {
  EXPECT_TRUE(is_valid_utf8("plain ascii"));
  EXPECT_TRUE(is_valid_utf8("\xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x98\x80"));
  EXPECT_FALSE(is_valid_utf8("\xFF"));
  EXPECT_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xED\xA0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xE4\xBD"));          // truncated
  EXPECT_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
}

}  // namespace
}  // namespace tandem::engine
