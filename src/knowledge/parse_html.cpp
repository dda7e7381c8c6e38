// HTML through gumbo (the HTML5 parsing algorithm, so broken markup parses the way browsers do):
// <title> is the title, h1-h6 headings, tr table rows, block elements (p, li, td, pre, div, ...)
// paragraphs; script, style, noscript and template are skipped.
#include <gumbo.h>

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "knowledge/parse_internal.h"

namespace tandem::knowledge::detail {
namespace {

// gumbo frees its tree recursively, so a nesting bomb (<div> a million times) would overflow the
// stack; documents nested deeper than this are refused before gumbo sees them.
constexpr size_t kMaxNesting = 1000;
// Our own walk stops descending here; only reachable through implied elements (a table adds
// tbody, tr and td), so at most 4 * kMaxNesting.
constexpr int kMaxWalkDepth = 4 * kMaxNesting + 100;

bool is_void_or_self_closing(std::string_view name) {
  static constexpr std::string_view kNames[] = {
      "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr", "param",
      "keygen", "basefont", "bgsound", "frame", "image", "isindex", "menuitem",
      // closed implicitly by their next sibling, so they do not nest in practice
      "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "thead", "tbody", "tfoot", "colgroup", "rb", "rt",
      "rp", "rtc", "caption", "html", "head", "body"};
  for (std::string_view known : kNames) {
    if (name == known) return true;
  }
  return false;
}

bool is_raw_text(std::string_view name) {
  return name == "script" || name == "style" || name == "textarea" || name == "title" || name == "xmp" ||
         name == "noscript" || name == "iframe" || name == "noembed" || name == "noframes";
}

// An upper bound on element nesting from the tags alone: an end tag closes only an element that
// is open, as in the HTML tree builder, raw-text elements hide their content, and elements that
// the tree builder closes implicitly (p, li, td, ...) are not counted.
size_t nesting_bound(std::string_view html) {
  std::vector<std::string> stack;
  std::unordered_map<std::string, size_t> open;
  size_t deepest = 0;
  size_t i = 0;
  while ((i = html.find('<', i)) != std::string_view::npos) {
    ++i;
    const bool end_tag = i < html.size() && html[i] == '/';
    if (end_tag) ++i;
    const size_t name_start = i;
    while (i < html.size() && std::isalnum(static_cast<unsigned char>(html[i]))) ++i;
    if (i == name_start) continue;
    std::string name(html.substr(name_start, i - name_start));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const size_t close = html.find('>', i);
    if (close == std::string_view::npos) break;
    // "<div/>" still opens a div in HTML; only SVG and MathML elements can close themselves.
    const bool self_closing = html[close - 1] == '/' && open["svg"] + open["math"] > 0;
    i = close + 1;
    if (end_tag) {
      if (open[name] == 0) continue;
      while (!stack.empty()) {
        std::string top = std::move(stack.back());
        stack.pop_back();
        --open[top];
        if (top == name) break;
      }
      continue;
    }
    if (is_raw_text(name)) {
      // Skip to the matching end tag, whatever its case.
      std::string end = "</" + name;
      size_t found = i;
      while ((found = html.find("</", found)) != std::string_view::npos) {
        std::string candidate(html.substr(found, end.size()));
        for (char& c : candidate) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (candidate == end) break;
        found += 2;
      }
      if (found == std::string_view::npos) break;
      i = found;
      continue;
    }
    if (self_closing || is_void_or_self_closing(name)) continue;
    ++open[name];
    stack.push_back(std::move(name));
    deepest = std::max(deepest, stack.size());
    if (deepest > kMaxNesting) break;
  }
  return deepest;
}

bool is_skipped(GumboTag tag) {
  return tag == GUMBO_TAG_SCRIPT || tag == GUMBO_TAG_STYLE || tag == GUMBO_TAG_NOSCRIPT || tag == GUMBO_TAG_TEMPLATE ||
         tag == GUMBO_TAG_HEAD;
}

bool is_block(GumboTag tag) {
  switch (tag) {
    case GUMBO_TAG_HTML:
    case GUMBO_TAG_BODY:
    case GUMBO_TAG_P:
    case GUMBO_TAG_DIV:
    case GUMBO_TAG_LI:
    case GUMBO_TAG_UL:
    case GUMBO_TAG_OL:
    case GUMBO_TAG_DL:
    case GUMBO_TAG_DT:
    case GUMBO_TAG_DD:
    case GUMBO_TAG_PRE:
    case GUMBO_TAG_BLOCKQUOTE:
    case GUMBO_TAG_SECTION:
    case GUMBO_TAG_ARTICLE:
    case GUMBO_TAG_HEADER:
    case GUMBO_TAG_FOOTER:
    case GUMBO_TAG_NAV:
    case GUMBO_TAG_ASIDE:
    case GUMBO_TAG_MAIN:
    case GUMBO_TAG_TABLE:
    case GUMBO_TAG_THEAD:
    case GUMBO_TAG_TBODY:
    case GUMBO_TAG_TFOOT:
    case GUMBO_TAG_CAPTION:
    case GUMBO_TAG_TD:
    case GUMBO_TAG_TH:
    case GUMBO_TAG_FIGURE:
    case GUMBO_TAG_FIGCAPTION:
    case GUMBO_TAG_FORM:
    case GUMBO_TAG_FIELDSET:
    case GUMBO_TAG_LEGEND:
    case GUMBO_TAG_ADDRESS:
    case GUMBO_TAG_HR:
    case GUMBO_TAG_DETAILS:
    case GUMBO_TAG_SUMMARY:
    case GUMBO_TAG_CENTER:
    case GUMBO_TAG_HGROUP:
      return true;
    default:
      return false;
  }
}

int heading_level(GumboTag tag) {
  switch (tag) {
    case GUMBO_TAG_H1:
      return 1;
    case GUMBO_TAG_H2:
      return 2;
    case GUMBO_TAG_H3:
      return 3;
    case GUMBO_TAG_H4:
      return 4;
    case GUMBO_TAG_H5:
      return 5;
    case GUMBO_TAG_H6:
      return 6;
    default:
      return 0;
  }
}

// Text outside <pre> flows: its line breaks are spaces.
void append_text(std::string& out, const char* text, bool pre) {
  const size_t start = out.size();
  out += text;
  if (!pre) std::replace(out.begin() + static_cast<std::ptrdiff_t>(start), out.end(), '\n', ' ');
}

// All text below `node` on one line (heading, table cell).
void flat_text(const GumboNode* node, std::string& out, int depth) {
  if (depth > kMaxWalkDepth) return;
  if (node->type == GUMBO_NODE_TEXT || node->type == GUMBO_NODE_CDATA || node->type == GUMBO_NODE_WHITESPACE) {
    append_text(out, node->v.text.text, false);
    return;
  }
  if (node->type != GUMBO_NODE_ELEMENT) return;
  const GumboTag tag = node->v.element.tag;
  if (is_skipped(tag)) return;
  const bool separate = tag == GUMBO_TAG_BR || is_block(tag) || heading_level(tag) > 0;
  if (separate) out += ' ';
  const GumboVector& children = node->v.element.children;
  for (unsigned i = 0; i < children.length; ++i) {
    flat_text(static_cast<const GumboNode*>(children.data[i]), out, depth + 1);
  }
  if (separate) out += ' ';
}

class HtmlWalker {
 public:
  explicit HtmlWalker(DocumentBuilder& doc) : doc_(doc) {}

