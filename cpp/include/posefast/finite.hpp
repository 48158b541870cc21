// Finiteness check of network maps (the rule of _reference.check_finite).
#pragma once

#include <cstdint>
#include <string>

#include "posefast/types.hpp"

namespace posefast {

// Flat index of the first NaN or Inf in data[0 .. n), or -1.
int64_t first_non_finite(const float* data, int64_t n);

// Throws std::invalid_argument "<what> contain NaN or Inf (first at channel c, row y,
// column x); ..." exactly as the reference words it.
void check_finite(const Maps& maps, const char* what);

// The same error for the non-finite value at flat index `at` of maps.
[[noreturn]] void throw_non_finite(const Maps& maps, int64_t at, const char* what);

}  // namespace posefast
