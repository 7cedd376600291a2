// A cheap clock for timing node callbacks in paper and live mode, where every callback is
// timed: the CPU's time-stamp counter when it runs at a constant rate (x86-64 with an invariant
// TSC, read in a few nanoseconds), scaled to nanoseconds by a calibration against steady_clock
// once per process; steady_clock everywhere else.
#pragma once

#include <chrono>
#include <cstdint>

#if defined(__x86_64__)
#include <cpuid.h>
#include <x86intrin.h>
#endif

namespace qflow {

class CallClock {
 public:
  // Calibrates on first use (about 5 ms); call before timing starts, off the hot path.
  static void init() { (void)instance(); }
  static uint64_t ticks() {
#if defined(__x86_64__)
    if (instance().tsc_) return __rdtsc();
#endif
    return steady_ns();
  }
  static uint64_t to_ns(uint64_t ticks) {
    return static_cast<uint64_t>(static_cast<double>(ticks) * instance().ns_per_tick_);
  }

 private:
  static uint64_t steady_ns() {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
  }
  static const CallClock& instance() {
    static const CallClock clock;
    return clock;
  }
  CallClock() {
#if defined(__x86_64__)
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (__get_cpuid(0x80000000, &a, &b, &c, &d) && a >= 0x80000007 && __get_cpuid(0x80000007, &a, &b, &c, &d) &&
        (d & (1u << 8)) != 0) {  // invariant TSC
      const uint64_t s0 = steady_ns(), t0 = __rdtsc();
      uint64_t s1 = s0, t1 = t0;
      while (s1 - s0 < 5'000'000) s1 = steady_ns(), t1 = __rdtsc();
      if (t1 > t0) {
        tsc_ = true;
        ns_per_tick_ = static_cast<double>(s1 - s0) / static_cast<double>(t1 - t0);
      }
    }
#endif
  }
  bool tsc_ = false;
  double ns_per_tick_ = 1.0;
};

}  // namespace qflow
