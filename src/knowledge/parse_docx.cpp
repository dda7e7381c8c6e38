// DOCX (Office Open XML) through libzip and libxml2: word/document.xml, each w:p a paragraph
// (a heading when its style is Title or Heading1..9), each table row (w:tr) a kTableRow with its
// cells joined by " | ". The archive is untrusted: the member's declared size and the bytes
// actually inflated are both held to limits.max_extracted_bytes (zip bombs), and the XML is
// parsed without network access, DTDs or entity expansion.
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <zip.h>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <memory>
#include <mutex>
#include <string>

#include "knowledge/parse_internal.h"

namespace tandem::knowledge::detail {
namespace {

constexpr const char* kDocumentMember = "word/document.xml";

struct ZipDiscarder {
  void operator()(zip_t* archive) const { zip_discard(archive); }
};
struct ZipFileCloser {
  void operator()(zip_file_t* file) const { zip_fclose(file); }
};
struct XmlDocFreer {
  void operator()(xmlDoc* doc) const { xmlFreeDoc(doc); }
};

Result<std::string> read_member(zip_t* archive, const char* name, int64_t limit) {
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_stat(archive, name, 0, &st) != 0) {
    return make_error(ErrorCode::kDataLoss, fmt::format("not a Word document: the archive has no {}", name));
  }
  if ((st.valid & ZIP_STAT_SIZE) != 0 && st.size > static_cast<zip_uint64_t>(limit)) {
    return make_error(
        ErrorCode::kResourceExhausted,
        fmt::format("{} declares {} bytes uncompressed, over the limit of {} bytes", name, st.size, limit));
  }
  std::unique_ptr<zip_file_t, ZipFileCloser> file(zip_fopen_index(archive, st.index, 0));
  if (!file) {
    return make_error(ErrorCode::kDataLoss,
                      fmt::format("corrupt DOCX: cannot open {}: {}", name, zip_strerror(archive)));
  }
  // The declared size may lie; count what actually comes out.
  std::string out;
  char chunk[64 * 1024];
  while (true) {
    const zip_int64_t n = zip_fread(file.get(), chunk, sizeof chunk);
    if (n < 0) {
      return make_error(ErrorCode::kDataLoss,
                        fmt::format("corrupt DOCX: reading {}: {}", name, zip_file_strerror(file.get())));
    }
    if (n == 0) break;
    if (static_cast<int64_t>(out.size()) + n > limit) {
      return make_error(ErrorCode::kResourceExhausted,
                        fmt::format("{} inflates to more than the limit of {} bytes", name, limit));
    }
    out.append(chunk, static_cast<size_t>(n));
  }
  return out;
}

bool is_element(const xmlNode* node, const char* local_name) {
  return node->type == XML_ELEMENT_NODE && xmlStrcmp(node->name, reinterpret_cast<const xmlChar*>(local_name)) == 0;
}

std::string attribute(const xmlNode* node, const char* local_name) {
  for (const xmlAttr* attr = node->properties; attr != nullptr; attr = attr->next) {
    if (xmlStrcmp(attr->name, reinterpret_cast<const xmlChar*>(local_name)) != 0) continue;
    if (attr->children != nullptr && attr->children->content != nullptr) {
      return reinterpret_cast<const char*>(attr->children->content);
    }
  }
  return {};
}

// Heading level from the paragraph style id: "Title" 1, "Heading1".."Heading9" (any case,
// spaces ignored, as some writers use "heading 1"), else 0.
int heading_level(const xmlNode* paragraph) {
  for (const xmlNode* props = paragraph->children; props != nullptr; props = props->next) {
    if (!is_element(props, "pPr")) continue;
    for (const xmlNode* style = props->children; style != nullptr; style = style->next) {
      if (!is_element(style, "pStyle")) continue;
      std::string id;
      for (char c : attribute(style, "val")) {
        if (c != ' ') id += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      }
      if (id == "title") return 1;
      if (id.size() == 8 && id.starts_with("heading") && id[7] >= '1' && id[7] <= '9') return id[7] - '0';
    }
  }
  return 0;
}

// The text of runs below `node`: w:t text, w:tab and w:br/w:cr as white space; property
// elements (w:pPr, w:rPr, ...) are skipped; each nested paragraph ends with a line break.
void collect_text(const xmlNode* node, std::string& out) {
  for (const xmlNode* child = node->children; child != nullptr; child = child->next) {
    if (child->type != XML_ELEMENT_NODE) continue;
    const std::string_view name = reinterpret_cast<const char*>(child->name);
    if (name == "t") {
      for (const xmlNode* text = child->children; text != nullptr; text = text->next) {
        if ((text->type == XML_TEXT_NODE || text->type == XML_CDATA_SECTION_NODE) && text->content != nullptr) {
          out += reinterpret_cast<const char*>(text->content);
        }
      }
    } else if (name == "tab") {
      out += '\t';
    } else if (name == "br" || name == "cr") {
      out += '\n';
    } else if (name == "noBreakHyphen") {
      out += '-';
    } else if (!name.ends_with("Pr")) {
      collect_text(child, out);
      if (name == "p") out += '\n';
    }
  }
}

class DocxWalker {
 public:
  explicit DocxWalker(DocumentBuilder& doc) : doc_(doc) {}

