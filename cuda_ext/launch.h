// Launch functions of every native op, on raw pointers (no torch types), called by bindings.cpp.
// Layouts are row-major and contiguous; bindings.cpp checks them before calling.
// CPU launchers (<op>_cpu.cpp) parallelise with at::parallel_for; CUDA launchers (<op>.cu) run on the
// given stream and return nullptr on success or the CUDA error string.
#pragma once

#include <stdint.h>

namespace pvd {

// ---- hash grid: x [n,3], table [n_entries,F], offsets [L+1], resolutions [L], out/grad [n,L*F] ----
void hash_grid_fwd_cpu(const float* x, const float* table, const int64_t* offsets,
                       const int64_t* resolutions, int64_t n, int n_levels, int n_features, float* out);
// grad_table is written in full (rows not touched by any point become zero).
void hash_grid_bwd_cpu(const float* x, const float* grad, const int64_t* offsets,
                       const int64_t* resolutions, int64_t n, int n_levels, int n_features,
                       float* grad_table);
void hash_grid_dx_cpu(const float* x, const float* grad, const float* table, const int64_t* offsets,
                      const int64_t* resolutions, int64_t n, int n_levels, int n_features, float* dx);

// ---- SH encoding: d [n,3], out/grad [n,n_bands^2], dd [n,3] ----
void sh_encode_fwd_cpu(const float* d, int64_t n, int n_bands, float* out);
void sh_encode_bwd_cpu(const float* d, const float* grad, int64_t n, int n_bands, float* dd);

#ifdef PVD_WITH_CUDA
// grad_table must be zeroed by the caller (the kernel accumulates with atomics).
const char* hash_grid_fwd_cuda(const float* x, const float* table, const int64_t* offsets,
                               const int64_t* resolutions, int64_t n, int n_levels, int n_features,
                               float* out, void* stream);
const char* hash_grid_bwd_cuda(const float* x, const float* grad, const int64_t* offsets,
                               const int64_t* resolutions, int64_t n, int n_levels, int n_features,
                               float* grad_table, void* stream);
const char* hash_grid_dx_cuda(const float* x, const float* grad, const float* table,
                              const int64_t* offsets, const int64_t* resolutions, int64_t n,
                              int n_levels, int n_features, float* dx, void* stream);
const char* sh_encode_fwd_cuda(const float* d, int64_t n, int n_bands, float* out, void* stream);
const char* sh_encode_bwd_cuda(const float* d, const float* grad, int64_t n, int n_bands, float* dd,
                               void* stream);
#endif

}  // namespace pvd
