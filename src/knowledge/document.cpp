// Format dispatch, file access and limits for all parsers, and the plain-text parser.
#include "knowledge/document.h"

#include <sys/stat.h>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <new>

#include "knowledge/parse_internal.h"

namespace tandem::knowledge {
namespace {

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

Error file_error(int err, const std::string& path) {
  if (err == ENOENT || err == ENOTDIR) return make_error(ErrorCode::kNotFound, fmt::format("no such file: {}", path));
  return make_error(ErrorCode::kUnavailable, fmt::format("cannot read {}: {}", path, std::strerror(err)));
}

Error too_big(int64_t size, int64_t limit) {
  return make_error(ErrorCode::kResourceExhausted,
                    fmt::format("file is {} bytes, over the limit of {} bytes", size, limit));
}

Result<std::string> read_all(std::FILE* file, const std::string& path, int64_t expected, int64_t limit) {
  std::string bytes;
  bytes.reserve(static_cast<size_t>(expected));
  char chunk[64 * 1024];
  while (true) {
    const size_t n = std::fread(chunk, 1, sizeof chunk, file);
    bytes.append(chunk, n);
    if (static_cast<int64_t>(bytes.size()) > limit) return too_big(static_cast<int64_t>(bytes.size()), limit);
    if (n < sizeof chunk) break;
  }
  if (std::ferror(file)) return file_error(errno, path);
  return bytes;
}

Result<ParsedDocument> parse_lines(DocumentFormat format, detail::LineReader& lines, const ParseLimits& limits) {
  switch (format) {
    case DocumentFormat::kMarkdown:
      return detail::parse_markdown(lines, limits);
    case DocumentFormat::kCsv:
      return detail::parse_csv(lines, limits);
    default:
      return detail::parse_text(lines, limits);
  }
}

Result<ParsedDocument> parse_memory(DocumentFormat format, std::string_view bytes, const ParseLimits& limits) {
  switch (format) {
    case DocumentFormat::kHtml:
      return detail::parse_html(bytes, limits);
    case DocumentFormat::kPdf:
      return detail::parse_pdf(bytes, limits);
    case DocumentFormat::kDocx:
      return detail::parse_docx(bytes, limits);
    default: {
      detail::LineReader lines(bytes, limits);
      return parse_lines(format, lines, limits);
    }
  }
}

bool is_line_format(DocumentFormat format) {
  return format == DocumentFormat::kText || format == DocumentFormat::kMarkdown || format == DocumentFormat::kCsv;
}

// Exceptions (allocation failures, library errors) become errors here, at the module boundary.
template <typename Fn>
Result<ParsedDocument> guarded(Fn&& fn) {
  try {
    return fn();
  } catch (const std::bad_alloc&) {
    return make_error(ErrorCode::kResourceExhausted, "out of memory while parsing");
  } catch (const std::exception& e) {
    return make_error(ErrorCode::kInternal, fmt::format("parser failed: {}", e.what()));
  } catch (...) {
    return make_error(ErrorCode::kInternal, "parser failed");
  }
}

}  // namespace

std::string_view format_name(DocumentFormat format) {
  switch (format) {
    case DocumentFormat::kText:
      return "text";
    case DocumentFormat::kMarkdown:
      return "markdown";
    case DocumentFormat::kHtml:
      return "html";
    case DocumentFormat::kPdf:
      return "pdf";
    case DocumentFormat::kDocx:
      return "docx";
    case DocumentFormat::kCsv:
      return "csv";
  }
  return "unknown";
}

Result<DocumentFormat> format_for_path(std::string_view path) {
  const size_t slash = path.find_last_of('/');
  const std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  const size_t dot = name.find_last_of('.');
  if (dot == std::string_view::npos || dot == 0) {
    return make_error(ErrorCode::kInvalidArgument, fmt::format("unsupported file type (no extension): {}", name));
  }
  std::string ext(name.substr(dot + 1));
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  if (ext == "txt" || ext == "text" || ext == "log") return DocumentFormat::kText;
  if (ext == "md" || ext == "markdown") return DocumentFormat::kMarkdown;
  if (ext == "html" || ext == "htm") return DocumentFormat::kHtml;
  if (ext == "pdf") return DocumentFormat::kPdf;
  if (ext == "docx") return DocumentFormat::kDocx;
  if (ext == "csv") return DocumentFormat::kCsv;
  return make_error(ErrorCode::kInvalidArgument, fmt::format("unsupported file type .{}", ext));
}

Result<ParsedDocument> parse_file(const std::string& path, const ParseLimits& limits) {
  auto format = format_for_path(path);
  if (!format) return format.error();
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return file_error(errno, path);
  if (!S_ISREG(st.st_mode)) return make_error(ErrorCode::kInvalidArgument, fmt::format("not a regular file: {}", path));
  if (st.st_size > limits.max_file_bytes) return too_big(st.st_size, limits.max_file_bytes);
  FilePtr file(std::fopen(path.c_str(), "rb"));
  if (!file) return file_error(errno, path);
  return guarded([&]() -> Result<ParsedDocument> {
    if (is_line_format(*format)) {
      detail::LineReader lines(file.get(), limits);
      return parse_lines(*format, lines, limits);
    }
    auto bytes = read_all(file.get(), path, st.st_size, limits.max_file_bytes);
    if (!bytes) return bytes.error();
    return parse_memory(*format, *bytes, limits);
  });
}

Result<ParsedDocument> parse_bytes(std::string_view bytes, std::string_view name, const ParseLimits& limits) {
  auto format = format_for_path(name);
  if (!format) return format.error();
  if (static_cast<int64_t>(bytes.size()) > limits.max_file_bytes) {
    return too_big(static_cast<int64_t>(bytes.size()), limits.max_file_bytes);
  }
  return guarded([&] { return parse_memory(*format, bytes, limits); });
}

namespace detail {

Result<ParsedDocument> parse_text(LineReader& lines, const ParseLimits& limits) {
  DocumentBuilder doc(DocumentFormat::kText, limits);
  std::string paragraph;
  std::string line;
  while (true) {
    auto more = lines.next(line);
    if (!more) return more.error();
    if (!*more) break;
    if (is_blank_line(line)) {
      if (auto status = doc.add(BlockKind::kParagraph, paragraph); !status) return status.error();
      paragraph.clear();
      continue;
    }
    if (!paragraph.empty()) paragraph += '\n';
    paragraph += line;
    if (auto status = doc.check_pending(paragraph.size()); !status) return status.error();
  }
  if (auto status = doc.add(BlockKind::kParagraph, paragraph); !status) return status.error();
  return std::move(doc).finish();
}

}  // namespace detail
}  // namespace tandem::knowledge
