// One stderr line redrawn in place: "embedding [#####     ] 1200/3000". Redraws only when the
// bar changes, and starts a new line when the label changes or the work is done.
// Thread-safety: one thread.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace tandem::cli {

class ProgressBar {
 public:
  void update(std::string_view label, size_t done, size_t total, std::string_view unit = "") {
    constexpr size_t kWidth = 40;
    const size_t filled = total > 0 ? done * kWidth / total : kWidth;
    if (label != label_) {
      end_line();
      label_ = label;
      last_filled_ = kWidth + 1;
    }
    if (filled == last_filled_ && done != total) return;
    last_filled_ = filled;
    std::fprintf(stderr, "\r%s [%s%s] %zu/%zu%s%.*s", label_.c_str(), std::string(filled, '#').c_str(),
                 std::string(kWidth - filled, ' ').c_str(), done, total, unit.empty() ? "" : " ",
                 static_cast<int>(unit.size()), unit.data());
    mid_line_ = done != total;
    if (!mid_line_) std::fputc('\n', stderr);
    std::fflush(stderr);
  }

  // An error message must not be appended to a half-drawn bar.
  void end_line() {
    if (mid_line_) std::fputc('\n', stderr);
    mid_line_ = false;
  }

 private:
  std::string label_;
  size_t last_filled_ = 0;
  bool mid_line_ = false;
};

}  // namespace tandem::cli
