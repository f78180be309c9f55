#include "cli/output.h"

#include <unistd.h>

#include <algorithm>

namespace tb::cli {

int ReportError(const char* command, const Status& status, int exit_code) {
  std::fprintf(stderr, "%s: %s\n", command, status.ToString().c_str());
  return exit_code;
}

std::string HumanBytes(uint64_t bytes) {
  static const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  if (bytes < 1024) return std::to_string(bytes) + " B";
  double v = static_cast<double>(bytes) / 1024;
  size_t unit = 0;
  while (v >= 1024 && unit + 1 < std::size(kUnits)) {
    v /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, "%.1f %s", v, kUnits[unit]);
  return text;
}

std::string Ratio(uint64_t raw, uint64_t stored) {
  if (stored == 0) return "-";
  char text[32];
  std::snprintf(text, sizeof text, "%.2f", static_cast<double>(raw) / static_cast<double>(stored));
  return text;
}

std::string RenderTable(const std::vector<std::vector<std::string>>& rows, const std::vector<bool>& right_aligned) {
  std::vector<size_t> width;
  for (const auto& row : rows) {
    if (width.size() < row.size()) width.resize(row.size(), 0);
    for (size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      const std::string pad(width[c] - row[c].size(), ' ');
      const bool right = c < right_aligned.size() && right_aligned[c];
      if (c > 0) line += "  ";
      line += right ? pad + row[c] : (c + 1 < row.size() ? row[c] + pad : row[c]);
    }
    out += line + "\n";
  }
  return out;
}

bool IsTerminal(std::FILE* stream) { return isatty(fileno(stream)) == 1; }

ProgressBar::ProgressBar(std::string label, uint64_t total_bytes, bool enabled)
    : label_(std::move(label)), total_(total_bytes), enabled_(enabled) {}

ProgressBar::~ProgressBar() { Finish(); }

void ProgressBar::Add(uint64_t bytes) {
  done_ += bytes;
  Draw(false);
}

void ProgressBar::SetNote(std::string note) {
  note_ = std::move(note);
  Draw(false);
}

void ProgressBar::Print(std::FILE* stream, const std::string& line) {
  if (enabled_ && drawn_) std::fputs("\r\033[K", stderr);
  std::fprintf(stream, "%s\n", line.c_str());
  std::fflush(stream);
  if (enabled_ && drawn_) Draw(true);
}

void ProgressBar::Finish() {
  if (!enabled_ || !drawn_) return;
  std::fputs("\r\033[K", stderr);
  std::fflush(stderr);
  drawn_ = false;
}

void ProgressBar::Draw(bool force) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (!force && drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  constexpr int kWidth = 30;
  std::string line = "\r\033[K" + label_ + " ";
  if (total_ > 0) {
    const double fraction = std::min(1.0, static_cast<double>(done_) / static_cast<double>(total_));
    const int filled = static_cast<int>(fraction * kWidth);
    char percent[16];
    std::snprintf(percent, sizeof percent, "%3d%%", static_cast<int>(fraction * 100));
    line += "[" + std::string(static_cast<size_t>(filled), '#') +
            std::string(static_cast<size_t>(kWidth - filled), '-') + "] " + percent + "  " + HumanBytes(done_) + " / " +
            HumanBytes(total_);
  } else {
    line += HumanBytes(done_);
  }
  if (!note_.empty()) line += "  " + note_;
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
  drawn_ = true;
}

}  // namespace tb::cli
