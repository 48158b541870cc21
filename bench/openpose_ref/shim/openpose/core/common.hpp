// Stand-ins for the few OpenPose core types (Array, Point, Rectangle, error) that its
// CPU decoder sources use, so build.sh can compile those sources unmodified without the
// rest of OpenPose, Caffe or OpenCV.  Written for this harness; behaviour as the decoder needs.
#pragma once
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>
#define OP_API
#define UNUSED(x) (void)(x)
namespace op {
inline void error(const std::string& m, int = 0, const std::string& = "", const std::string& = "") {
    throw std::runtime_error(m);
}
template <class... A> inline void opLog(A&&...) {}
template <typename T> struct Point {
    T x, y;
    Point(T a = 0, T b = 0) : x(a), y(b) {}
    T area() const { return x * y; }
};
template <typename T> struct Rectangle {
    T x, y, width, height;
    Rectangle(T a = 0, T b = 0, T c = 0, T d = 0) : x(a), y(b), width(c), height(d) {}
    T area() const { return width * height; }
};
template <typename T> class Array {
    std::vector<int> size_;
    std::vector<T> data_;
public:
    Array() = default;
    explicit Array(int n, T v = T()) { reset(n, v); }
    void reset() { size_.clear(); data_.clear(); }
    void reset(int n, T v = T()) { reset(std::vector<int>{n}, v); }
    void reset(const std::vector<int>& s, T v = T()) {
        size_ = s;
        size_t n = 1;
        for (int d : s) n *= size_t(d);
        data_.assign(s.empty() ? 0 : n, v);
    }
    bool empty() const { return data_.empty(); }
    int getSize(int i) const { return i < int(size_.size()) ? size_[i] : 0; }
    std::vector<int> getSize() const { return size_; }
    size_t getVolume() const { return data_.size(); }
    T* getPtr() { return data_.data(); }
    const T* getConstPtr() const { return data_.data(); }
    T& operator[](size_t i) { return data_[i]; }
    const T& operator[](size_t i) const { return data_[i]; }
    Array clone() const { return *this; }
};
}