  Status blocks(const xmlNode* container) {
    for (const xmlNode* child = container->children; child != nullptr; child = child->next) {
      if (child->type != XML_ELEMENT_NODE) continue;
      Status status;
      if (is_element(child, "p")) {
        status = paragraph(child);
      } else if (is_element(child, "tr")) {
        status = row(child);
      } else {
        status = blocks(child);  // w:tbl, w:sdt, w:sdtContent, w:customXml, ...
      }
      if (!status) return status;
    }
    return {};
  }

 private:
  Status paragraph(const xmlNode* p) {
    std::string text;
    collect_text(p, text);
    const int level = heading_level(p);
    return doc_.add(level > 0 ? BlockKind::kHeading : BlockKind::kParagraph, text, 0, level);
  }

  Status row(const xmlNode* tr) {
    std::string row;
    for (const xmlNode* cell = tr->children; cell != nullptr; cell = cell->next) {
      if (!is_element(cell, "tc")) continue;
      std::string text;
      collect_text(cell, text);
      text = normalize_block(text);
      if (text.empty()) continue;
      std::replace(text.begin(), text.end(), '\n', ' ');
      if (!row.empty()) row += " | ";
      row += text;
    }
    return doc_.add(BlockKind::kTableRow, row);
  }

  DocumentBuilder& doc_;
};

}  // namespace

Result<ParsedDocument> parse_docx(std::string_view bytes, const ParseLimits& limits) {
  zip_error_t error;
  zip_error_init(&error);
  zip_source_t* source = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &error);
  if (source == nullptr) {
    zip_error_fini(&error);
    return make_error(ErrorCode::kInternal, "cannot create a zip source");
  }
  std::unique_ptr<zip_t, ZipDiscarder> archive(zip_open_from_source(source, ZIP_RDONLY, &error));
  if (!archive) {
    zip_source_free(source);
    auto message = fmt::format("not a DOCX file (not a zip archive: {})", zip_error_strerror(&error));
    zip_error_fini(&error);
    return make_error(ErrorCode::kDataLoss, std::move(message));
  }
  zip_error_fini(&error);

  auto xml = read_member(archive.get(), kDocumentMember, limits.max_extracted_bytes);
  if (!xml) return xml.error();
  if (xml->size() > static_cast<size_t>(INT_MAX)) {
    return make_error(ErrorCode::kResourceExhausted, "word/document.xml larger than 2 GiB");
  }
  // Word never writes a DTD; refusing one rules out entity expansion attacks.
  if (xml->find("<!DOCTYPE") != std::string::npos) {
    return make_error(ErrorCode::kDataLoss, "corrupt DOCX: word/document.xml has a DTD");
  }
  static std::once_flag init;
  std::call_once(init, [] { xmlInitParser(); });
  std::unique_ptr<xmlDoc, XmlDocFreer> dom(xmlReadMemory(xml->data(), static_cast<int>(xml->size()), kDocumentMember,
                                                         nullptr,
                                                         XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING));
  if (!dom) return make_error(ErrorCode::kDataLoss, "corrupt DOCX: word/document.xml is not well-formed XML");
  const xmlNode* root = xmlDocGetRootElement(dom.get());
  if (root == nullptr || !is_element(root, "document")) {
    return make_error(ErrorCode::kDataLoss, "corrupt DOCX: word/document.xml has no w:document");
  }
  DocumentBuilder doc(DocumentFormat::kDocx, limits);
  DocxWalker walker(doc);
  if (auto status = walker.blocks(root); !status) return status.error();
  return std::move(doc).finish();
}

}  // namespace tandem::knowledge::detail
