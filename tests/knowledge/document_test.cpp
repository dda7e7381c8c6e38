#include "knowledge/document.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "support/test_support.h"

namespace tandem::knowledge {
namespace {

constexpr std::string_view kWordNs = "http://schemas.openxmlformats.org/wordprocessingml/2006/main";

std::string write_file(const testing::TempDir& dir, const std::string& name, std::string_view bytes) {
  const std::string path = dir.file(name);
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

ParsedDocument parse_ok(std::string_view bytes, std::string_view name, const ParseLimits& limits = {}) {
  auto doc = parse_bytes(bytes, name, limits);
  EXPECT_TRUE(doc.ok()) << (doc.ok() ? "" : doc.error().to_string());
  return doc.ok() ? std::move(*doc) : ParsedDocument{};
}

Error parse_error(std::string_view bytes, std::string_view name, const ParseLimits& limits = {}) {
  auto doc = parse_bytes(bytes, name, limits);
  EXPECT_FALSE(doc.ok()) << "parsed " << name << " into " << (doc.ok() ? doc->blocks.size() : 0) << " blocks";
  return doc.ok() ? Error{ErrorCode::kInternal, "no error"} : doc.error();
}

std::vector<std::string> texts(const ParsedDocument& doc) {
  std::vector<std::string> out;
  for (const auto& block : doc.blocks) out.push_back(block.text);
  return out;
}

bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    const size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return false;
    for (size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += n;
  }
  return true;
}

// A minimal PDF with one Helvetica text line per entry of each page, a document info Title and
// a correct cross-reference table. `encrypted` adds a standard security handler whose user
// password is not empty, so a reader needs a password to open the file.
std::string make_pdf(const std::vector<std::vector<std::string>>& pages, const std::string& title,
                     bool encrypted = false) {
  std::vector<std::string> objects;
  std::string kids;
  for (size_t i = 0; i < pages.size(); ++i) kids += std::to_string(5 + 2 * i) + " 0 R ";
  objects.push_back("<< /Type /Catalog /Pages 2 0 R >>");
  objects.push_back("<< /Type /Pages /Kids [" + kids + "] /Count " + std::to_string(pages.size()) + " >>");
  objects.push_back("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>");
  objects.push_back("<< /Title (" + title + ") >>");
  for (size_t i = 0; i < pages.size(); ++i) {
    objects.push_back(
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> /Contents " +
        std::to_string(6 + 2 * i) + " 0 R >>");
    std::string stream;
    int y = 720;
    for (const auto& line : pages[i]) {
      stream += "BT /F1 12 Tf 72 " + std::to_string(y) + " Td (" + line + ") Tj ET\n";
      y -= 200;  // far apart: separate text blocks
    }
    objects.push_back("<< /Length " + std::to_string(stream.size()) + " >>\nstream\n" + stream + "endstream");
  }
  if (encrypted) {
    objects.push_back("<< /Filter /Standard /V 1 /R 2 /P -4 /O <" + std::string(64, 'a') + "> /U <" +
                      std::string(64, 'b') + "> >>");
  }
  std::string pdf = "%PDF-1.4\n";
  std::vector<size_t> offsets;
  for (size_t i = 0; i < objects.size(); ++i) {
    offsets.push_back(pdf.size());
    pdf += std::to_string(i + 1) + " 0 obj\n" + objects[i] + "\nendobj\n";
  }
  const size_t xref = pdf.size();
  pdf += "xref\n0 " + std::to_string(objects.size() + 1) + "\n0000000000 65535 f \n";
  for (size_t offset : offsets) {
    char entry[32];
    std::snprintf(entry, sizeof entry, "%010zu 00000 n \n", offset);
    pdf += entry;
  }
  pdf += "trailer\n<< /Size " + std::to_string(objects.size() + 1) + " /Root 1 0 R /Info 4 0 R";
  if (encrypted) {
    pdf += " /Encrypt " + std::to_string(objects.size()) + " 0 R /ID [<00112233445566778899aabbccddeeff> " +
           "<00112233445566778899aabbccddeeff>]";
  }
  pdf += " >>\nstartxref\n" + std::to_string(xref) + "\n%%EOF\n";
  return pdf;
}

// A zip archive at `path` with the given members, written with libzip.
void write_zip(const std::string& path, const std::vector<std::pair<std::string, std::string>>& members) {
  int error = 0;
  zip_t* archive = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &error);
  ASSERT_NE(archive, nullptr) << "zip_open error " << error;
  for (const auto& [name, data] : members) {
    zip_source_t* source = zip_source_buffer(archive, data.data(), data.size(), 0);
    ASSERT_NE(source, nullptr);
    ASSERT_GE(zip_file_add(archive, name.c_str(), source, ZIP_FL_OVERWRITE), 0) << zip_strerror(archive);
  }
  ASSERT_EQ(zip_close(archive), 0);
}

std::string word_document(const std::string& body) {
  return "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<w:document xmlns:w=\"" +
         std::string(kWordNs) + "\"><w:body>" + body + "<w:sectPr/></w:body></w:document>";
}

std::string word_paragraph(const std::string& text, const std::string& style = "") {
  std::string p = "<w:p>";
  if (!style.empty()) p += "<w:pPr><w:pStyle w:val=\"" + style + "\"/></w:pPr>";
  return p + "<w:r><w:rPr><w:b/></w:rPr><w:t xml:space=\"preserve\">" + text + "</w:t></w:r></w:p>";
}

std::string word_row(const std::vector<std::string>& cells) {
  std::string row = "<w:tr>";
  for (const auto& cell : cells)
    row += "<w:tc><w:tcPr><w:tcW w:w=\"2000\"/></w:tcPr>" + word_paragraph(cell) + "</w:tc>";
  return row + "</w:tr>";
}

std::string make_docx(const testing::TempDir& dir, const std::string& document_xml) {
  const std::string path = dir.file("doc.docx");
  write_zip(path, {{"[Content_Types].xml", "<Types/>"}, {"word/document.xml", document_xml}});
  return read_file(path);
}

TEST(DocumentFormatTest, ChoosesTheParserFromTheExtension) {
  EXPECT_EQ(*format_for_path("notes.txt"), DocumentFormat::kText);
  EXPECT_EQ(*format_for_path("/var/log/app.LOG"), DocumentFormat::kText);
  EXPECT_EQ(*format_for_path("README.md"), DocumentFormat::kMarkdown);
  EXPECT_EQ(*format_for_path("a.markdown"), DocumentFormat::kMarkdown);
  EXPECT_EQ(*format_for_path("index.htm"), DocumentFormat::kHtml);
  EXPECT_EQ(*format_for_path("x/Lease.PDF"), DocumentFormat::kPdf);
  EXPECT_EQ(*format_for_path("report.docx"), DocumentFormat::kDocx);
  EXPECT_EQ(*format_for_path("data.csv"), DocumentFormat::kCsv);
  EXPECT_EQ(format_name(DocumentFormat::kDocx), "docx");
  for (const char* bad : {"setup.exe", "Makefile", "archive.tar.gz", "dir.md/file", ".txt"}) {
    auto format = format_for_path(bad);
    ASSERT_FALSE(format.ok()) << bad;
    EXPECT_EQ(format.error().code, ErrorCode::kInvalidArgument) << bad;
  }
}

TEST(DocumentTextTest, SplitsParagraphsOnBlankLinesAndCollapsesSpaces) {
  const auto doc =
      parse_ok("\xEF\xBB\xBF  First   line\t\tof one.\r\nSecond line.\r\n\r\n \t \n\nNext   paragraph.\n", "a.txt");
  EXPECT_EQ(doc.format, DocumentFormat::kText);
  EXPECT_EQ(texts(doc), (std::vector<std::string>{"First line of one.\nSecond line.", "Next paragraph."}));
  EXPECT_EQ(doc.blocks[0].kind, BlockKind::kParagraph);
  EXPECT_EQ(doc.blocks[0].page, 0);
  EXPECT_EQ(doc.title, "");
  EXPECT_EQ(doc.pages, 0);
}

TEST(DocumentTextTest, KeepsChineseTextIntact) {
  const std::string chinese = "知识库把文件切成段落。你好！这是真的吗？";
  const auto doc = parse_ok(chinese + "\n第二行，没有空格。\n\n第二段。", "zh.txt");
  EXPECT_EQ(texts(doc), (std::vector<std::string>{chinese + "\n第二行，没有空格。", "第二段。"}));
}

TEST(DocumentTextTest, ReplacesInvalidUtf8InAMostlyValidFile) {
  // Latin-1 "é", a lone continuation byte and a truncated 3-byte sequence in English text.
  const auto doc = parse_ok("Caf\xE9 au lait is served \x80 daily in the garden \xE4\xBD.\n", "menu.txt");
  ASSERT_EQ(doc.blocks.size(), 1u);
  EXPECT_EQ(doc.blocks[0].text, "Caf\uFFFD au lait is served \uFFFD daily in the garden \uFFFD.");
  EXPECT_TRUE(valid_utf8(doc.blocks[0].text));
  EXPECT_EQ(texts(parse_ok("R\xE9sum\xE9", "short.txt")), (std::vector<std::string>{"R\uFFFDsum\uFFFD"}));
}

TEST(DocumentTextTest, RefusesBinaryDataNamedTxt) {
  const std::string elf(
      "\x7F"
      "ELF\x02\x01\x01\x00\x00\x00\x00\x00",
      12);
  auto error = parse_error(elf + "some strings", "program.txt");
  EXPECT_EQ(error.code, ErrorCode::kDataLoss);
  EXPECT_NE(error.message.find("binary data, not text"), std::string::npos) << error.message;

  std::mt19937 rng(7);  // random bytes without NUL: mostly invalid UTF-8
  std::string noise;
  for (int i = 0; i < 4096; ++i) noise += static_cast<char>(1 + rng() % 255);
  error = parse_error(noise, "noise.md");
  EXPECT_EQ(error.code, ErrorCode::kDataLoss);
  EXPECT_NE(error.message.find("binary data, not text"), std::string::npos) << error.message;
  EXPECT_EQ(parse_error(noise, "noise.csv").code, ErrorCode::kDataLoss);
}

TEST(DocumentTextTest, StreamsAFileLongerThanTheReadChunk) {
  testing::TempDir dir;
  std::string text;
  for (int i = 0; i < 20000; ++i) text += "Paragraph number " + std::to_string(i) + " of the log.\n\n";
  ASSERT_GT(text.size(), 3u * 64 * 1024);
  auto doc = parse_file(write_file(dir, "big.log", text));
  ASSERT_TRUE(doc.ok()) << doc.error().to_string();
  ASSERT_EQ(doc->blocks.size(), 20000u);
  EXPECT_EQ(doc->blocks[0].text, "Paragraph number 0 of the log.");
  EXPECT_EQ(doc->blocks[12345].text, "Paragraph number 12345 of the log.");
  EXPECT_EQ(doc->blocks[19999].text, "Paragraph number 19999 of the log.");
}

TEST(DocumentMarkdownTest, KeepsHeadingsParagraphsAndCodeBlocks) {
  const std::string md =
      "# Lease Agreement #\n"
      "\n"
      "The **tenant** pays the _rent_ on the `first` day; see [the terms](https://example.com/t).\n"
      "Keep snake_case and 2 * 3 as they are.\n"
      "\n"
      "Payment Schedule\n"
      "================\n"
      "\n"
      "Late fees\n"
      "---\n"
      "- one item\n"
      "- two item\n"
      "\n"
      "```python\n"
      "def rent():\n"
      "\n"
      "    return 100\n"
      "```\n"
      "###### Deep heading\n"
      "#hashtag is not a heading\n"
      "\n"
      "| Month | Amount |\n"
      "|-------|-------:|\n"
      "| May   | 100    |\n"
      "\n"
      "> Quoted text.\n";
  const auto doc = parse_ok(md, "lease.md");
  EXPECT_EQ(doc.format, DocumentFormat::kMarkdown);
  EXPECT_EQ(doc.title, "Lease Agreement");
  struct Expected {
    BlockKind kind;
    int level;
    std::string text;
  };
  const std::vector<Expected> expected = {
      {BlockKind::kHeading, 1, "Lease Agreement"},
      {BlockKind::kParagraph, 0,
       "The tenant pays the rent on the first day; see the terms.\nKeep snake_case and 2 * 3 as they are."},
      {BlockKind::kHeading, 1, "Payment Schedule"},
      {BlockKind::kHeading, 2, "Late fees"},
      {BlockKind::kParagraph, 0, "- one item\n- two item"},
      {BlockKind::kParagraph, 0, "def rent():\nreturn 100"},
      {BlockKind::kHeading, 6, "Deep heading"},
      {BlockKind::kParagraph, 0, "#hashtag is not a heading"},
      {BlockKind::kTableRow, 0, "Month | Amount"},
      {BlockKind::kTableRow, 0, "May | 100"},
      {BlockKind::kParagraph, 0, "Quoted text."},
  };
  ASSERT_EQ(doc.blocks.size(), expected.size()) << ::testing::PrintToString(texts(doc));
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(doc.blocks[i].kind, expected[i].kind) << i;
    EXPECT_EQ(doc.blocks[i].level, expected[i].level) << i;
    EXPECT_EQ(doc.blocks[i].text, expected[i].text) << i;
  }
}

