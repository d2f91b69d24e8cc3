// Per-ray math of occupancy-grid ray marching (contract: pvd/ops/march.py). Interval boundaries use
// the twin's closed form with the same float32 operations in the same order, so the native kernels
// pick the same candidate samples and test the same cells.
#pragma once

#include "common.h"

namespace pvd {

// The step rule dt(t) = clamp(t * gamma, dt_min, dt_max) with its float32 constants (the twin's Python
// scalars rounded once, as torch does when it combines them with float32 tensors).
struct StepRule {
  float dt_min, dt_max, gamma;
  float a, b;         // dt_min / gamma, dt_max / gamma: where the geometric phase starts and ends
  float log1p_g;      // log(1 + gamma)
  float one_plus_g;   // 1 + gamma
  bool linear;        // gamma <= 0 or dt_max == dt_min: constant steps of dt_min
};

// Per-ray phase lengths of the rule: k1 steps of dt_min reach t1, m2 geometric steps then reach t2.
struct StepPhases {
  float k1, t1, m2, t2;
};

PVD_HD StepPhases step_phases(const StepRule& r, float t0) {
  StepPhases p;
  p.k1 = t0 <= r.a ? floorf((r.a - t0) / r.dt_min) + 1.0f : 0.0f;
  p.t1 = t0 + p.k1 * r.dt_min;
  const float t1c = p.t1 > 1e-30f ? p.t1 : 1e-30f;
  const float m2 = ceilf(logf((1.0f / t1c) * r.b) / r.log1p_g);
  p.m2 = m2 > 0.0f ? m2 : 0.0f;
  p.t2 = p.t1 * powf(r.one_plus_g, p.m2);
  return p;
}

// Boundary b_k of a ray starting at t0 (k as float, like the twin's arange).
PVD_HD float step_boundary(const StepRule& r, const StepPhases& p, float t0, float k) {
  if (r.linear) return t0 + k * r.dt_min;
  if (k <= p.k1) return t0 + k * r.dt_min;
  if (k <= p.k1 + p.m2) {
    const float e = k - p.k1;
    return p.t1 * powf(r.one_plus_g, e > 0.0f ? e : 0.0f);
  }
  return p.t2 + (k - p.k1 - p.m2) * r.dt_max;
}

// Step length at a boundary: dt_min for the linear rule, else clamp(lower * gamma, dt_min, dt_max).
PVD_HD float step_length(const StepRule& r, float lower) {
  if (r.linear) return r.dt_min;
  float s = lower * r.gamma;
  s = s < r.dt_min ? r.dt_min : s;
  return s > r.dt_max ? r.dt_max : s;
}

// Number of intervals from t0 to t_stop (float, like the twin's count).
PVD_HD float step_count(const StepRule& r, float t0, float t_stop) {
  const float diff = t_stop - t0;
  const float span = diff > 0.0f ? diff : 0.0f;
  const float n1 = ceilf(span / r.dt_min);
  if (r.linear) return n1;
  const StepPhases p = step_phases(r, t0);
  float n;
  if (t_stop <= p.t1) {
    n = n1;
  } else if (t_stop <= p.t2) {
    const float stop = t_stop > 1e-30f ? t_stop : 1e-30f;
    n = p.k1 + ceilf(logf(stop / p.t1) / r.log1p_g);
  } else {
    n = p.k1 + p.m2 + ceilf((t_stop - p.t2) / r.dt_max);
  }
  return n > 0.0f ? n : 0.0f;
}

inline StepRule make_step_rule(double dt_min, double dt_max, double gamma) {
  StepRule r;
  dt_max = dt_max > dt_min ? dt_max : dt_min;
  r.dt_min = (float)dt_min;
  r.dt_max = (float)dt_max;
  r.gamma = (float)gamma;
  r.linear = gamma <= 0.0 || dt_max == dt_min;
  r.a = r.linear ? 0.0f : (float)(dt_min / gamma);
  r.b = r.linear ? 0.0f : (float)(dt_max / gamma);
  r.log1p_g = (float)log1p(gamma);
  r.one_plus_g = (float)(1.0 + gamma);
  return r;
}

// Occupancy grid of C cascades of R^3 cells over [-s_c, s_c]^3, s_c = min(2^c, bound).
struct OccGrid {
  const bool* occupancy;  // [C, R, R, R]
  int cascades;
  int resolution;
  float bound;
  float half_res;     // 0.5 * R
  float inv_single;   // 0.5 * R / min(1, bound), used when C == 1
};

inline OccGrid make_occ_grid(const bool* occupancy, int cascades, int resolution, double bound) {
  OccGrid g;
  g.occupancy = occupancy;
  g.cascades = cascades;
  g.resolution = resolution;
  g.bound = (float)bound;
  g.half_res = (float)(0.5 * resolution);
  g.inv_single = (float)(0.5 * resolution / (bound < 1.0 ? bound : 1.0));
  return g;
}

// Flat cell index ((c * R + i) * R + j) * R + k of a box point (finest cascade containing it; points
// outside every cascade clamp to the border cells of the coarsest).
PVD_HD int64_t occ_cell_index(const OccGrid& g, float x, float y, float z) {
  float inv, level = 0.0f;
  if (g.cascades == 1) {
    inv = g.inv_single;
  } else {
    float extent = fmaxf(fmaxf(fabsf(x), fabsf(y)), fabsf(z));  // NaN axes are ignored (as torch.fmax)
    extent = extent > 1e-30f ? extent : 1e-30f;                   // all-NaN: the finest cascade
    level = ceilf(log2f(extent));
    level = level < 0.0f ? 0.0f : level;
    level = level > (float)(g.cascades - 1) ? (float)(g.cascades - 1) : level;
    float e = exp2f(level);
    e = e > g.bound ? g.bound : e;
    inv = (1.0f / e) * g.half_res;
  }
  const float top = (float)(g.resolution - 1);
  const float coords[3] = {x, y, z};
  int64_t flat = 0;
  for (int a = 0; a < 3; ++a) {
    float c = coords[a] * inv + g.half_res;
    c = c < 0.0f ? 0.0f : c;
    c = c > top ? top : c;
    const int64_t cell = c >= 0.0f ? (int64_t)c : 0;  // c in [0, R-1]: truncation is floor; NaN -> 0
    flat = flat * g.resolution + cell;
  }
  const int64_t cells = (int64_t)g.resolution * g.resolution * g.resolution;
  return flat + (int64_t)level * cells;
}

// One ray to march: origin, direction, [near, far) (far already raised to near when smaller) and the
// jitter offset in [0, 1).
struct MarchRay {
  const float* o;
  const float* d;
  float near, far, u;
};

// Visits the ray's candidate intervals k < width in order and calls emit(j, t, delta) for the j-th
// interval whose sample lies in an occupied cell (j < max_samples). Returns how many it emitted;
// *last_k is the k of the last one (unchanged when none).
template <typename Emit>
PVD_HD int64_t march_ray(const StepRule& r, const OccGrid& g, const MarchRay& ray, int64_t width,
                         int64_t max_samples, float* last_k, Emit emit) {
  const StepPhases p = r.linear ? StepPhases{0.0f, 0.0f, 0.0f, 0.0f} : step_phases(r, ray.near);
  float count = 0.0f, last_lower = 0.0f, last_t = 0.0f;
  if (r.linear) {
    count = step_count(r, ray.near, ray.far);
    const float c1 = count - 1.0f;
    last_lower = ray.near + (c1 > 0.0f ? c1 : 0.0f) * r.dt_min;
    last_t = last_lower + ray.u * (ray.far - last_lower);
  }
  int64_t kept = 0;
  for (int64_t ki = 0; ki < width && kept < max_samples; ++ki) {
    const float k = (float)ki;
    float t;
    if (r.linear) {
      if (!(k < count)) break;
      t = k * r.dt_min + (ray.near + ray.u * r.dt_min);
      t = t < last_t ? t : last_t;
    } else {
      const float lower = step_boundary(r, p, ray.near, k);
      if (!(lower < ray.far)) break;
      float upper = lower + step_length(r, lower);
      upper = upper < ray.far ? upper : ray.far;
      t = lower + (upper - lower) * ray.u;
    }
    const float x = ray.o[0] + t * ray.d[0], y = ray.o[1] + t * ray.d[1], z = ray.o[2] + t * ray.d[2];
    if (!g.occupancy[occ_cell_index(g, x, y, z)]) continue;
    const float lower = step_boundary(r, p, ray.near, k);
    float upper = lower + step_length(r, lower);
    upper = upper < ray.far ? upper : ray.far;
    const float delta = upper - lower;
    emit(kept, lower + delta * ray.u, delta);
    *last_k = k;
    ++kept;
  }
  return kept;
}

// Upper end of interval k (where marching stops after consuming it), clipped to far.
PVD_HD float interval_upper(const StepRule& r, const MarchRay& ray, float k) {
  const StepPhases p = r.linear ? StepPhases{0.0f, 0.0f, 0.0f, 0.0f} : step_phases(r, ray.near);
  const float lower = step_boundary(r, p, ray.near, k);
  const float upper = lower + step_length(r, lower);
  return upper < ray.far ? upper : ray.far;
}

// Ray i of the launchers' flat arrays (origins, directions [n, 3]; near, far, offsets [n]), with far
// raised to near when smaller.
// A ray whose near or far is not finite gets near = far (no samples, t_end = far): without this an
// infinite far would keep the caller's march-until-far loop going forever.
PVD_HD MarchRay march_ray_at(const float* origins, const float* directions, const float* near, const float* far,
                             const float* offsets, int64_t i) {
  const float f = near[i] < far[i] ? far[i] : near[i];
  const float n = isfinite(near[i]) && isfinite(f) ? near[i] : f;
  return MarchRay{origins + 3 * i, directions + 3 * i, n, f, offsets[i]};
}

// Far of ray i as the launchers' count pass sees it (near when either is not finite: no steps).
PVD_HD float march_far_at(const float* near, const float* far, int64_t i) {
  const float f = near[i] < far[i] ? far[i] : near[i];
  return isfinite(near[i]) && isfinite(f) ? f : near[i];
}

// First pass for one ray: how many samples it keeps and where its marching stops (t_end).
PVD_HD void march_scan_ray(const StepRule& r, const OccGrid& g, const MarchRay& ray, int64_t width,
                           int64_t max_samples, int64_t* n_kept, float* t_end) {
  if (width <= 0) {
    *n_kept = 0;
    *t_end = ray.far;
    return;
  }
  float last_k = 0.0f;
  const int64_t kept = march_ray(r, g, ray, width, max_samples, &last_k, [](int64_t, float, float) {});
  *n_kept = kept;
  *t_end = interval_upper(r, ray, kept >= max_samples ? last_k : (float)(width - 1));
}

// Second pass for ray i: writes its samples (ray index, t, delta) from the packed offset base.
PVD_HD void march_write_ray(const StepRule& r, const OccGrid& g, const MarchRay& ray, int64_t i, int64_t width,
                            int64_t max_samples, int64_t base, int64_t* ray_indices, float* t, float* deltas) {
  float last_k = 0.0f;
  march_ray(r, g, ray, width, max_samples, &last_k, [&](int64_t j, float ts, float delta) {
    ray_indices[base + j] = i;
    t[base + j] = ts;
    deltas[base + j] = delta;
  });
}

}  // namespace pvd
