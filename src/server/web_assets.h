// The web console: the files of web/, embedded into the binary at build time
// (cmake/embed_web.cmake generates web_assets_data.cpp), so `tandem serve` serves the page from any
// install. The files hold no data and need no API key; the page asks the user for one and sends
// it with every API call it makes.
//
//   add_web_routes(http);                         // GET / (index.html) and each embedded file
//   if (find_web_file(req.path)) ...              // the pre-routing key check lets these through
//
// Every response carries a strict Content-Security-Policy (no inline script or style, nothing
// from another origin), X-Content-Type-Options: nosniff, Referrer-Policy: no-referrer, and
// Cache-Control: no-cache with the file's SHA-256 as its ETag (If-None-Match answers 304).
// Thread-safety: the files are immutable; handlers may run on any thread.
#pragma once

#include <span>
#include <string_view>

namespace httplib {
class Server;
}

namespace tandem::server {

struct EmbeddedFile {
  std::string_view path;    // the URL path, "/index.html", "/assets/app.js"
  std::string_view sha256;  // of the bytes, hex
  std::string_view body;
};

// Every file of web/ (generated at build time).
std::span<const EmbeddedFile> embedded_web_files();

// The embedded file a URL path names ("/" is index.html); null for anything else.
const EmbeddedFile* find_web_file(std::string_view url_path);

// "text/javascript; charset=utf-8" for ".js", ...; application/octet-stream when unknown.
std::string_view web_content_type(std::string_view path);

void add_web_routes(httplib::Server& http);

}  // namespace tandem::server
