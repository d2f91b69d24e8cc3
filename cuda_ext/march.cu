// CUDA launchers of occupancy-grid ray marching: one thread per ray, in the same two passes as the CPU
// (count and end point, then write at the prefix-sum offsets).
#include <cuda_runtime.h>

#include "launch.h"
#include "march.h"

namespace pvd {

namespace {

constexpr int kThreads = 128;

unsigned blocks_for(int64_t n) { return (unsigned)((n + kThreads - 1) / kThreads); }

__global__ void march_count_kernel(const float* __restrict__ near, const float* __restrict__ far, int64_t n,
                                   StepRule rule, float* __restrict__ counts) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) counts[i] = step_count(rule, near[i], march_far_at(near, far, i));
}

__global__ void march_scan_kernel(const float* __restrict__ origins, const float* __restrict__ directions,
                                  const float* __restrict__ near, const float* __restrict__ far,
                                  const float* __restrict__ offsets, OccGrid grid, StepRule rule,
                                  int64_t width, int64_t max_samples, int64_t n, int64_t* __restrict__ n_kept,
                                  float* __restrict__ t_end) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const MarchRay ray = march_ray_at(origins, directions, near, far, offsets, i);
  march_scan_ray(rule, grid, ray, width, max_samples, n_kept + i, t_end + i);
}

__global__ void march_write_kernel(const float* __restrict__ origins, const float* __restrict__ directions,
                                   const float* __restrict__ near, const float* __restrict__ far,
                                   const float* __restrict__ offsets, OccGrid grid, StepRule rule,
                                   int64_t width, int64_t max_samples, int64_t n,
                                   const int64_t* __restrict__ starts, int64_t* __restrict__ ray_indices,
                                   float* __restrict__ t, float* __restrict__ deltas) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const MarchRay ray = march_ray_at(origins, directions, near, far, offsets, i);
  march_write_ray(rule, grid, ray, i, width, max_samples, starts[i], ray_indices, t, deltas);
}

}  // namespace

const char* march_count_cuda(const float* near, const float* far, int64_t n, const StepRule& rule,
                             float* counts, void* stream) {
  march_count_kernel<<<blocks_for(n), kThreads, 0, (cudaStream_t)stream>>>(near, far, n, rule, counts);
  return launch_status();
}

const char* march_scan_cuda(const float* origins, const float* directions, const float* near,
                            const float* far, const float* offsets, const OccGrid& grid, const StepRule& rule,
                            int64_t width, int64_t max_samples, int64_t n, int64_t* n_kept, float* t_end,
                            void* stream) {
  march_scan_kernel<<<blocks_for(n), kThreads, 0, (cudaStream_t)stream>>>(
      origins, directions, near, far, offsets, grid, rule, width, max_samples, n, n_kept, t_end);
  return launch_status();
}

const char* march_write_cuda(const float* origins, const float* directions, const float* near,
                             const float* far, const float* offsets, const OccGrid& grid, const StepRule& rule,
                             int64_t width, int64_t max_samples, int64_t n, const int64_t* starts,
                             int64_t* ray_indices, float* t, float* deltas, void* stream) {
  march_write_kernel<<<blocks_for(n), kThreads, 0, (cudaStream_t)stream>>>(
      origins, directions, near, far, offsets, grid, rule, width, max_samples, n, starts, ray_indices, t,
      deltas);
  return launch_status();
}

}  // namespace pvd
