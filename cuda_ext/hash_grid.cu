// CUDA launchers of the hash-grid encoding: one thread per (point, level), blockIdx.y = level so a
// block's threads share a level's rows. Backward scatters into the table with atomicAdd.
#include <cuda_runtime.h>

#include "hash_grid.h"
#include "launch.h"

namespace pvd {

namespace {

constexpr int kThreads = 256;

template <int kF>
__global__ void hash_grid_fwd_kernel(const float* __restrict__ x, const float* __restrict__ table,
                                     const GridSpec spec, int64_t n, int n_levels,
                                     int n_features, float* __restrict__ out) {
  const int64_t p = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (p >= n) return;
  const int level = blockIdx.y;
  const GridLevel lv = grid_level(spec, level);
  hash_grid_fwd_one<kF>(x + 3 * p, table, n_features, lv,
                        out + p * n_levels * n_features + (int64_t)level * n_features);
}

template <int kF>
__global__ void hash_grid_bwd_kernel(const float* __restrict__ x, const float* __restrict__ grad,
                                     const GridSpec spec, int64_t n, int n_levels,
                                     int n_features, float* __restrict__ grad_table) {
  const int64_t p = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (p >= n) return;
  const int level = blockIdx.y;
  const GridLevel lv = grid_level(spec, level);
  hash_grid_bwd_one<kF>(x + 3 * p, grad + p * n_levels * n_features + (int64_t)level * n_features,
                        n_features, lv, grad_table);
}

__global__ void hash_grid_dx_kernel(const float* __restrict__ x, const float* __restrict__ grad,
                                    const float* __restrict__ table, const GridSpec spec, int64_t n,
                                    int n_levels,
                                    int n_features, float* __restrict__ dx) {
  const int64_t p = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (p >= n) return;
  float d[3] = {0.0f, 0.0f, 0.0f};
  for (int level = 0; level < n_levels; ++level) {
    const GridLevel lv = grid_level(spec, level);
    hash_grid_dx_one(x + 3 * p, grad + p * n_levels * n_features + (int64_t)level * n_features, table,
                     n_features, lv, d);
  }
  dx[3 * p] = d[0];
  dx[3 * p + 1] = d[1];
  dx[3 * p + 2] = d[2];
}

dim3 point_level_blocks(int64_t n, int n_levels) {
  return dim3((unsigned)((n + kThreads - 1) / kThreads), (unsigned)n_levels);
}

template <int kF>
void fwd_impl(const float* x, const float* table, const GridSpec& spec, int64_t n, int n_levels, int n_features,
              float* out, cudaStream_t stream) {
  hash_grid_fwd_kernel<kF><<<point_level_blocks(n, n_levels), kThreads, 0, stream>>>(
      x, table, spec, n, n_levels, n_features, out);
}

template <int kF>
void bwd_impl(const float* x, const float* grad, const GridSpec& spec, int64_t n, int n_levels, int n_features,
              float* grad_table, cudaStream_t stream) {
  hash_grid_bwd_kernel<kF><<<point_level_blocks(n, n_levels), kThreads, 0, stream>>>(
      x, grad, spec, n, n_levels, n_features, grad_table);
}

}  // namespace

const char* hash_grid_fwd_cuda(const float* x, const float* table, const GridSpec& spec, int64_t n,
                               int n_levels, int n_features, float* out, void* stream) {
  PVD_DISPATCH_FEATURES(n_features, fwd_impl, x, table, spec, n, n_levels, n_features, out, (cudaStream_t)stream);
  return launch_status();
}

const char* hash_grid_bwd_cuda(const float* x, const float* grad, const GridSpec& spec, int64_t n,
                               int n_levels, int n_features, float* grad_table, void* stream) {
  PVD_DISPATCH_FEATURES(n_features, bwd_impl, x, grad, spec, n, n_levels, n_features, grad_table,
                        (cudaStream_t)stream);
  return launch_status();
}

const char* hash_grid_dx_cuda(const float* x, const float* grad, const float* table, const GridSpec& spec,
                              int64_t n, int n_levels, int n_features, float* dx, void* stream) {
  const unsigned blocks = (unsigned)((n + kThreads - 1) / kThreads);
  hash_grid_dx_kernel<<<blocks, kThreads, 0, (cudaStream_t)stream>>>(x, grad, table, spec, n, n_levels,
                                                                     n_features, dx);
  return launch_status();
}

}  // namespace pvd
