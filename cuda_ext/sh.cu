// CUDA launchers of the spherical-harmonics encoding: one thread per direction.
#include <cuda_runtime.h>

#include "launch.h"
#include "sh.h"

namespace pvd {

namespace {

constexpr int kThreads = 256;

__global__ void sh_encode_fwd_kernel(const float* __restrict__ d, int64_t n, int n_bands,
                                     float* __restrict__ out) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) sh_encode_one(d + 3 * i, n_bands, out + (int64_t)n_bands * n_bands * i);
}

__global__ void sh_encode_bwd_kernel(const float* __restrict__ d, const float* __restrict__ grad,
                                     int64_t n, int n_bands, float* __restrict__ dd) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) sh_encode_bwd_one(d + 3 * i, grad + (int64_t)n_bands * n_bands * i, n_bands, dd + 3 * i);
}

}  // namespace

const char* sh_encode_fwd_cuda(const float* d, int64_t n, int n_bands, float* out, void* stream) {
  const unsigned blocks = (unsigned)((n + kThreads - 1) / kThreads);
  sh_encode_fwd_kernel<<<blocks, kThreads, 0, (cudaStream_t)stream>>>(d, n, n_bands, out);
  return launch_status();
}

const char* sh_encode_bwd_cuda(const float* d, const float* grad, int64_t n, int n_bands, float* dd,
                               void* stream) {
  const unsigned blocks = (unsigned)((n + kThreads - 1) / kThreads);
  sh_encode_bwd_kernel<<<blocks, kThreads, 0, (cudaStream_t)stream>>>(d, grad, n, n_bands, dd);
  return launch_status();
}

}  // namespace pvd
