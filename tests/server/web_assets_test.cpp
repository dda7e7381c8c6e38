#include "server/web_assets.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace tandem::server {
namespace {

TEST(WebAssetsTest, EmbedsEveryFileOfWebUnderItsUrlPath) {
  const std::filesystem::path web = std::filesystem::path(TANDEM_SOURCE_DIR) / "web";
  size_t files = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(web)) {
    if (!entry.is_regular_file()) continue;
    ++files;
    const std::string path = "/" + std::filesystem::relative(entry.path(), web).generic_string();
    const EmbeddedFile* file = find_web_file(path);
    ASSERT_NE(file, nullptr) << path;
    EXPECT_EQ(file->body.size(), entry.file_size()) << path;
    EXPECT_EQ(file->sha256.size(), 64U) << path;
  }
  EXPECT_EQ(embedded_web_files().size(), files);
}

TEST(WebAssetsTest, TheRootIsTheIndexAndNothingElseIsAFile) {
  ASSERT_NE(find_web_file("/"), nullptr);
  EXPECT_EQ(find_web_file("/"), find_web_file("/index.html"));
  for (const char* path : {"", "index.html", "/assets/", "/assets/../index.html", "/./index.html", "/INDEX.HTML",
                           "/index.html/", "/assets/app.js?x=1", "//index.html"}) {
    EXPECT_EQ(find_web_file(path), nullptr) << path;
  }
}

TEST(WebAssetsTest, ContentTypesFollowTheExtension) {
  EXPECT_EQ(web_content_type("/index.html"), "text/html; charset=utf-8");
  EXPECT_EQ(web_content_type("/assets/app.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(web_content_type("/assets/style.css"), "text/css; charset=utf-8");
  EXPECT_EQ(web_content_type("/logo.svg"), "image/svg+xml");
  EXPECT_EQ(web_content_type("/data.bin"), "application/octet-stream");
  EXPECT_EQ(web_content_type("/js"), "application/octet-stream");
}

}  // namespace
}  // namespace tandem::server
