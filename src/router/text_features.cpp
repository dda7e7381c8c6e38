#include "router/text_features.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <utility>

namespace tandem::router {
namespace {

// Decodes UTF-8 into code points, lowercasing ASCII and folding every run of whitespace and ASCII
// punctuation into one space; invalid bytes become U+FFFD.
std::vector<char32_t> normalised_code_points(std::string_view text) {
  std::vector<char32_t> out{U' '};
  size_t i = 0;
  while (i < text.size()) {
    const auto byte = static_cast<unsigned char>(text[i]);
    char32_t cp = 0xFFFD;
    size_t length = 1;
    if (byte < 0x80) {
      cp = byte;
    } else if ((byte >> 5) == 0x6 && i + 1 < text.size()) {
      cp = ((byte & 0x1FU) << 6) | (static_cast<unsigned char>(text[i + 1]) & 0x3FU);
      length = 2;
    } else if ((byte >> 4) == 0xE && i + 2 < text.size()) {
      cp = ((byte & 0x0FU) << 12) | ((static_cast<unsigned char>(text[i + 1]) & 0x3FU) << 6) |
           (static_cast<unsigned char>(text[i + 2]) & 0x3FU);
      length = 3;
    } else if ((byte >> 3) == 0x1E && i + 3 < text.size()) {
      cp = ((byte & 0x07U) << 18) | ((static_cast<unsigned char>(text[i + 1]) & 0x3FU) << 12) |
           ((static_cast<unsigned char>(text[i + 2]) & 0x3FU) << 6) | (static_cast<unsigned char>(text[i + 3]) & 0x3FU);
      length = 4;
    }
    i += length;
    const bool separator = cp < 0x80 && (std::isspace(static_cast<int>(cp)) || std::ispunct(static_cast<int>(cp)));
    if (separator) {
      if (out.back() != U' ') out.push_back(U' ');
      continue;
    }
    if (cp < 0x80) cp = static_cast<char32_t>(std::tolower(static_cast<int>(cp)));
    out.push_back(cp);
  }
  if (out.back() != U' ') out.push_back(U' ');
  return out;
}

// FNV-1a over the code points, seeded per n-gram kind so words and characters never share a hash.
uint32_t hash_code_points(const char32_t* begin, const char32_t* end, uint32_t kind) {
  uint32_t h = 2166136261U ^ kind;
  for (const char32_t* p = begin; p != end; ++p) {
    for (int shift = 0; shift < 32; shift += 8) {
      h ^= (static_cast<uint32_t>(*p) >> shift) & 0xFFU;
      h *= 16777619U;
    }
  }
  return h;
}

}  // namespace

FeatureSpace::FeatureSpace(int32_t embedding_dimensions, int32_t hash_bits, float embedding_weight)
    : embedding_dimensions_(embedding_dimensions),
      hash_bits_(hash_bits),
      embedding_weight_(embedding_weight),
      idf_(size_t{1} << hash_bits, 1.0F) {}

// Character 1..4-grams (1-grams only outside ASCII: one Chinese character carries meaning, one
// Latin letter does not), plus word 1- and 2-grams.
std::vector<uint32_t> FeatureSpace::ngram_buckets(std::string_view text) const {
  const auto cps = normalised_code_points(text);
  const uint32_t mask = (uint32_t{1} << hash_bits_) - 1;
  std::vector<uint32_t> buckets;
  const size_t n = cps.size();
  for (size_t i = 0; i < n; ++i) {
    for (size_t len = 1; len <= 4 && i + len <= n; ++len) {
      if (len == 1 && cps[i] < 0x80) continue;
      buckets.push_back(hash_code_points(&cps[i], &cps[i + len], 1) & mask);
    }
  }
  std::vector<std::pair<size_t, size_t>> words;  // [begin, end) ranges; cps starts and ends with a space
  for (size_t begin = 1; begin < n;) {
    size_t end = begin;
    while (end < n && cps[end] != U' ') ++end;
    if (end > begin) words.emplace_back(begin, end);
    begin = end + 1;
  }
  for (size_t w = 0; w < words.size(); ++w) {
    buckets.push_back(hash_code_points(&cps[words[w].first], &cps[words[w].second], 2) & mask);
    if (w + 1 < words.size()) {
      buckets.push_back(hash_code_points(&cps[words[w].first], &cps[words[w + 1].second], 3) & mask);
    }
  }
  return buckets;
}

void FeatureSpace::fit_idf(const std::vector<std::string>& texts) {
  std::vector<uint32_t> document_frequency(idf_.size(), 0);
  for (const auto& text : texts) {
    auto buckets = ngram_buckets(text);
    std::sort(buckets.begin(), buckets.end());
    buckets.erase(std::unique(buckets.begin(), buckets.end()), buckets.end());
    for (uint32_t b : buckets) ++document_frequency[b];
  }
  const double n = static_cast<double>(texts.size());
  for (size_t b = 0; b < idf_.size(); ++b) {
    idf_[b] = static_cast<float>(std::log((1.0 + n) / (1.0 + document_frequency[b])) + 1.0);
  }
}

SparseVector FeatureSpace::featurize(std::string_view text, std::span<const float> embedding) const {
  SparseVector features;
  auto buckets = ngram_buckets(text);
  features.reserve(embedding.size() + buckets.size());
  for (size_t i = 0; i < embedding.size(); ++i) {
    features.push_back({static_cast<uint32_t>(i), embedding[i] * embedding_weight_});
  }
  std::sort(buckets.begin(), buckets.end());
  double norm = 0;
  const size_t first_ngram = features.size();
  for (size_t i = 0; i < buckets.size();) {
    size_t j = i;
    while (j < buckets.size() && buckets[j] == buckets[i]) ++j;
    const auto tf = static_cast<float>(1.0 + std::log(static_cast<double>(j - i)));  // sublinear
    const float value = tf * idf_[buckets[i]];
    features.push_back({static_cast<uint32_t>(embedding_dimensions_) + buckets[i], value});
    norm += static_cast<double>(value) * value;
    i = j;
  }
  if (norm > 0) {
    const auto scale = static_cast<float>(1.0 / std::sqrt(norm));
    for (size_t i = first_ngram; i < features.size(); ++i) features[i].value *= scale;
  }
  return features;
}

}  // namespace tandem::router