TEST(DocumentMarkdownTest, ParsesLinesFullOfUnmatchedMarkersInLinearTime) {
  std::string line;
  for (int i = 0; i < 50000; ++i) line += "[a](<b`**c_ ";  // 600 KB: quadratic scanning would hang here
  const auto doc = parse_ok(line + "end", "markers.md");
  ASSERT_EQ(doc.blocks.size(), 1u);
  EXPECT_TRUE(doc.blocks[0].text.ends_with("end")) << doc.blocks[0].text.substr(doc.blocks[0].text.size() - 40);
}

TEST(DocumentMarkdownTest, ParsesTheSameFromFileAndMemory) {
  testing::TempDir dir;
  const std::string md = "## 第一章\n\n中文段落。没有空格！对吗？\n";
  auto from_file = parse_file(write_file(dir, "zh.md", md));
  ASSERT_TRUE(from_file.ok()) << from_file.error().to_string();
  const auto from_memory = parse_ok(md, "zh.md");
  EXPECT_EQ(texts(*from_file), texts(from_memory));
  EXPECT_EQ(texts(from_memory), (std::vector<std::string>{"第一章", "中文段落。没有空格！对吗？"}));
  EXPECT_EQ(from_memory.blocks[0].level, 2);
  EXPECT_EQ(from_memory.title, "第一章");
}

