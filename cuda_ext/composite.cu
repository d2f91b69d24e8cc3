// CUDA launchers of packed-sample compositing: one thread per sample for the ray ranges, one thread
// per ray for the front-to-back passes.
#include <cuda_runtime.h>

#include "composite.h"
#include "launch.h"

namespace pvd {

namespace {

constexpr int kThreads = 256;

unsigned blocks_for(int64_t n) { return (unsigned)((n + kThreads - 1) / kThreads); }

__global__ void ray_ranges_kernel(const int64_t* __restrict__ ray_indices, int64_t m, int64_t n_rays,
                                  int64_t* __restrict__ begins, int64_t* __restrict__ ends) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < m) ray_range_mark(ray_indices, m, n_rays, i, begins, ends);
}

__global__ void composite_fwd_kernel(PackedSamples s, const int64_t* __restrict__ begins,
                                     const int64_t* __restrict__ ends, int64_t n_rays, float* weights,
                                     float* rgb, float* depth, float* opacity) {
  const int64_t r = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (r < n_rays) composite_fwd_ray(s, begins[r], ends[r], weights, rgb + 3 * r, depth + r, opacity + r);
}

__global__ void composite_bwd_kernel(PackedSamples s, const float* __restrict__ grad_weights,
                                     const float* __restrict__ grad_rgb, const float* __restrict__ grad_depth,
                                     const float* __restrict__ grad_opacity, const int64_t* __restrict__ begins,
                                     const int64_t* __restrict__ ends, int64_t n_rays, PackedGrads out) {
  const int64_t r = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (r >= n_rays) return;
  const CompositeGrads g{grad_weights, grad_rgb + 3 * r, grad_depth[r], grad_opacity[r]};
  composite_bwd_ray(s, g, begins[r], ends[r], out);
}

}  // namespace

const char* ray_ranges_cuda(const int64_t* ray_indices, int64_t m, int64_t n_rays, int64_t* begins,
                            int64_t* ends, void* stream) {
  ray_ranges_kernel<<<blocks_for(m), kThreads, 0, (cudaStream_t)stream>>>(ray_indices, m, n_rays, begins, ends);
  return launch_status();
}

const char* composite_fwd_cuda(const PackedSamples& s, const int64_t* begins, const int64_t* ends,
                               int64_t n_rays, float* weights, float* rgb, float* depth, float* opacity,
                               void* stream) {
  composite_fwd_kernel<<<blocks_for(n_rays), kThreads, 0, (cudaStream_t)stream>>>(s, begins, ends, n_rays,
                                                                                   weights, rgb, depth, opacity);
  return launch_status();
}

const char* composite_bwd_cuda(const PackedSamples& s, const float* grad_weights, const float* grad_rgb,
                               const float* grad_depth, const float* grad_opacity, const int64_t* begins,
                               const int64_t* ends, int64_t n_rays, const PackedGrads& out, void* stream) {
  composite_bwd_kernel<<<blocks_for(n_rays), kThreads, 0, (cudaStream_t)stream>>>(
      s, grad_weights, grad_rgb, grad_depth, grad_opacity, begins, ends, n_rays, out);
  return launch_status();
}

}  // namespace pvd
