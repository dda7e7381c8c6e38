#include "core/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <fstream>

#include "support/test_support.h"

namespace tandem {
namespace {

std::string write_file(const testing::TempDir& dir, const std::string& text) {
  std::string path = dir.file("tandem.toml");
  std::ofstream(path) << text;
  return path;
}

TEST(Config, DefaultsWithoutFile) {
  auto config = load_config("");
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->server_host, "127.0.0.1");
  EXPECT_EQ(config->server_port, 8080);
  EXPECT_EQ(config->engine_slots, 4);
  EXPECT_EQ(config->engine_model, default_chat_model_path());
}

TEST(Config, FileThenEnvironmentThenOverrides) {
  testing::TempDir dir;
  auto path = write_file(dir, "[server]\nport = 9000\nhost = \"0.0.0.0\"\n[engine]\nslots = 2\n");
  setenv("TANDEM_ENGINE_SLOTS", "3", 1);
  auto config = load_config(path, {{"server.port", "9100"}});
  unsetenv("TANDEM_ENGINE_SLOTS");
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_EQ(config->server_host, "0.0.0.0");
  EXPECT_EQ(config->engine_slots, 3);
  EXPECT_EQ(config->server_port, 9100);
}

TEST(Config, RefusesBadValuesNamingTheField) {
  testing::TempDir dir;
  struct Case {
    std::string toml;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"[server]\nport = \"eighty\"\n", "server.port must be an integer"},
      {"[server]\nport = 70000\n", "server.port = 70000 is out of range"},
      {"[server]\nprot = 1\n", "unknown setting 'server.prot'"},
      {"[engine]\noverflow = \"drop\"\n", "engine.overflow = 'drop' is not one of: error, truncate"},
      {"port = 1\n", "'port' must be a [section]"},
      {"[server\nport = 1\n", "tandem.toml:1"},
      {"[engine]\ndefault_max_tokens = 9000\nmax_tokens = 100\n", "default_max_tokens must not exceed"},
      {"[router]\ncloud_share = 1.5\n", "router.cloud_share = 1.5 is out of range [0, 1]"},
      {"[router]\ncloud_share = \"a third\"\n", "router.cloud_share must be a number"},
  };
  for (const auto& c : cases) {
    auto config = load_config(write_file(dir, c.toml));
    ASSERT_FALSE(config.ok()) << c.toml;
    EXPECT_EQ(config.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(config.error().message.find(c.expected), std::string::npos) << config.error().message;
  }
}

TEST(Config, RefusesBadEnvironmentAndOverrides) {
  setenv("TANDEM_SERVER_PORT", "12ab", 1);
  auto from_env = load_config("");
  unsetenv("TANDEM_SERVER_PORT");
  ASSERT_FALSE(from_env.ok());
  EXPECT_NE(from_env.error().message.find("TANDEM_SERVER_PORT"), std::string::npos);

  auto unknown = load_config("", {{"engine.slot", "2"}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("engine.slot"), std::string::npos);
}

TEST(Config, NumbersComeFromFilesIntegersAndText) {
  testing::TempDir dir;
  auto config = load_config(write_file(dir, "[cloud]\ninput_usd_per_mtok = 2\noutput_usd_per_mtok = 7.5\n"),
                            {{"router.cloud_share", "0.25"}});
  ASSERT_TRUE(config.ok()) << config.error().message;
  EXPECT_DOUBLE_EQ(config->cloud_input_usd_per_mtok, 2.0);
  EXPECT_DOUBLE_EQ(config->cloud_output_usd_per_mtok, 7.5);
  EXPECT_DOUBLE_EQ(config->router_cloud_share, 0.25);
  EXPECT_EQ(setting_value(*config, "router.cloud_share"), "0.25");
  auto bad = load_config("", {{"cloud.input_usd_per_mtok", "cheap"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("must be a number, got 'cheap'"), std::string::npos) << bad.error().message;
}

TEST(Config, MissingFileIsNotFound) {
  auto config = load_config("/nonexistent/tandem.toml");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.error().code, ErrorCode::kNotFound);
}

TEST(Config, EverySettingIsListedWithHelpAndEnvironmentName) {
  auto settings = list_settings();
  ASSERT_GE(settings.size(), 15u);
  for (const auto& s : settings) {
    EXPECT_FALSE(s.help.empty()) << s.key;
    EXPECT_EQ(s.env.rfind("TANDEM_", 0), 0u) << s.key;
    EXPECT_TRUE(s.type == "string" || s.type == "integer" || s.type == "number") << s.key;
  }
}

TEST(SplitSettingList, TrimsItemsAndSkipsEmptyOnes) {
  EXPECT_EQ(split_setting_list(" CUDA0, RPC0 ,,cpu "), (std::vector<std::string>{"CUDA0", "RPC0", "cpu"}));
  EXPECT_TRUE(split_setting_list("").empty());
  EXPECT_TRUE(split_setting_list(" , ").empty());
  EXPECT_EQ(split_setting_list("cpu; CUDA0,CUDA1 ;", ';'), (std::vector<std::string>{"cpu", "CUDA0,CUDA1"}));
  EXPECT_EQ(split_setting_list("127.0.0.1:50052"), (std::vector<std::string>{"127.0.0.1:50052"}));
}

}  // namespace
}  // namespace tandem
