#include "metrics/build_info.h"

namespace tb::metrics {

BuildInfo CurrentBuild() { return BuildInfo{TB_VERSION, TB_GIT_COMMIT}; }

}  // namespace tb::metrics
