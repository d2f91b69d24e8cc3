// Per-element math of the multiresolution hash-grid encoding (layout contract: pvd/ops/hash_grid.py).
// One call handles one (point, level) pair; the CPU and CUDA launchers only decide the loop order.
#pragma once

#include "common.h"

namespace pvd {

constexpr uint32_t kPrimeY = 2654435761u;
constexpr uint32_t kPrimeZ = 805459861u;

// The whole grid as the launchers receive it: per-level arrays plus the coordinate convention
// (pvd/ops/hash_grid.py): a point's vertex coordinate is x * scales[l] + shift; with zero_outside,
// points outside [0, 1]^3 encode to zero (else they are clamped to the cube).
struct GridSpec {
  const int64_t* offsets;      // [L + 1]
  const int64_t* resolutions;  // [L] largest vertex index
  const float* scales;         // [L]
  float shift;
  bool zero_outside;
};

// One level of the stacked table: its first row, row count, vertices, coordinate map and indexing mode.
struct GridLevel {
  int64_t offset;
  int64_t rows;
  int64_t res;
  float scale;
  float shift;
  bool zero_outside;
  uint32_t mask;  // rows - 1 when rows is a power of two (hash modulo as a mask), else 0
  bool dense;
};

PVD_HD GridLevel grid_level(const GridSpec& spec, int level) {
  GridLevel lv;
  lv.offset = spec.offsets[level];
  lv.rows = spec.offsets[level + 1] - spec.offsets[level];
  lv.res = spec.resolutions[level];
  lv.scale = spec.scales[level];
  lv.shift = spec.shift;
  lv.zero_outside = spec.zero_outside;
  const int64_t side = lv.res + 1;
  lv.dense = side * side * side <= lv.rows;
  lv.mask = (lv.rows & (lv.rows - 1)) == 0 ? (uint32_t)(lv.rows - 1) : 0u;
  return lv;
}

// The cell holding a point: lower vertex, fractional position, whether the clamp to [0, 1] was a
// no-op on each axis (the clamp passes gradient only there) and, with zero_outside, whether the
// point lies outside the cube (then it encodes to zero).
struct GridCell {
  int64_t base[3];
  float frac[3];
  bool inside[3];
  bool outside;
};

PVD_HD GridCell grid_cell(const float* p, const GridLevel& lv) {
  GridCell c;
  c.outside = false;
  if (lv.zero_outside) {
    for (int a = 0; a < 3; ++a) c.outside = c.outside || p[a] < 0.0f || p[a] > 1.0f;
  }
  for (int a = 0; a < 3; ++a) {
    float pos;
    if (lv.zero_outside) {
      c.inside[a] = true;  // no clamp: the gradient passes everywhere in the closed cube
      pos = (c.outside ? clamp01(p[a]) : p[a]) * lv.scale + lv.shift;
    } else {
      c.inside[a] = p[a] > 0.0f && p[a] < 1.0f;  // torch.clamp passes no gradient at the bounds either
      pos = clamp01(p[a]) * lv.scale + lv.shift;
    }
    // pos >= 0, so truncation is floor; a NaN input takes cell 0 and yields NaN weights.
    int64_t b = pos >= 0.0f ? (int64_t)pos : 0;
    if (b > lv.res - 1) b = lv.res - 1;  // a point on the upper face lies in the last cell
    c.base[a] = b;
    c.frac[a] = pos - (float)b;
  }
  return c;
}

// Row of vertex (i, j, k) in the stacked table.
PVD_HD int64_t grid_row(const GridLevel& lv, int64_t i, int64_t j, int64_t k) {
  if (lv.dense) {
    const int64_t side = lv.res + 1;
    return lv.offset + i + j * side + k * side * side;
  }
  const uint32_t h = (uint32_t)i ^ ((uint32_t)j * kPrimeY) ^ ((uint32_t)k * kPrimeZ);
  const uint32_t local = lv.mask ? (h & lv.mask) : (uint32_t)(h % (uint64_t)lv.rows);
  return lv.offset + (int64_t)local;
}

// Rows and trilinear weights of the 8 corners; corner c takes the upper vertex on axis a iff bit a of c.
PVD_HD void grid_corners(const GridCell& c, const GridLevel& lv, int64_t* rows, float* weights) {
PVD_UNROLL
  for (int corner = 0; corner < 8; ++corner) {
    const int bx = corner & 1, by = (corner >> 1) & 1, bz = (corner >> 2) & 1;
    rows[corner] = grid_row(lv, c.base[0] + bx, c.base[1] + by, c.base[2] + bz);
    const float wx = bx ? c.frac[0] : 1.0f - c.frac[0];
    const float wy = by ? c.frac[1] : 1.0f - c.frac[1];
    const float wz = bz ? c.frac[2] : 1.0f - c.frac[2];
    weights[corner] = wx * wy * wz;
  }
}

// The functions below take the feature count twice: as kF (compile time, 0 = not fixed) and as
// n_features (used only when kF == 0). Launchers instantiate kF for the common counts.

// out[0:F] = sum over corners of weight * table[row, 0:F].
template <int kF>
PVD_HD void hash_grid_fwd_one(const float* p, const float* __restrict__ table, int n_features,
                              const GridLevel& lv, float* __restrict__ out) {
  const int F = kF > 0 ? kF : n_features;
  const GridCell c = grid_cell(p, lv);
  if (c.outside) {
    for (int f = 0; f < F; ++f) out[f] = 0.0f;
    return;
  }
  int64_t rows[8];
  float weights[8];
  grid_corners(c, lv, rows, weights);
  float acc[kF > 0 ? kF : 1];
  if (kF > 0) {
    for (int f = 0; f < F; ++f) acc[f] = 0.0f;
  } else {
    for (int f = 0; f < F; ++f) out[f] = 0.0f;
  }
  PVD_UNROLL
  for (int corner = 0; corner < 8; ++corner) {
    const float* t = table + rows[corner] * F;
    for (int f = 0; f < F; ++f) {
      if (kF > 0) {
        acc[f] += weights[corner] * t[f];
      } else {
        out[f] += weights[corner] * t[f];
      }
    }
  }
  if (kF > 0) {
    for (int f = 0; f < F; ++f) out[f] = acc[f];
  }
}

// grad_table[row, 0:F] += weight * grad[0:F] for the 8 corners.
template <int kF>
PVD_HD void hash_grid_bwd_one(const float* p, const float* __restrict__ grad, int n_features,
                              const GridLevel& lv, float* __restrict__ grad_table) {
  const int F = kF > 0 ? kF : n_features;
  const GridCell c = grid_cell(p, lv);
  if (c.outside) return;
  int64_t rows[8];
  float weights[8];
  grid_corners(c, lv, rows, weights);
  PVD_UNROLL
  for (int corner = 0; corner < 8; ++corner) {
    float* g = grad_table + rows[corner] * F;
    for (int f = 0; f < F; ++f) scatter_add(g + f, weights[corner] * grad[f]);
  }
}

// dx[0:3] += d(out . grad)/dp for one level (zero on axes where the clamp was active).
PVD_HD void hash_grid_dx_one(const float* p, const float* grad, const float* table, int n_features,
                             const GridLevel& lv, float* dx) {
  const GridCell c = grid_cell(p, lv);
  if (c.outside) return;
  int64_t rows[8];
  float weights[8];
  grid_corners(c, lv, rows, weights);
  float d[3] = {0.0f, 0.0f, 0.0f};
  for (int corner = 0; corner < 8; ++corner) {
    const float* t = table + rows[corner] * n_features;
    float g = 0.0f;
    for (int f = 0; f < n_features; ++f) g += grad[f] * t[f];
    float w[3], s[3];
    for (int a = 0; a < 3; ++a) {
      const int bit = (corner >> a) & 1;
      w[a] = bit ? c.frac[a] : 1.0f - c.frac[a];
      s[a] = bit ? 1.0f : -1.0f;
    }
    d[0] += g * s[0] * w[1] * w[2];
    d[1] += g * s[1] * w[0] * w[2];
    d[2] += g * s[2] * w[0] * w[1];
  }
  for (int a = 0; a < 3; ++a) dx[a] += c.inside[a] ? d[a] * lv.scale : 0.0f;
}

}  // namespace pvd
