// CPU launchers of occupancy-grid ray marching: one ray per iteration, rays split across threads.
// Two passes over the same candidates (count, then write at the caller's prefix-sum offsets) keep the
// output packed without per-thread buffers.
#include "cpu_parallel.h"
#include "launch.h"
#include "march.h"

namespace pvd {

namespace {

constexpr int64_t kGrain = 64;  // rays per task (a ray may examine thousands of candidates)

MarchRay ray_at(const float* origins, const float* directions, const float* near, const float* far,
                const float* offsets, int64_t i) {
  const float f = near[i] < far[i] ? far[i] : near[i];
  return MarchRay{origins + 3 * i, directions + 3 * i, near[i], f, offsets[i]};
}

}  // namespace

void march_count_cpu(const float* near, const float* far, int64_t n, const StepRule& rule, float* counts) {
  parallel_ranges(n, 1 << 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      counts[i] = step_count(rule, near[i], near[i] < far[i] ? far[i] : near[i]);
    }
  });
}

void march_scan_cpu(const float* origins, const float* directions, const float* near, const float* far,
                    const float* offsets, const OccGrid& grid, const StepRule& rule, int64_t width,
                    int64_t max_samples, int64_t n, int64_t* n_kept, float* t_end) {
  parallel_ranges(n, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const MarchRay ray = ray_at(origins, directions, near, far, offsets, i);
      if (width <= 0) {
        n_kept[i] = 0;
        t_end[i] = ray.far;
        continue;
      }
      float last_k = 0.0f;
      const int64_t kept = march_ray(rule, grid, ray, width, max_samples, &last_k, [](int64_t, float, float) {});
      n_kept[i] = kept;
      t_end[i] = interval_upper(rule, ray, kept >= max_samples ? last_k : (float)(width - 1));
    }
  });
}

void march_write_cpu(const float* origins, const float* directions, const float* near, const float* far,
                     const float* offsets, const OccGrid& grid, const StepRule& rule, int64_t width,
                     int64_t max_samples, int64_t n, const int64_t* starts, int64_t* ray_indices, float* t,
                     float* deltas) {
  parallel_ranges(n, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const MarchRay ray = ray_at(origins, directions, near, far, offsets, i);
      const int64_t base = starts[i];
      float last_k = 0.0f;
      march_ray(rule, grid, ray, width, max_samples, &last_k, [&](int64_t j, float ts, float delta) {
        ray_indices[base + j] = i;
        t[base + j] = ts;
        deltas[base + j] = delta;
      });
    }
  });
}

}  // namespace pvd
