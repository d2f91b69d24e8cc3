// CUDA launcher of the ray / box intersection: one thread per ray.
#include <cuda_runtime.h>

#include "launch.h"
#include "ray_aabb.h"

namespace pvd {

namespace {

constexpr int kThreads = 256;

__global__ void ray_aabb_kernel(const float* __restrict__ origins, const float* __restrict__ directions,
                                const float* __restrict__ aabb, int64_t n, float* __restrict__ t_near,
                                float* __restrict__ t_far, bool* __restrict__ hit) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) hit[i] = ray_aabb_one(origins + 3 * i, directions + 3 * i, aabb, t_near + i, t_far + i);
}

}  // namespace

const char* ray_aabb_cuda(const float* origins, const float* directions, const float* aabb, int64_t n,
                          float* t_near, float* t_far, bool* hit, void* stream) {
  const unsigned blocks = (unsigned)((n + kThreads - 1) / kThreads);
  ray_aabb_kernel<<<blocks, kThreads, 0, (cudaStream_t)stream>>>(origins, directions, aabb, n, t_near, t_far,
                                                                 hit);
  return launch_status();
}

}  // namespace pvd