TEST(DocumentHtmlTest, ExtractsTitleHeadingsParagraphsAndRows) {
  const std::string html =
      "<!DOCTYPE html><html><head><title> Quarterly   Report </title>"
      "<style>body { color: red }</style><script>var secret = 'do not index';</script></head>"
      "<body><h1>Results</h1><p>Revenue grew <b>12%</b>\n in Q3 &amp; Q4.</p>"
      "<noscript>Enable JavaScript</noscript><template><p>hidden template</p></template>"
      "<ul><li>First point</li><li>Second<br>line</li></ul>"
      "<h3>Table</h3><table><tr><th>Region</th><th>Sales</th></tr>"
      "<tr><td>North</td><td>1&nbsp;000</td></tr></table>"
      "<div>Loose text<script>alert(1)</script></div><pre>a  b\nc</pre></body></html>";
  const auto doc = parse_ok(html, "report.html");
  EXPECT_EQ(doc.format, DocumentFormat::kHtml);
  EXPECT_EQ(doc.title, "Quarterly Report");
  EXPECT_EQ(texts(doc),
            (std::vector<std::string>{"Results", "Revenue grew 12% in Q3 & Q4.", "First point", "Second\nline", "Table",
                                      "Region | Sales", "North | 1 000", "Loose text", "a b\nc"}));
  EXPECT_EQ(doc.blocks[0].kind, BlockKind::kHeading);
  EXPECT_EQ(doc.blocks[0].level, 1);
  EXPECT_EQ(doc.blocks[4].level, 3);
  EXPECT_EQ(doc.blocks[5].kind, BlockKind::kTableRow);
  EXPECT_EQ(doc.blocks[6].kind, BlockKind::kTableRow);
}

