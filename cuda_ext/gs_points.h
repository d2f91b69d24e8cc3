// Per-point math of the Gaussian field's point queries (layout contract: pvd/ops/gs_points.py): the
// uniform-grid cell of a point and one Gaussian's kernel value there. CPU only: on CUDA the field runs
// the PyTorch twin.
#pragma once

#include "common.h"

namespace pvd {

// The Gaussians (N of them) and their index (R^3 cells over [-bound, bound]^3).
struct GaussianSet {
  const float* means;    // [N, 3]
  const float* prec6;    // [N, 6] precision entries (xx, yy, zz, xy, xz, yz)
  const float* peak;     // [N] kernel peak density k_i
  const float* coeffs;   // [N, C] per-Gaussian values summed with the kernel weights (SH coefficients)
  int64_t n_coeffs;      // C
  const int64_t* starts; // [R^3 + 1] CSR offsets of each cell's ids
  const int64_t* ids;    // Gaussian ids grouped by cell
  const int64_t* big;    // [n_big] ids tested against every point
  int64_t n_big;
  float bound;           // box half-size
  float to_cell;         // R / (2 bound), rounded to float as the twin multiplies by it
  int64_t res;           // R
};

// Cell row (k R + j) R + i of box point p (clamped into the grid), as the twin computes it in float32.
inline int64_t gs_cell(const float* p, const GaussianSet& g) {
  int64_t c[3];
  for (int a = 0; a < 3; ++a) {
    const float pos = floorf((p[a] + g.bound) * g.to_cell);
    // clamped before the cast (no overflow); NaN takes cell 0 and stays NaN through the kernel
    c[a] = pos >= 0.0f ? (pos < (float)(g.res - 1) ? (int64_t)pos : g.res - 1) : 0;
  }
  return (c[2] * g.res + c[1]) * g.res + c[0];
}

// Squared Mahalanobis distance of p from Gaussian `id`, in the twin's order of operations.
inline float gs_m2(const float* p, const GaussianSet& g, int64_t id) {
  const float* m = g.means + 3 * id;
  const float* q = g.prec6 + 6 * id;
  const float d0 = p[0] - m[0], d1 = p[1] - m[1], d2 = p[2] - m[2];
  return q[0] * (d0 * d0) + q[1] * (d1 * d1) + q[2] * (d2 * d2) +
         2.0f * (q[3] * d0 * d1 + q[4] * d0 * d2 + q[5] * d1 * d2);
}

}  // namespace pvd
