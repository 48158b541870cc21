// Sparse-hit scanning of float rows: a branch-free test of a block of values
// (vectorised by the compiler), and the per-value test only in blocks with a hit.
// Private to cpp/src.
#pragma once

#include <cstdint>

namespace posefast {
namespace detail {

constexpr int64_t kScanBlock = 16;

// Calls hit(i) for every i in [0, n) with pred(x[i]), in increasing i.
template <class Pred, class Hit>
inline void for_each_hit(const float* x, int64_t n, Pred pred, Hit hit) {
    int64_t i = 0;
    for (; i + kScanBlock <= n; i += kScanBlock) {
        int any = 0;
        for (int64_t k = 0; k < kScanBlock; ++k) any |= static_cast<int>(pred(x[i + k]));
        if (!any) continue;
        for (int64_t k = 0; k < kScanBlock; ++k) {
            if (pred(x[i + k])) hit(i + k);
        }
    }
    for (; i < n; ++i) {
        if (pred(x[i])) hit(i);
    }
}

}  // namespace detail
}  // namespace posefast