TEST(DocumentHtmlTest, TitleFallsBackToTheFirstHeading) {
  const auto doc = parse_ok("<p>intro</p><h2>Über uns</h2><p>Text</p>", "a.htm");
  EXPECT_EQ(doc.title, "Über uns");
}

TEST(DocumentHtmlTest, RefusesANestingBomb) {
  std::string html;
  for (int i = 0; i < 100000; ++i) html += "<div>";
  EXPECT_EQ(parse_error(html + "deep", "bomb.html").code, ErrorCode::kResourceExhausted);
  html.clear();
  for (int i = 0; i < 100000; ++i) html += "<div/>";  // still nested: HTML ignores the slash on <div/>
  EXPECT_EQ(parse_error(html, "bomb.html").code, ErrorCode::kResourceExhausted);

  // Deep but legitimate: nested tables (each adds implied tbody, tr, td) and self-closed SVG shapes.
  html = "<svg>";
  for (int i = 0; i < 5000; ++i) html += "<path d=\"M0 0\"/>";
  html += "</svg>";
  for (int i = 0; i < 900; ++i) html += "<table><td>";
  const auto doc = parse_ok(html + "innermost", "deep.html");
  EXPECT_EQ(texts(doc), (std::vector<std::string>{"innermost"}));
}

TEST(DocumentCsvTest, TurnsRowsIntoColumnValuePairs) {
  const std::string csv =
      "name,address,note\r\n"
      "\"Smith, Jane\",\"1 Main St\r\nSpringfield\",\"said \"\"hi\"\"\"\r\n"
      "Li Wei,北京市,\r\n"
      "\r\n"
      "Extra,x,y,z\r\n";
  const auto doc = parse_ok(csv, "people.csv");
  EXPECT_EQ(doc.format, DocumentFormat::kCsv);
  EXPECT_EQ(texts(doc), (std::vector<std::string>{
                            "name: Smith, Jane; address: 1 Main St Springfield; note: said \"hi\"",
                            "name: Li Wei; address: 北京市", "name: Extra; address: x; note: y; column 4: z"}));
  for (const auto& block : doc.blocks) EXPECT_EQ(block.kind, BlockKind::kTableRow);
}

