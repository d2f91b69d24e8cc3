// CPU launchers of packed-sample compositing: one ray per iteration, rays split across threads.
#include "composite.h"
#include "cpu_parallel.h"
#include "launch.h"

namespace pvd {

namespace {
constexpr int64_t kGrain = 2048;  // rays per task: a parallel region must pay for waking threads
}

void ray_ranges_cpu(const int64_t* ray_indices, int64_t m, int64_t n_rays, int64_t* begins, int64_t* ends) {
  parallel_ranges(m, 1 << 18, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) ray_range_mark(ray_indices, m, n_rays, i, begins, ends);
  });
}

void composite_fwd_cpu(const PackedSamples& s, const int64_t* begins, const int64_t* ends, int64_t n_rays,
                       float* weights, float* rgb, float* depth, float* opacity) {
  parallel_ranges(n_rays, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      composite_fwd_ray(s, begins[r], ends[r], weights, rgb + 3 * r, depth + r, opacity + r);
    }
  });
}

void composite_bwd_cpu(const PackedSamples& s, const float* grad_weights, const float* grad_rgb,
                       const float* grad_depth, const float* grad_opacity, const int64_t* begins,
                       const int64_t* ends, int64_t n_rays, const PackedGrads& out) {
  parallel_ranges(n_rays, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r) {
      const CompositeGrads g{grad_weights, grad_rgb + 3 * r, grad_depth[r], grad_opacity[r]};
      composite_bwd_ray(s, g, begins[r], ends[r], out);
    }
  });
}

}  // namespace pvd
