// Terminal output of the operator subcommands: aligned tables, sizes for people, and a progress
// bar that is drawn only on a terminal.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "util/status.h"

namespace tb::cli {

// Prints "<command>: <status>" on stderr and returns `exit_code`.
int ReportError(const char* command, const Status& status, int exit_code = 2);

// "0 B", "512 B", "1.5 KiB", "320.0 MiB": binary units, one decimal above bytes.
std::string HumanBytes(uint64_t bytes);

// "3.42" for a ratio raw/stored; "-" when stored is 0.
std::string Ratio(uint64_t raw, uint64_t stored);

// Rows of cells as columns separated by two spaces, each as wide as its widest cell; cells of the
// columns flagged in `right_aligned` are padded on the left (numbers). Every line ends in '\n'.
std::string RenderTable(const std::vector<std::vector<std::string>>& rows, const std::vector<bool>& right_aligned = {});

// Whether `stream` is a terminal (isatty): progress bars only then, plain lines otherwise.
bool IsTerminal(std::FILE* stream);

// A one-line progress bar on stderr, redrawn at most 10 times a second, e.g.
//   verify [##########----------]  50%  1.2 GiB / 2.4 GiB  3/6 blocks
// Disabled (every call a no-op but Print's line) when stderr is not a terminal. Not thread-safe.
class ProgressBar {
 public:
  // total 0: unknown (no percentage).
  ProgressBar(std::string label, uint64_t total_bytes, bool enabled);
  ~ProgressBar();
  void Add(uint64_t bytes);
  // Text shown after the bytes, e.g. "3/6 blocks".
  void SetNote(std::string note);
  // Prints `line` on `stream`, above the bar when one is drawn.
  void Print(std::FILE* stream, const std::string& line);
  // Erases the bar.
  void Finish();

 private:
  void Draw(bool force);
  std::string label_;
  uint64_t total_ = 0, done_ = 0;
  bool enabled_ = false, drawn_ = false;
  std::string note_;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace tb::cli