TEST(DocumentCsvTest, DetectsSemicolonsAndRefusesAnUnclosedQuote) {
  EXPECT_EQ(texts(parse_ok("Produkt;Preis\nTee;3,50\n", "de.csv")),
            (std::vector<std::string>{"Produkt: Tee; Preis: 3,50"}));
  const auto error = parse_error("a,b\n1,\"open\n2,3\n", "bad.csv");
  EXPECT_EQ(error.code, ErrorCode::kDataLoss);
  EXPECT_NE(error.message.find("line 2"), std::string::npos) << error.message;
}

TEST(DocumentPdfTest, KeepsPagesAndTheirText) {
  const std::string pdf =
      make_pdf({{"Hello from page one.", "A second block on page one."}, {"Page two says goodbye."}}, "Test Title");
  testing::TempDir dir;
  auto doc = parse_file(write_file(dir, "two.pdf", pdf));
  ASSERT_TRUE(doc.ok()) << doc.error().to_string();
  EXPECT_EQ(doc->format, DocumentFormat::kPdf);
  EXPECT_EQ(doc->pages, 2);
  EXPECT_EQ(doc->title, "Test Title");
  ASSERT_EQ(doc->blocks.size(), 3u) << ::testing::PrintToString(texts(*doc));
  EXPECT_EQ(doc->blocks[0].text, "Hello from page one.");
  EXPECT_EQ(doc->blocks[0].page, 1);
  EXPECT_EQ(doc->blocks[1].text, "A second block on page one.");
  EXPECT_EQ(doc->blocks[1].page, 1);
  EXPECT_EQ(doc->blocks[2].text, "Page two says goodbye.");
  EXPECT_EQ(doc->blocks[2].page, 2);
}

