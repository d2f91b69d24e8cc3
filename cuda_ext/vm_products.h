// Per-element math of the VM (TensoRF) plane x line products (layout contract: pvd/ops/vm_products.py).
// One call handles one (point, factor set) pair's sampling cell, or one (point, channel) product; the
// CPU and CUDA launchers only decide the loop order. Templated on the scalar type (float; the CPU
// launchers also double, for gradcheck).
#pragma once

#include "common.h"

namespace pvd {

// Axes of the 3 factor sets: set s samples its plane at (u, v) = unit[PLANE_U[s]], unit[PLANE_V[s]]
// (u along the plane's width, v along its height) and its line at unit[LINE_W[s]].
PVD_HD int vm_plane_u(int s) { return s == 2 ? 1 : 0; }
PVD_HD int vm_plane_v(int s) { return s == 0 ? 1 : 2; }
PVD_HD int vm_line_w(int s) { return 2 - s; }

// Sizes of one factor set stack: planes [3, rank, height, width], lines [3, rank, length, 1].
struct VMShape {
  int64_t rank;
  int64_t height;
  int64_t width;
  int64_t length;
};

// Where one point samples one factor set: the plane's lower-left texel (row-major offset inside a
// channel's plane), the line's lower texel, and the fractional positions. Coordinates are clamped to
// [-1, 1] and mapped like grid_sample(align_corners=True): -1 -> texel 0, 1 -> texel size - 1. A point
// on the upper edge takes the last cell with fraction 1 (same value and gradient as grid_sample's
// zero-padded corner beyond the edge, whose weight is 0).
// 32-bit offsets keep the cell small (20 bytes in float32); bindings.cpp checks that they fit.
template <typename T>
struct VMCell {
  int32_t plane;  // row * width + col of the lower texel
  int32_t line;   // lower texel index
  T fu, fv, fw;
};

// Continuous texel coordinate of c in [-1, 1] over `size` texels, its lower texel (in [0, size - 2]) and
// fraction. A NaN coordinate takes texel 0 and yields a NaN fraction (so NaN values, never a stray read).
template <typename T>
PVD_HD void vm_axis(T c, int64_t size, int64_t* base, T* frac) {
  c = c < T(-1) ? T(-1) : (c > T(1) ? T(1) : c);
  const T pos = (c + T(1)) * (T(size - 1) / T(2));
  int64_t b = pos >= T(0) ? (int64_t)pos : 0;  // pos >= 0: truncation is floor
  if (b > size - 2) b = size - 2;
  *base = b;
  *frac = pos - (T)b;
}

template <typename T>
PVD_HD VMCell<T> vm_cell(const T* p, int set, const VMShape& s) {
  VMCell<T> c;
  int64_t col, row, w;
  vm_axis(p[vm_plane_u(set)], s.width, &col, &c.fu);
  vm_axis(p[vm_plane_v(set)], s.height, &row, &c.fv);
  vm_axis(p[vm_line_w(set)], s.length, &w, &c.fw);
  c.plane = (int32_t)(row * s.width + col);
  c.line = (int32_t)w;
  return c;
}

// Bilinear plane value and linear line value of one channel (plane [height, width], line [length]).
template <typename T>
PVD_HD void vm_sample(const VMCell<T>& c, const T* __restrict__ plane, const T* __restrict__ line, int64_t width,
                      T* plane_value, T* line_value) {
  const T* q = plane + c.plane;
  const T e = T(1) - c.fu, s = T(1) - c.fv;
  *plane_value = (s * e) * q[0] + (s * c.fu) * q[1] + (c.fv * e) * q[width] + (c.fv * c.fu) * q[width + 1];
  *line_value = (T(1) - c.fw) * line[c.line] + c.fw * line[c.line + 1];
}

// Gradients of one product g * d(plane_value * line_value): into the channel's plane and line gradients.
template <typename T>
PVD_HD void vm_scatter(const VMCell<T>& c, T grad, T plane_value, T line_value, int64_t width,
                       T* __restrict__ grad_plane, T* __restrict__ grad_line) {
  const T gp = grad * line_value, gl = grad * plane_value;
  const T e = T(1) - c.fu, s = T(1) - c.fv;
  T* q = grad_plane + c.plane;
  scatter_add(q, (s * e) * gp);
  scatter_add(q + 1, (s * c.fu) * gp);
  scatter_add(q + width, (c.fv * e) * gp);
  scatter_add(q + width + 1, (c.fv * c.fu) * gp);
  scatter_add(grad_line + c.line, (T(1) - c.fw) * gl);
  scatter_add(grad_line + c.line + 1, c.fw * gl);
}

}  // namespace pvd
