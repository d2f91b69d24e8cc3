// Shared definitions for the per-element math headers. Compiled by nvcc (host + device) and by the
// host C++ compiler alike; no torch includes here or in any header that includes this one.
#pragma once

#include <math.h>
#include <stdint.h>

#if defined(__CUDACC__)
#define PVD_HD __host__ __device__ __forceinline__
#else
#define PVD_HD inline
#endif

// Loop unrolling hint: nvcc's device pass, the host compiler, nothing for nvcc's host pass.
#if defined(__CUDA_ARCH__)
#define PVD_UNROLL _Pragma("unroll")
#elif defined(__CUDACC__)
#define PVD_UNROLL
#else
#define PVD_UNROLL _Pragma("GCC unroll 8")
#endif

namespace pvd {

PVD_HD float clamp01(float v) { return v < 0.0f ? 0.0f : (v > 1.0f ? 1.0f : v); }

// Adds v to *p. On the device this is an atomicAdd; the CPU launchers partition their writes so that
// no two threads touch the same address, and the host branch is a plain add. (T: float, or double for
// the CPU launchers that support it.)
template <typename T>
PVD_HD void scatter_add(T* p, T v) {
#if defined(__CUDA_ARCH__)
  atomicAdd(p, v);
#else
  *p += v;
#endif
}

// Calls IMPL<kF>(args...) with kF the feature count when it is 1, 2, 4 or 8, else IMPL<0> (runtime count).
#define PVD_DISPATCH_FEATURES(n_features, IMPL, ...) \
  switch (n_features) {                              \
    case 1: IMPL<1>(__VA_ARGS__); break;             \
    case 2: IMPL<2>(__VA_ARGS__); break;             \
    case 4: IMPL<4>(__VA_ARGS__); break;             \
    case 8: IMPL<8>(__VA_ARGS__); break;             \
    default: IMPL<0>(__VA_ARGS__); break;            \
  }

#if defined(__CUDACC__)
// Status of the last kernel launch: nullptr on success, else the CUDA error string.
inline const char* launch_status() {
  const cudaError_t err = cudaGetLastError();
  return err == cudaSuccess ? nullptr : cudaGetErrorString(err);
}
#endif

}  // namespace pvd