TEST(DocumentPdfTest, RefusesTruncatedCorruptAndEncryptedFiles) {
  const std::string pdf = make_pdf({{"Some text."}, {"More text."}}, "T");
  auto error = parse_error(std::string_view(pdf).substr(0, pdf.size() / 2), "cut.pdf");
  EXPECT_EQ(error.code, ErrorCode::kDataLoss);
  EXPECT_NE(error.message.find("truncated"), std::string::npos) << error.message;

  std::string garbled = pdf;
  for (size_t i = 9; i + 20 < garbled.size(); ++i) garbled[i] = static_cast<char>('A' + i % 26);
  EXPECT_EQ(parse_error(garbled, "garbled.pdf").code, ErrorCode::kDataLoss);
  EXPECT_EQ(parse_error("just text", "fake.pdf").code, ErrorCode::kDataLoss);

  error = parse_error(make_pdf({{"Secret."}}, "T", /*encrypted=*/true), "locked.pdf");
  EXPECT_EQ(error.code, ErrorCode::kDataLoss);
  EXPECT_NE(error.message.find("encrypted"), std::string::npos) << error.message;
}

TEST(DocumentDocxTest, ReadsHeadingsParagraphsAndTables) {
  testing::TempDir dir;
  const std::string xml =
      word_document(word_paragraph("Annual Report", "Title") + word_paragraph("Overview", "Heading1") +
                    word_paragraph("Sales rose in   every region.") +
                    "<w:p><w:r><w:t>Split</w:t></w:r><w:r><w:tab/><w:t>run &amp; more</w:t></w:r><w:r><w:br/><w:t>next "
                    "line</w:t></w:r></w:p>" +
                    word_paragraph("Details", "Heading2") + "<w:tbl><w:tblPr/>" + word_row({"Region", "Sales"}) +
                    word_row({"North", "1000"}) + "</w:tbl>" + word_paragraph("中文段落。"));
  const auto doc = parse_ok(make_docx(dir, xml), "report.docx");
  EXPECT_EQ(doc.format, DocumentFormat::kDocx);
  EXPECT_EQ(doc.title, "Annual Report");
  EXPECT_EQ(texts(doc), (std::vector<std::string>{"Annual Report", "Overview", "Sales rose in every region.",
                                                  "Split run & more\nnext line", "Details", "Region | Sales",
                                                  "North | 1000", "中文段落。"}));
  const std::vector<BlockKind> kinds = {BlockKind::kHeading,   BlockKind::kHeading,  BlockKind::kParagraph,
                                        BlockKind::kParagraph, BlockKind::kHeading,  BlockKind::kTableRow,
                                        BlockKind::kTableRow,  BlockKind::kParagraph};
  for (size_t i = 0; i < kinds.size() && i < doc.blocks.size(); ++i) EXPECT_EQ(doc.blocks[i].kind, kinds[i]) << i;
  EXPECT_EQ(doc.blocks[0].level, 1);
  EXPECT_EQ(doc.blocks[1].level, 1);
  EXPECT_EQ(doc.blocks[4].level, 2);
}

TEST(DocumentDocxTest, RefusesFilesThatAreNotWordDocuments) {
  testing::TempDir dir;
  auto error = parse_error("PK\x03\x04 but not really a zip archive", "fake.docx");
  EXPECT_EQ(error.code, ErrorCode::kDataLoss);
  EXPECT_NE(error.message.find("not a DOCX"), std::string::npos) << error.message;

  const std::string path = dir.file("other.zip");
  write_zip(path, {{"hello.txt", "hi"}});
  error = parse_error(read_file(path), "other.docx");
  EXPECT_EQ(error.code, ErrorCode::kDataLoss);
  EXPECT_NE(error.message.find("word/document.xml"), std::string::npos) << error.message;

  EXPECT_EQ(parse_error(make_docx(dir, "<w:document><w:body><w:p>"), "broken.docx").code, ErrorCode::kDataLoss);
}

// 8 MB of XML that deflates to a few KB, read under a 1 MB limit.
std::string zip_bomb(const testing::TempDir& dir) {
  std::string body;
  const std::string p = word_paragraph(std::string(1000, 'a'));
  while (body.size() < 8'000'000) body += p;
  return make_docx(dir, word_document(body));
}