  Status walk(const GumboNode* node, int depth) {
    if (depth > kMaxWalkDepth) return {};
    switch (node->type) {
      case GUMBO_NODE_TEXT:
      case GUMBO_NODE_CDATA:
      case GUMBO_NODE_WHITESPACE:
        append_text(paragraph_, node->v.text.text, pre_);
        return doc_.check_pending(paragraph_.size());
      case GUMBO_NODE_ELEMENT:
      case GUMBO_NODE_TEMPLATE:
        return element(node, depth);
      default:
        return {};
    }
  }

  Status flush() {
    auto status = doc_.add(BlockKind::kParagraph, paragraph_);
    paragraph_.clear();
    return status;
  }

 private:
  Status element(const GumboNode* node, int depth) {
    const GumboTag tag = node->v.element.tag;
    if (is_skipped(tag)) return {};
    if (tag == GUMBO_TAG_BR) {
      paragraph_ += '\n';
      return {};
    }
    if (const int level = heading_level(tag)) {
      if (auto status = flush(); !status) return status;
      std::string text;
      flat_text(node, text, depth);
      return doc_.add(BlockKind::kHeading, text, 0, level);
    }
    if (tag == GUMBO_TAG_TR) return row(node, depth);
    const bool block = is_block(tag);
    if (block) {
      if (auto status = flush(); !status) return status;
    }
    const bool outer_pre = pre_;
    pre_ = pre_ || tag == GUMBO_TAG_PRE;
    const GumboVector& children = node->v.element.children;
    for (unsigned i = 0; i < children.length; ++i) {
      if (auto status = walk(static_cast<const GumboNode*>(children.data[i]), depth + 1); !status) return status;
    }
    pre_ = outer_pre;
    return block ? flush() : Status();
  }

