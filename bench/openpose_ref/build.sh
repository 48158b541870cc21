#!/usr/bin/env bash
# Build CMU OpenPose's own CPU decoder (nmsCpu, connectBodyPartsCpu) from a checkout of
# https://github.com/CMU-Perceptual-Computing-Lab/openpose, for check.py.  Needs only a
# C++17 compiler: OpenPose's core types come from shim/ (stand-ins written for this).
# Flags: OpenPose's Release flags with its WITH_AVX option (-O3 -march=native).
# usage: bash bench/openpose_ref/build.sh OPENPOSE_CHECKOUT [OUT_DIR]  -> prints the library path
set -euo pipefail
src="${1:?usage: build.sh OPENPOSE_CHECKOUT [OUT_DIR]}"
out="${2:-build/openpose_ref}"
here="$(cd "$(dirname "$0")" && pwd)"
files=(src/openpose/net/nmsBase.cpp src/openpose/net/bodyPartConnectorBase.cpp src/openpose/pose/poseParameters.cpp)
for f in "${files[@]}" include/openpose/pose/poseParameters.hpp include/openpose/utilities/fastMath.hpp; do
  if [ ! -f "$src/$f" ]; then
    echo "build.sh: $src/$f not found: pass a checkout of CMU-Perceptual-Computing-Lab/openpose" >&2
    exit 2
  fi
done
mkdir -p "$out"
lib="$out/libopenpose_decoder.so"
"${CXX:-g++}" -O3 -march=native -std=c++17 -fPIC -shared -w -I"$here/shim" -I"$src/include" \
  "${files[@]/#/$src/}" "$here/wrap.cpp" -o "$lib"
echo "$lib"