TEST(DocumentDocxTest, RefusesAZipBombByItsDeclaredSize) {
  testing::TempDir dir;
  const std::string docx = zip_bomb(dir);
  ASSERT_LT(docx.size(), 100'000u);
  ParseLimits limits;
  limits.max_extracted_bytes = 1 << 20;
  const auto error = parse_error(docx, "bomb.docx", limits);
  EXPECT_EQ(error.code, ErrorCode::kResourceExhausted);
  EXPECT_NE(error.message.find("declares"), std::string::npos) << error.message;
  EXPECT_TRUE(parse_bytes(docx, "bomb.docx").ok());  // the default limit allows it
}

TEST(DocumentDocxTest, StopsInflatingAZipBombThatLiesAboutItsSize) {
  testing::TempDir dir;
  std::string docx = zip_bomb(dir);
  // Claim 1000 uncompressed bytes in both the local header (offset 22) and the central
  // directory entry (offset 24) of word/document.xml.
  const auto claim_small = [&](size_t at) { docx.replace(at, 4, std::string("\xE8\x03\x00\x00", 4)); };
  const std::string name = "word/document.xml";
  size_t found = 0;
  for (size_t at = docx.find(std::string("PK\x03\x04", 4)); at != std::string::npos;
       at = docx.find(std::string("PK\x03\x04", 4), at + 1)) {
    if (docx.compare(at + 30, name.size(), name) == 0) claim_small(at + 22), ++found;
  }
  for (size_t at = docx.find(std::string("PK\x01\x02", 4)); at != std::string::npos;
       at = docx.find(std::string("PK\x01\x02", 4), at + 1)) {
    if (docx.compare(at + 46, name.size(), name) == 0) claim_small(at + 24), ++found;
  }
  ASSERT_EQ(found, 2u);
  ParseLimits limits;
  limits.max_extracted_bytes = 1 << 20;
  const auto error = parse_error(docx, "liar.docx", limits);
  EXPECT_EQ(error.code, ErrorCode::kResourceExhausted) << error.to_string();
  EXPECT_NE(error.message.find("inflates to more than"), std::string::npos) << error.message;
}

TEST(DocumentLimitsTest, RefusesFilesAndTextOverTheLimits) {
  testing::TempDir dir;
  const std::string path = write_file(dir, "big.txt", std::string(5000, 'x'));
  ParseLimits limits;
  limits.max_file_bytes = 4096;
  auto doc = parse_file(path, limits);
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.error().code, ErrorCode::kResourceExhausted);
  EXPECT_NE(doc.error().message.find("5000"), std::string::npos) << doc.error().message;
  EXPECT_NE(doc.error().message.find("4096"), std::string::npos) << doc.error().message;
  EXPECT_EQ(parse_error(std::string(5000, 'x'), "big.md", limits).code, ErrorCode::kResourceExhausted);

  limits = {};
  limits.max_extracted_bytes = 1000;
  std::string many;
  for (int i = 0; i < 200; ++i) many += "word word\n\n";
  EXPECT_EQ(parse_error(many, "many.txt", limits).code, ErrorCode::kResourceExhausted);
  // One line longer than the limit is refused without holding the whole line.
  doc = parse_file(write_file(dir, "line.txt", std::string(300'000, 'y')), limits);
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.error().code, ErrorCode::kResourceExhausted);
  limits.max_extracted_bytes = 30;  // the two pages below hold 40 bytes of text
  EXPECT_EQ(parse_error(make_pdf({{"Page one has twenty"}, {"Page two has twenty."}}, "T"), "long.pdf", limits).code,
            ErrorCode::kResourceExhausted);
}

TEST(DocumentFileTest, ReportsMissingUnreadableAndOddFiles) {
  testing::TempDir dir;
  auto doc = parse_file(dir.file("missing.txt"));
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.error().code, ErrorCode::kNotFound);

  std::filesystem::create_directories(dir.file("folder.md"));
  doc = parse_file(dir.file("folder.md"));
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.error().code, ErrorCode::kInvalidArgument);

  doc = parse_file(write_file(dir, "program.exe", "MZ"));
  ASSERT_FALSE(doc.ok());
  EXPECT_EQ(doc.error().code, ErrorCode::kInvalidArgument);

  const std::string locked = write_file(dir, "locked.txt", "secret");
  ASSERT_EQ(::chmod(locked.c_str(), 0), 0);
  if (::geteuid() != 0) {  // root reads any file regardless of its mode
    doc = parse_file(locked);
    ASSERT_FALSE(doc.ok());
    EXPECT_EQ(doc.error().code, ErrorCode::kUnavailable);
  }
}

}  // namespace
}  // namespace tandem::knowledge
