#pragma once
#include <openpose/core/common.hpp>
namespace op {
// Used by OpenPose only for face keypoints (>= 135 parts): never reached for COCO/BODY-25/MPI.
template <typename T> float getKeypointsRoi(const Rectangle<T>&, const Rectangle<T>&) {
    error("getKeypointsRoi: not provided by this harness");
    return 0.f;
}
}
