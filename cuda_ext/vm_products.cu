// CUDA launchers of the VM plane x line products: one thread per (point, channel), blockIdx.y = channel
// so a block's threads share one channel's plane and line. Backward scatters with atomicAdd.
#include <cuda_runtime.h>

#include "launch.h"
#include "vm_products.h"

namespace pvd {

namespace {

constexpr int kThreads = 256;

__global__ void vm_products_fwd_kernel(const float* __restrict__ planes, const float* __restrict__ lines,
                                       const float* __restrict__ unit, const VMShape s, int64_t n,
                                       float* __restrict__ out) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const int64_t channel = blockIdx.y;
  const VMCell<float> c = vm_cell(unit + 3 * i, (int)(channel / s.rank), s);
  float pv, lv;
  vm_sample(c, planes + channel * s.height * s.width, lines + channel * s.length, s.width, &pv, &lv);
  out[channel * n + i] = pv * lv;
}

__global__ void vm_products_bwd_kernel(const float* __restrict__ grad, const float* __restrict__ planes,
                                       const float* __restrict__ lines, const float* __restrict__ unit,
                                       const VMShape s, int64_t n, float* __restrict__ grad_planes,
                                       float* __restrict__ grad_lines) {
  const int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const int64_t channel = blockIdx.y;
  const int64_t plane_size = s.height * s.width;
  const VMCell<float> c = vm_cell(unit + 3 * i, (int)(channel / s.rank), s);
  float pv, lv;
  vm_sample(c, planes + channel * plane_size, lines + channel * s.length, s.width, &pv, &lv);
  vm_scatter(c, grad[channel * n + i], pv, lv, s.width, grad_planes + channel * plane_size,
             grad_lines + channel * s.length);
}

dim3 point_channel_blocks(int64_t n, const VMShape& s) {
  return dim3((unsigned)((n + kThreads - 1) / kThreads), (unsigned)(3 * s.rank));
}

}  // namespace

const char* vm_products_fwd_cuda(const float* planes, const float* lines, const float* unit, const VMShape& s,
                                 int64_t n, float* out, void* stream) {
  vm_products_fwd_kernel<<<point_channel_blocks(n, s), kThreads, 0, (cudaStream_t)stream>>>(planes, lines, unit,
                                                                                            s, n, out);
  return launch_status();
}

const char* vm_products_bwd_cuda(const float* grad, const float* planes, const float* lines, const float* unit,
                                 const VMShape& s, int64_t n, float* grad_planes, float* grad_lines,
                                 void* stream) {
  vm_products_bwd_kernel<<<point_channel_blocks(n, s), kThreads, 0, (cudaStream_t)stream>>>(
      grad, planes, lines, unit, s, n, grad_planes, grad_lines);
  return launch_status();
}

}  // namespace pvd
