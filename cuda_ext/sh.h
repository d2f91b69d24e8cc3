// Per-element math of the real spherical-harmonics direction encoding (contract: pvd/ops/sh.py):
// bands 0..n_bands-1 (n_bands in 1..4), band-major, m from -l to l, Instant-NGP / Plenoxels constants.
#pragma once

#include "common.h"

namespace pvd {

constexpr float kShC0 = 0.28209479177387814f;
constexpr float kShC1 = 0.4886025119029199f;
// Scalars rather than arrays so that device code folds them without a constant-memory copy.
constexpr float kShC2_0 = 1.0925484305920792f, kShC2_1 = -1.0925484305920792f,
                kShC2_2 = 0.31539156525252005f, kShC2_3 = -1.0925484305920792f,
                kShC2_4 = 0.5462742152960396f;
constexpr float kShC3_0 = -0.5900435899266435f, kShC3_1 = 2.890611442640554f,
                kShC3_2 = -0.4570457994644658f, kShC3_3 = 0.3731763325901154f,
                kShC3_4 = -0.4570457994644658f, kShC3_5 = 1.445305721320277f,
                kShC3_6 = -0.5900435899266435f;

// out[0 : n_bands^2] = basis at direction d (d is used as given, not normalised).
PVD_HD void sh_encode_one(const float* d, int n_bands, float* out) {
  const float x = d[0], y = d[1], z = d[2];
  out[0] = kShC0;
  if (n_bands > 1) {
    out[1] = -kShC1 * y;
    out[2] = kShC1 * z;
    out[3] = -kShC1 * x;
  }
  if (n_bands > 2) {
    const float xx = x * x, yy = y * y, zz = z * z, xy = x * y, yz = y * z, xz = x * z;
    out[4] = kShC2_0 * xy;
    out[5] = kShC2_1 * yz;
    out[6] = kShC2_2 * (2.0f * zz - xx - yy);
    out[7] = kShC2_3 * xz;
    out[8] = kShC2_4 * (xx - yy);
    if (n_bands > 3) {
      out[9] = kShC3_0 * y * (3.0f * xx - yy);
      out[10] = kShC3_1 * xy * z;
      out[11] = kShC3_2 * y * (4.0f * zz - xx - yy);
      out[12] = kShC3_3 * z * (2.0f * zz - 3.0f * xx - 3.0f * yy);
      out[13] = kShC3_4 * x * (4.0f * zz - xx - yy);
      out[14] = kShC3_5 * z * (xx - yy);
      out[15] = kShC3_6 * x * (xx - 3.0f * yy);
    }
  }
}

// dd[0:3] = sum_k g[k] * d(basis_k)/dd for one direction.
PVD_HD void sh_encode_bwd_one(const float* d, const float* g, int n_bands, float* dd) {
  const float x = d[0], y = d[1], z = d[2];
  float gx = 0.0f, gy = 0.0f, gz = 0.0f;
  if (n_bands > 1) {
    gx += -kShC1 * g[3];
    gy += -kShC1 * g[1];
    gz += kShC1 * g[2];
  }
  if (n_bands > 2) {
    gx += kShC2_0 * y * g[4] - 2.0f * kShC2_2 * x * g[6] + kShC2_3 * z * g[7] +
          2.0f * kShC2_4 * x * g[8];
    gy += kShC2_0 * x * g[4] + kShC2_1 * z * g[5] - 2.0f * kShC2_2 * y * g[6] -
          2.0f * kShC2_4 * y * g[8];
    gz += kShC2_1 * y * g[5] + 4.0f * kShC2_2 * z * g[6] + kShC2_3 * x * g[7];
    if (n_bands > 3) {
      const float xx = x * x, yy = y * y, zz = z * z;
      gx += kShC3_0 * 6.0f * x * y * g[9] + kShC3_1 * y * z * g[10] -
            kShC3_2 * 2.0f * x * y * g[11] - kShC3_3 * 6.0f * x * z * g[12] +
            kShC3_4 * (4.0f * zz - 3.0f * xx - yy) * g[13] + kShC3_5 * 2.0f * x * z * g[14] +
            kShC3_6 * 3.0f * (xx - yy) * g[15];
      gy += kShC3_0 * 3.0f * (xx - yy) * g[9] + kShC3_1 * x * z * g[10] +
            kShC3_2 * (4.0f * zz - xx - 3.0f * yy) * g[11] - kShC3_3 * 6.0f * y * z * g[12] -
            kShC3_4 * 2.0f * x * y * g[13] - kShC3_5 * 2.0f * y * z * g[14] -
            kShC3_6 * 6.0f * x * y * g[15];
      gz += kShC3_1 * x * y * g[10] + kShC3_2 * 8.0f * y * z * g[11] +
            kShC3_3 * (6.0f * zz - 3.0f * xx - 3.0f * yy) * g[12] + kShC3_4 * 8.0f * x * z * g[13] +
            kShC3_5 * (xx - yy) * g[14];
    }
  }
  dd[0] = gx;
  dd[1] = gy;
  dd[2] = gz;
}

}  // namespace pvd
