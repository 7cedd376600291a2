// Shared pieces of the transform plugin: the registration functions of its node types and the
// duration spelling their messages use. Internal to this library.
#pragma once

#include <qflow/sdk.hpp>

#include <cstdint>
#include <string>

namespace qflow::nodes {

void register_resample(Registrar& r);
void register_align(Registrar& r);
void register_tick_bars(Registrar& r);
void register_volume_bars(Registrar& r);

// A duration as a pipeline would spell it, in the largest unit that divides it: "5m", "4h",
// "1d", "90s", "250ms", "7ns".
inline std::string format_duration(int64_t ns) {
  struct Unit {
    int64_t size;
    const char* name;
  };
  static constexpr Unit kUnits[] = {{86'400 * kNanosPerSecond, "d"}, {3'600 * kNanosPerSecond, "h"},
                                    {60 * kNanosPerSecond, "m"},     {kNanosPerSecond, "s"},
                                    {1'000'000, "ms"},               {1'000, "us"}};
  if (ns != 0)
    for (const Unit& u : kUnits)
      if (ns % u.size == 0) return std::to_string(ns / u.size) + u.name;
  return std::to_string(ns) + "ns";
}

}  // namespace qflow::nodes
