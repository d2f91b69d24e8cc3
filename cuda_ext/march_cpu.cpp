// CPU launchers of occupancy-grid ray marching: one ray per iteration, rays split across threads.
// Two passes over the same candidates (count, then write at the caller's prefix-sum offsets) keep the
// output packed without per-thread buffers.
#include "cpu_parallel.h"
#include "launch.h"
#include "march.h"

namespace pvd {

namespace {

constexpr int64_t kGrain = 64;  // rays per task (a ray may examine thousands of candidates)

}  // namespace

void march_count_cpu(const float* near, const float* far, int64_t n, const StepRule& rule, float* counts) {
  parallel_ranges(n, 1 << 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      counts[i] = step_count(rule, near[i], march_far_at(near, far, i));
    }
  });
}

void march_scan_cpu(const float* origins, const float* directions, const float* near, const float* far,
                    const float* offsets, const OccGrid& grid, const StepRule& rule, int64_t width,
                    int64_t max_samples, int64_t n, int64_t* n_kept, float* t_end) {
  parallel_ranges(n, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const MarchRay ray = march_ray_at(origins, directions, near, far, offsets, i);
      march_scan_ray(rule, grid, ray, width, max_samples, n_kept + i, t_end + i);
    }
  });
}

void march_write_cpu(const float* origins, const float* directions, const float* near, const float* far,
                     const float* offsets, const OccGrid& grid, const StepRule& rule, int64_t width,
                     int64_t max_samples, int64_t n, const int64_t* starts, int64_t* ray_indices, float* t,
                     float* deltas) {
  parallel_ranges(n, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const MarchRay ray = march_ray_at(origins, directions, near, far, offsets, i);
      march_write_ray(rule, grid, ray, i, width, max_samples, starts[i], ray_indices, t, deltas);
    }
  });
}

}  // namespace pvd
