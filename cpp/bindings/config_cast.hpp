// Config conversion shared by the registrations.
#pragma once

#include <pybind11/pybind11.h>

#include "posefast/types.hpp"

namespace posefast_bindings {

// A validated C++ config from a _core.DecodeConfig or a posefast.DecodeConfig.
// Needs the GIL; throws TypeError / ValueError.
posefast::DecodeConfig to_config(pybind11::handle obj);

}  // namespace posefast_bindings
