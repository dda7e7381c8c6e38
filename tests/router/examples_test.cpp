// Training files: what a user gets wrong in them is refused with the file and line named.
#include <gtest/gtest.h>

#include <fstream>

#include "router/router.h"
#include "support/test_support.h"

namespace tandem::router {
namespace {

using tandem::testing::TempDir;

std::string write(const TempDir& dir, const std::string& name, const std::string& content) {
  std::ofstream(dir.file(name), std::ios::binary) << content;
  return dir.file(name);
}

void expect_refused(const Error& error, const std::string& fragment) {
  EXPECT_EQ(error.code, ErrorCode::kInvalidArgument) << error.message;
  EXPECT_NE(error.message.find(fragment), std::string::npos) << error.message;
}

TEST(ExamplesTest, ReadsIntentAndRoutingLinesSkippingBlankOnes) {
  TempDir dir;
  auto intents = read_intent_examples(
      write(dir, "i.jsonl", "{\"text\": \"hi there\", \"label\": \"chitchat\"}\n\n{\"text\": \"你好\", \"label\": \"chitchat\"}\n"));
  ASSERT_TRUE(intents) << intents.error().message;
  ASSERT_EQ(intents->size(), 2U);
  EXPECT_EQ((*intents)[1].text, "你好");

  auto routing = read_routing_examples(
      write(dir, "r.jsonl", "{\"prompt\": \"2+2?\", \"weak_correct\": true, \"strong_correct\": false}\n"));
  ASSERT_TRUE(routing) << routing.error().message;
  EXPECT_TRUE((*routing)[0].weak_correct);
  EXPECT_FALSE((*routing)[0].strong_correct);
}

TEST(ExamplesTest, BadFilesAreRefusedWithTheLine) {
  TempDir dir;
  const std::string good = "{\"text\": \"ok\", \"label\": \"a\"}\n";
  expect_refused(read_intent_examples(write(dir, "empty.jsonl", "")).error(), "has no examples");
  expect_refused(read_intent_examples(write(dir, "blank.jsonl", "\n  \n")).error(), "has no examples");
  expect_refused(read_intent_examples(write(dir, "bad.jsonl", good + "{\"text\": \"x\",\n")).error(),
                 "bad.jsonl:2: not a JSON object");
  expect_refused(read_intent_examples(write(dir, "arr.jsonl", "[1, 2]\n")).error(), ":1: not a JSON object");
  expect_refused(read_intent_examples(write(dir, "nolabel.jsonl", good + "{\"text\": \"x\"}\n")).error(),
                 ":2: \"label\" must be a string");
  expect_refused(read_intent_examples(write(dir, "emptytext.jsonl", "{\"text\": \" \", \"label\": \"a\"}\n")).error(),
                 "\"text\" is empty");
  expect_refused(read_intent_examples(write(dir, "num.jsonl", "{\"text\": 5, \"label\": \"a\"}\n")).error(),
                 "\"text\" must be a string");
  expect_refused(read_routing_examples(write(dir, "r.jsonl", "{\"prompt\": \"p\", \"weak_correct\": \"yes\", "
                                                             "\"strong_correct\": true}\n"))
                     .error(),
                 "\"weak_correct\" must be true or false");
  const std::string huge = "{\"text\": \"" + std::string(2 << 20, 'a') + "\", \"label\": \"a\"}\n";
  expect_refused(read_intent_examples(write(dir, "huge.jsonl", good + huge)).error(), ":2: line longer than 1 MiB");
  auto missing = read_intent_examples(dir.file("nope.jsonl"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace tandem::router