  Status row(const GumboNode* tr, int depth) {
    if (auto status = flush(); !status) return status;
    std::string row;
    const GumboVector& cells = tr->v.element.children;
    for (unsigned i = 0; i < cells.length; ++i) {
      std::string cell;
      flat_text(static_cast<const GumboNode*>(cells.data[i]), cell, depth + 1);
      cell = normalize_block(cell);
      if (cell.empty()) continue;
      if (!row.empty()) row += " | ";
      row += cell;
      if (auto status = doc_.check_pending(row.size()); !status) return status;
    }
    return doc_.add(BlockKind::kTableRow, row);
  }

  DocumentBuilder& doc_;
  std::string paragraph_;
  bool pre_ = false;
};

const GumboNode* find_child(const GumboNode* node, GumboTag tag) {
  if (node == nullptr || node->type != GUMBO_NODE_ELEMENT) return nullptr;
  const GumboVector& children = node->v.element.children;
  for (unsigned i = 0; i < children.length; ++i) {
    const auto* child = static_cast<const GumboNode*>(children.data[i]);
    if (child->type == GUMBO_NODE_ELEMENT && child->v.element.tag == tag) return child;
  }
  return nullptr;
}

struct OutputDeleter {
  void operator()(GumboOutput* output) const { gumbo_destroy_output(&kGumboDefaultOptions, output); }
};

}  // namespace

Result<ParsedDocument> parse_html(std::string_view bytes, const ParseLimits& limits) {
  auto text = repair_text(bytes);
  if (!text) return text.error();
  if (nesting_bound(*text) > kMaxNesting) {
    return make_error(ErrorCode::kResourceExhausted,
                      fmt::format("HTML elements nested deeper than {} levels", kMaxNesting));
  }
  GumboOptions options = kGumboDefaultOptions;
  options.max_errors = 0;  // we never read gumbo's error list
  std::unique_ptr<GumboOutput, OutputDeleter> output(gumbo_parse_with_options(&options, text->data(), text->size()));
  if (!output) return make_error(ErrorCode::kInternal, "HTML parser failed");

  DocumentBuilder doc(DocumentFormat::kHtml, limits);
  if (const GumboNode* title = find_child(find_child(output->root, GUMBO_TAG_HEAD), GUMBO_TAG_TITLE)) {
    std::string title_text;
    flat_text(title, title_text, 0);
    doc.set_title(title_text);
  }
  HtmlWalker walker(doc);
  if (auto status = walker.walk(output->root, 0); !status) return status.error();
  if (auto status = walker.flush(); !status) return status.error();
  return std::move(doc).finish();
}

}  // namespace tandem::knowledge::detail
