#include "util/seeded_hash.h"

#include <sys/random.h>

#include <chrono>

namespace tb {
namespace {

uint64_t ReadSeed() {
  uint64_t seed = 0;
  // getrandom blocks only until the kernel's pool is first initialised, early in boot.
  if (::getrandom(&seed, sizeof seed, 0) == static_cast<ssize_t>(sizeof seed)) return seed;
  // No getrandom (a kernel before 3.17): the clock still differs between processes and runs.
  return static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
         static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
}

}  // namespace

uint64_t ProcessHashSeed() {
  static const uint64_t seed = ReadSeed();
  return seed;
}

}  // namespace tb
