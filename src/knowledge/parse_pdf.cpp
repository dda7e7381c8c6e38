// PDF through poppler-cpp: text per page in reading order, one kParagraph per text block (poppler
// separates blocks with blank lines), each tagged with its 1-based page. The document info
// "Title" is the title. Encrypted files without an empty user password, truncated files and
// files poppler cannot open are kDataLoss.
#include <poppler-document.h>
#include <poppler-global.h>
#include <poppler-page.h>

#include <fmt/format.h>

#include <climits>
#include <memory>
#include <mutex>

#include "knowledge/parse_internal.h"

namespace tandem::knowledge::detail {
namespace {

constexpr size_t kMarkerWindow = 1024;  // readers accept %PDF- and %%EOF this far from the edges

void ignore_poppler_message(const std::string& /*message*/, void* /*closure*/) {}

std::string to_string(const poppler::ustring& text) {
  const poppler::byte_array utf8 = text.to_utf8();
  return std::string(utf8.data(), utf8.size());
}

}  // namespace

Result<ParsedDocument> parse_pdf(std::string_view bytes, const ParseLimits& limits) {
  if (bytes.substr(0, kMarkerWindow).find("%PDF-") == std::string_view::npos) {
    return make_error(ErrorCode::kDataLoss, "not a PDF file (no %PDF- header)");
  }
  // poppler rebuilds a damaged cross-reference table and would return whatever part of a cut
  // file it finds; a file without its end marker is refused instead.
  if (bytes.substr(bytes.size() - std::min(bytes.size(), kMarkerWindow)).find("%%EOF") == std::string_view::npos) {
    return make_error(ErrorCode::kDataLoss, "truncated PDF (no %%EOF marker at the end)");
  }
  if (bytes.size() > static_cast<size_t>(INT_MAX)) {
    return make_error(ErrorCode::kResourceExhausted, "PDF larger than 2 GiB");
  }
  // poppler prints its diagnostics to stderr unless told otherwise; libraries do not write there.
  static std::once_flag quiet;
  std::call_once(quiet, [] { poppler::set_debug_error_function(ignore_poppler_message, nullptr); });

  std::unique_ptr<poppler::document> pdf(
      poppler::document::load_from_raw_data(bytes.data(), static_cast<int>(bytes.size())));
  if (!pdf) return make_error(ErrorCode::kDataLoss, "corrupt PDF: it cannot be opened");
  if (pdf->is_locked()) return make_error(ErrorCode::kDataLoss, "encrypted PDF: a password is needed to read it");
  const int pages = pdf->pages();
  if (pages <= 0) return make_error(ErrorCode::kDataLoss, "corrupt PDF: no pages");

  DocumentBuilder doc(DocumentFormat::kPdf, limits);
  doc.set_pages(pages);
  doc.set_title(to_string(pdf->info_key("Title")));
  for (int i = 0; i < pages; ++i) {
    std::unique_ptr<poppler::page> page(pdf->create_page(i));
    if (!page) return make_error(ErrorCode::kDataLoss, fmt::format("corrupt PDF: page {} cannot be read", i + 1));
    const std::string text = to_string(page->text(poppler::rectf(), poppler::page::non_raw_non_physical_layout));
    if (auto status = doc.add_paragraphs(text, i + 1); !status) return status.error();
  }
  return std::move(doc).finish();
}

}  // namespace tandem::knowledge::detail
