// CSV (RFC 4180): quoted fields may hold delimiters, doubled quotes and line breaks. The first
// record names the columns; every later record becomes one kTableRow "col1: v1; col2: v2" so a
// row read alone (as a retrieval chunk) still says what its values mean. The delimiter is the
// most frequent of ',' ';' and tab in the first line (spreadsheets export ';' in many locales).
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "knowledge/parse_internal.h"

namespace tandem::knowledge::detail {
namespace {

char guess_delimiter(std::string_view first_line) {
  std::array<size_t, 3> counts{};
  constexpr std::array<char, 3> kCandidates = {',', ';', '\t'};
  bool quoted = false;
  for (char c : first_line) {
    if (c == '"') quoted = !quoted;
    for (size_t k = 0; k < kCandidates.size(); ++k) counts[k] += !quoted && c == kCandidates[k];
  }
  const size_t best = static_cast<size_t>(std::max_element(counts.begin(), counts.end()) - counts.begin());
  return counts[best] == 0 ? ',' : kCandidates[best];
}

std::string one_line(std::string_view value) {
  std::string out = normalize_block(value);
  std::replace(out.begin(), out.end(), '\n', ' ');
  return out;
}

class CsvParser {
 public:
  explicit CsvParser(const ParseLimits& limits) : doc_(DocumentFormat::kCsv, limits) {}

  Status line(std::string_view line, int64_t line_number) {
    if (!in_quotes_) {
      if (is_blank_line(line)) return {};
      record_line_ = line_number;
      if (delimiter_ == 0) delimiter_ = guess_delimiter(line);
    }
    for (size_t i = 0; i < line.size(); ++i) {
      const char c = line[i];
      if (in_quotes_) {
        if (c != '"') {
          field_ += c;
        } else if (i + 1 < line.size() && line[i + 1] == '"') {
          field_ += '"';
          ++i;
        } else {
          in_quotes_ = false;
        }
      } else if (c == delimiter_) {
        end_field();
      } else if (c == '"' && field_.empty()) {
        in_quotes_ = true;
      } else {
        field_ += c;  // a stray quote inside an unquoted field is kept as text
      }
    }
    record_bytes_ += line.size() + 1;
    if (auto status = doc_.check_pending(record_bytes_); !status) return status;
    if (in_quotes_) {
      field_ += '\n';
      return {};
    }
    end_field();
    return end_record();
  }

  Result<ParsedDocument> finish() && {
    if (in_quotes_) {
      return make_error(ErrorCode::kDataLoss,
                        fmt::format("CSV: quoted field opened on line {} is never closed", record_line_));
    }
    return std::move(doc_).finish();
  }

 private:
  void end_field() {
    fields_.push_back(one_line(field_));
    field_.clear();
  }

  Status end_record() {
    std::vector<std::string> fields = std::move(fields_);
    fields_.clear();
    record_bytes_ = 0;
    if (header_.empty()) {
      for (size_t i = 0; i < fields.size(); ++i) {
        header_.push_back(fields[i].empty() ? fmt::format("column {}", i + 1) : std::move(fields[i]));
      }
      return {};
    }
    std::string row;
    for (size_t i = 0; i < fields.size(); ++i) {
      if (fields[i].empty()) continue;
      if (!row.empty()) row += "; ";
      row += i < header_.size() ? header_[i] : fmt::format("column {}", i + 1);
      row += ": ";
      row += fields[i];
    }
    return doc_.add(BlockKind::kTableRow, row);
  }

  DocumentBuilder doc_;
  char delimiter_ = 0;
  std::vector<std::string> header_;
  std::vector<std::string> fields_;
  std::string field_;
  bool in_quotes_ = false;
  int64_t record_line_ = 0;
  size_t record_bytes_ = 0;
};

}  // namespace

Result<ParsedDocument> parse_csv(LineReader& lines, const ParseLimits& limits) {
  CsvParser parser(limits);
  std::string line;
  while (true) {
    auto more = lines.next(line);
    if (!more) return more.error();
    if (!*more) break;
    if (auto status = parser.line(line, lines.line_number()); !status) return status.error();
  }
  return std::move(parser).finish();
}

}  // namespace tandem::knowledge::detail
