// A tiny test helper: named checks that print PASS/FAIL lines and a closing count, no framework.
#pragma once
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace tunesmith_test {

struct Counter {
  int passed = 0;
  int failed = 0;
  int skipped = 0;
};
inline Counter& counter() {
  static Counter c;
  return c;
}

inline void check(bool ok, const std::string& name, const std::string& detail = "") {
  if (ok) ++counter().passed;
  else ++counter().failed;
  std::printf("%s %s%s%s\n", ok ? "PASS" : "FAIL", name.c_str(), detail.empty() ? "" : "  ", detail.c_str());
  std::fflush(stdout);
}

inline void skip(const std::string& name, const std::string& why) {
  ++counter().skipped;
  std::printf("SKIP %s  %s\n", name.c_str(), why.c_str());
}

// Prints the closing line and returns the process exit code.
inline int finish(const char* suite) {
  const Counter& c = counter();
  std::printf("%s: %d passed, %d failed, %d skipped\n", suite, c.passed, c.failed, c.skipped);
  return c.failed == 0 ? 0 : 1;
}

// ‖a − b‖ / ‖b‖ (or ‖a − b‖ when b is all zero).
template <typename A, typename B>
double relative_error(const A* a, const B* b, size_t n) {
  double diff = 0.0, ref = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const double d = double(a[i]) - double(b[i]);
    diff += d * d;
    ref += double(b[i]) * double(b[i]);
  }
  return ref > 0 ? std::sqrt(diff / ref) : std::sqrt(diff);
}

inline std::string fmt(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

}  // namespace tunesmith_test
