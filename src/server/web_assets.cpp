#include "server/web_assets.h"

#include <httplib.h>

#include <string>

namespace tandem::server {
namespace {

constexpr const char* kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// A strong validator: the content's hash, quoted as HTTP wants.
std::string etag_of(const EmbeddedFile& file) {
  return "\"" + std::string(file.sha256.substr(0, 32)) + "\"";
}

bool etag_matches(const std::string& if_none_match, const std::string& etag) {
  if (if_none_match == "*") return true;
  // A list of tags, possibly weak ("W/..."): any equal one means the client's copy is current.
  size_t start = 0;
  while (start < if_none_match.size()) {
    size_t end = if_none_match.find(',', start);
    if (end == std::string::npos) end = if_none_match.size();
    std::string tag = if_none_match.substr(start, end - start);
    tag.erase(0, tag.find_first_not_of(" \t"));
    tag.erase(tag.find_last_not_of(" \t") + 1);
    if (tag.starts_with("W/")) tag.erase(0, 2);
    if (tag == etag) return true;
    start = end + 1;
  }
  return false;
}

void serve(const EmbeddedFile& file, const httplib::Request& req, httplib::Response& res) {
  const std::string etag = etag_of(file);
  res.set_header("Content-Security-Policy", kContentSecurityPolicy);
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("X-Frame-Options", "DENY");
  // Revalidated on every load, so a new binary's page is used at once; unchanged files cost a 304.
  res.set_header("Cache-Control", "no-cache");
  res.set_header("ETag", etag);
  if (req.has_header("If-None-Match") && etag_matches(req.get_header_value("If-None-Match"), etag)) {
    res.status = 304;
    return;
  }
  res.set_content(file.body.data(), file.body.size(), std::string(web_content_type(file.path)).c_str());
}

// httplib routes are regular expressions: the file's path with its special characters escaped.
std::string exact_pattern(std::string_view path) {
  std::string out;
  for (char c : path) {
    if (std::string_view(".[]{}()\\*+?^$|").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out;
}

}  // namespace

const EmbeddedFile* find_web_file(std::string_view url_path) {
  if (url_path == "/") url_path = "/index.html";
  for (const auto& file : embedded_web_files()) {
    if (file.path == url_path) return &file;
  }
  return nullptr;
}

std::string_view web_content_type(std::string_view path) {
  struct Type {
    std::string_view extension;
    std::string_view content_type;
  };
  static constexpr Type kTypes[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".json", "application/json"},
      {".txt", "text/plain; charset=utf-8"},
      {".ico", "image/x-icon"},
  };
  for (const auto& type : kTypes) {
    if (path.ends_with(type.extension)) return type.content_type;
  }
  return "application/octet-stream";
}

void add_web_routes(httplib::Server& http) {
  const EmbeddedFile* index = find_web_file("/");
  if (index) http.Get("/", [index](const httplib::Request& req, httplib::Response& res) { serve(*index, req, res); });
  for (const auto& file : embedded_web_files()) {
    http.Get(exact_pattern(file.path),
             [&file](const httplib::Request& req, httplib::Response& res) { serve(file, req, res); });
  }
}

}  // namespace tandem::server
