// Per-ray math of front-to-back alpha compositing of packed samples (contract: pvd/ops/composite.py).
// A ray owns samples [begin, end) of the packed arrays; the optical depth in front of a sample is
// accumulated in double, like the twin's float64 prefix sums.
#pragma once

#include "common.h"

namespace pvd {

// Packed sample arrays: sigmas, deltas, ts [m]; rgbs [m, 3].
struct PackedSamples {
  const float* sigmas;
  const float* rgbs;
  const float* deltas;
  const float* ts;
};

// Weight w_i = (1 - exp(-tau_i)) exp(-depth_in_front) of sample i; *tau gets its optical depth tau_i.
PVD_HD float sample_weight(const PackedSamples& s, int64_t i, double depth_in_front, float* tau) {
  *tau = s.sigmas[i] * s.deltas[i];
  return -expm1f(-*tau) * (float)exp(-depth_in_front);
}

// weights[begin:end] and the ray's rgb[3], depth, opacity.
PVD_HD void composite_fwd_ray(const PackedSamples& s, int64_t begin, int64_t end, float* weights, float* rgb,
                              float* depth, float* opacity) {
  double depth_in_front = 0.0;
  float r = 0.0f, g = 0.0f, b = 0.0f, z = 0.0f, o = 0.0f;
  for (int64_t i = begin; i < end; ++i) {
    float tau;
    const float w = sample_weight(s, i, depth_in_front, &tau);
    weights[i] = w;
    r += w * s.rgbs[3 * i];
    g += w * s.rgbs[3 * i + 1];
    b += w * s.rgbs[3 * i + 2];
    z += w * s.ts[i];
    o += w;
    depth_in_front += (double)tau;
  }
  rgb[0] = r;
  rgb[1] = g;
  rgb[2] = b;
  *depth = z;
  *opacity = o;
}

// Incoming gradients of one ray: grad_weights [m] (per sample), grad_rgb[3], grad_depth, grad_opacity.
struct CompositeGrads {
  const float* weights;
  const float* rgb;
  float depth;
  float opacity;
};

// Outgoing gradients of samples [begin, end): sigmas, deltas, ts [m]; rgbs [m, 3].
struct PackedGrads {
  float* sigmas;
  float* rgbs;
  float* deltas;
  float* ts;
};

// q_i = dL/dw_i of sample i (every output is linear in the weights).
PVD_HD float weight_grad(const PackedSamples& s, const CompositeGrads& g, int64_t i) {
  return g.weights[i] + g.rgb[0] * s.rgbs[3 * i] + g.rgb[1] * s.rgbs[3 * i + 1] + g.rgb[2] * s.rgbs[3 * i + 2] +
         g.depth * s.ts[i] + g.opacity;
}

// With q_i = weight_grad(i), dL/dtau_k = q_k T_{k+1} - sum_{i>k} w_i q_i.
PVD_HD void composite_bwd_ray(const PackedSamples& s, const CompositeGrads& g, int64_t begin, int64_t end,
                              const PackedGrads& out) {
  double depth_in_front = 0.0, total = 0.0;
  for (int64_t i = begin; i < end; ++i) {
    float tau;
    const float w = sample_weight(s, i, depth_in_front, &tau);
    const float q = weight_grad(s, g, i);
    total += (double)w * q;
    depth_in_front += (double)tau;
  }
  double done = 0.0;
  depth_in_front = 0.0;
  for (int64_t i = begin; i < end; ++i) {
    float tau;
    const float w = sample_weight(s, i, depth_in_front, &tau);
    const float q = weight_grad(s, g, i);
    done += (double)w * q;
    depth_in_front += (double)tau;
    const float d_tau = (float)((double)q * exp(-depth_in_front) - (total - done));
    out.sigmas[i] = d_tau * s.deltas[i];
    out.deltas[i] = d_tau * s.sigmas[i];
    out.rgbs[3 * i] = w * g.rgb[0];
    out.rgbs[3 * i + 1] = w * g.rgb[1];
    out.rgbs[3 * i + 2] = w * g.rgb[2];
    out.ts[i] = w * g.depth;
  }
}

// Sample ranges of the rays from sorted ray indices: sample i opens its ray's range if it is the first
// of that ray and closes it if it is the last. Rays without samples keep the caller's [0, 0).
PVD_HD void ray_range_mark(const int64_t* ray_indices, int64_t m, int64_t n_rays, int64_t i, int64_t* begins,
                           int64_t* ends) {
  const int64_t r = ray_indices[i];
  if (r < 0 || r >= n_rays) return;
  if (i == 0 || ray_indices[i - 1] != r) begins[r] = i;
  if (i == m - 1 || ray_indices[i + 1] != r) ends[r] = i + 1;
}

}  // namespace pvd
