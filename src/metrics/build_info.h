// The version and commit this binary was built from (the commit as of CMake's configure step).
#pragma once

#include <string>

namespace tb::metrics {

struct BuildInfo {
  std::string version;
  std::string commit;
};

BuildInfo CurrentBuild();

}  // namespace tb::metrics
