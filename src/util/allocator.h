#pragma once

namespace tb {

// Hands the heap memory the process has freed back to the kernel, whichever allocator the program
// was linked with: tcmalloc's page heap when the program links it (the server and the benchmarks,
// see CMakeLists.txt), else glibc's arenas (malloc_trim). A flush frees a whole head at once;
// without this RSS would follow the heads' peak instead of their budget.
void ReleaseFreeMemory();

// The allocator in use: "tcmalloc", or "system" (the C library's malloc, or a sanitizer's).
const char* AllocatorName();

}  // namespace tb
