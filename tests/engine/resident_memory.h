// The process's resident memory (RSS) from /proc/self/statm, for tests and benchmarks that check
// that memory really went back to the OS.
#ifndef TESSERA_TESTS_ENGINE_RESIDENT_MEMORY_H_
#define TESSERA_TESTS_ENGINE_RESIDENT_MEMORY_H_

#include <unistd.h>

#include <cstdint>
#include <fstream>

namespace tessera::testing {

// Resident bytes, or -1 when /proc is not there.
inline int64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  int64_t size = 0, resident = -1;
  if (!(statm >> size >> resident)) return -1;
  return resident * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace tessera::testing

#endif  // TESSERA_TESTS_ENGINE_RESIDENT_MEMORY_H_
