// Per-ray math of the ray / axis-aligned box intersection (contract: pvd/ops/ray_aabb.py).
#pragma once

#include "common.h"

namespace pvd {

constexpr float kParallelEps = 1e-12f;  // |direction component| below this: parallel to that slab

// Writes t_near, t_far (both +inf on a miss) and returns whether the ray hits the box.
// aabb = (xmin, ymin, zmin, xmax, ymax, zmax). A ray with a non-finite origin or direction component
// misses (as in the twin), so it can never send the marcher to an infinite far.
PVD_HD bool ray_aabb_one(const float* o, const float* d, const float* aabb, float* t_near_out,
                         float* t_far_out) {
  const float inf = INFINITY;
  float t_near = -inf, t_far = inf;
  for (int a = 0; a < 3; ++a) {
    const float lo = aabb[a], hi = aabb[a + 3];
    float t_min, t_max;
    if (fabsf(d[a]) < kParallelEps) {
      const bool inside = o[a] >= lo && o[a] <= hi;
      t_min = inside ? -inf : inf;
      t_max = inside ? inf : -inf;
    } else {
      const float inv = 1.0f / d[a];
      const float t0 = (lo - o[a]) * inv, t1 = (hi - o[a]) * inv;
      t_min = t0 < t1 ? t0 : t1;
      t_max = t0 < t1 ? t1 : t0;
    }
    t_near = t_min > t_near ? t_min : t_near;
    t_far = t_max < t_far ? t_max : t_far;
  }
  const bool finite = isfinite(o[0]) && isfinite(o[1]) && isfinite(o[2]) && isfinite(d[0]) && isfinite(d[1]) &&
                      isfinite(d[2]);
  const bool hit = finite && t_near <= t_far && t_far > 0.0f;
  *t_near_out = hit ? t_near : inf;
  *t_far_out = hit ? t_far : inf;
  return hit;
}

}  // namespace pvd
