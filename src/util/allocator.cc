#include "util/allocator.h"

#include <malloc.h>

// tcmalloc's C entry point, resolved at load time when the program links tcmalloc and null
// otherwise: the libraries stay free of an allocator dependency and each program picks its own.
extern "C" void MallocExtension_ReleaseFreeMemory(void) __attribute__((weak));

namespace tb {

void ReleaseFreeMemory() {
  if (MallocExtension_ReleaseFreeMemory != nullptr) {
    MallocExtension_ReleaseFreeMemory();
  } else {
    malloc_trim(0);
  }
}

const char* AllocatorName() { return MallocExtension_ReleaseFreeMemory != nullptr ? "tcmalloc" : "system"; }

}  // namespace tb
