// Per-pixel math of Gaussian-splat blending (contract: pvd/ops/splat.py, rasterize_pixels).
// Gaussian g covers the pixel box [x0, x1] x [y0, y1] (from its radius, rounded as the twin does);
// at pixel centre (col + 0.5, row + 0.5) its alpha is min(0.99, o exp(min(power, 0))) with
// power = -(A dx^2 + C dy^2) / 2 - B dx dy, skipped below 1/255; blending is front to back and a
// pixel ends at the Gaussian that would take its transmittance below kSplatTMin (not blended).
#pragma once

#include "common.h"

namespace pvd {

constexpr float kSplatAlphaMin = 1.0f / 255.0f;
constexpr float kSplatAlphaMax = 0.99f;
constexpr float kSplatTMin = 1e-4f;  // a pixel stops at the Gaussian that would take T below this

// Projected Gaussians: means2d [n,2] (px), conics [n,3] (A, B, C), opacities [n], colors [n,3], dists [n].
struct Splats {
  const float* means2d;
  const float* conics;
  const float* opacities;
  const float* colors;
  const float* dists;
};

// Gradients of the projected Gaussians (zeroed by the caller, accumulated), laid out as Splats.
struct SplatGrads {
  float* means2d;
  float* conics;
  float* opacities;
  float* colors;
  float* dists;
};

// Pixel box of a Gaussian with radius r (px) in a width x height image; empty when x0 > x1 or y0 > y1.
struct PixelBox {
  int32_t x0, x1, y0, y1;
};

PVD_HD PixelBox pixel_box(float u, float v, float r, int64_t width, int64_t height) {
  auto clampi = [](float x, float lo, float hi) { return x < lo ? lo : (x > hi ? hi : x); };
  PixelBox b;
  b.x0 = (int32_t)clampi(ceilf(u - r - 0.5f), 0.0f, (float)width);
  b.x1 = (int32_t)clampi(floorf(u + r - 0.5f), -1.0f, (float)(width - 1));
  b.y0 = (int32_t)clampi(ceilf(v - r - 0.5f), 0.0f, (float)height);
  b.y1 = (int32_t)clampi(floorf(v + r - 0.5f), -1.0f, (float)(height - 1));
  return b;
}

// The unclamped alpha o exp(min(power, 0)) of Gaussian g at the pixel centre; *dx, *dy, *power out.
PVD_HD float splat_alpha(const Splats& s, int64_t g, int64_t col, int64_t row, float* dx, float* dy, float* power) {
  *dx = ((float)col + 0.5f) - s.means2d[2 * g];
  *dy = ((float)row + 0.5f) - s.means2d[2 * g + 1];
  const float* c = s.conics + 3 * g;
  *power = -0.5f * (c[0] * *dx * *dx + c[2] * *dy * *dy) - c[1] * *dx * *dy;
  return s.opacities[g] * expf(*power < 0.0f ? *power : 0.0f);
}

}  // namespace pvd
