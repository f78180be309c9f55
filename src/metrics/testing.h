// For tests: reading one sample out of a text exposition (Metrics::Scrape).
#pragma once

#include <sstream>
#include <string>

namespace tb::metrics {

// The value of the sample line `series` (the name and labels exactly as exposed, labels sorted),
// or -1 if the exposition has no such line.
inline double ExposedValue(const std::string& exposition, const std::string& series) {
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with(series + " ")) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

}  // namespace tb::metrics
