// Launch functions of every native op, on raw pointers and the plain parameter structs of the math
// headers (no torch types), called by bindings.cpp.
// Layouts are row-major and contiguous; bindings.cpp checks them before calling.
// CPU launchers (<op>_cpu.cpp) parallelise with at::parallel_for; CUDA launchers (<op>.cu) run on the
// given stream and return nullptr on success or the CUDA error string.
#pragma once

#include <stdint.h>

#include "composite.h"
#include "gs_points.h"
#include "hash_grid.h"
#include "march.h"
#include "splat.h"
#include "vm_products.h"

namespace pvd {

// ---- hash grid: x [n,3], table [n_entries,F], spec (offsets [L+1], resolutions, scales [L]), out/grad [n,L*F] ----
void hash_grid_fwd_cpu(const float* x, const float* table, const GridSpec& spec, int64_t n, int n_levels,
                       int n_features, float* out);
// grad_table is written in full (rows not touched by any point become zero).
void hash_grid_bwd_cpu(const float* x, const float* grad, const GridSpec& spec, int64_t n, int n_levels,
                       int n_features, float* grad_table);
void hash_grid_dx_cpu(const float* x, const float* grad, const float* table, const GridSpec& spec, int64_t n,
                      int n_levels, int n_features, float* dx);

// ---- SH encoding: d [n,3], out/grad [n,n_bands^2], dd [n,3] ----
void sh_encode_fwd_cpu(const float* d, int64_t n, int n_bands, float* out);
void sh_encode_bwd_cpu(const float* d, const float* grad, int64_t n, int n_bands, float* dd);

// ---- ray-aabb: origins, directions [n,3], aabb [6] -> t_near, t_far [n], hit [n] ----
void ray_aabb_cpu(const float* origins, const float* directions, const float* aabb, int64_t n, float* t_near,
                  float* t_far, bool* hit);

// ---- compositing: packed samples [m], sorted ray_indices [m], per-ray outputs [n_rays] ----
// begins/ends [n_rays] must be zeroed by the caller; rays without samples keep [0, 0).
void ray_ranges_cpu(const int64_t* ray_indices, int64_t m, int64_t n_rays, int64_t* begins, int64_t* ends);
void composite_fwd_cpu(const PackedSamples& s, const int64_t* begins, const int64_t* ends, int64_t n_rays,
                       float* weights, float* rgb, float* depth, float* opacity);
void composite_bwd_cpu(const PackedSamples& s, const float* grad_weights, const float* grad_rgb,
                       const float* grad_depth, const float* grad_opacity, const int64_t* begins,
                       const int64_t* ends, int64_t n_rays, const PackedGrads& out);

// ---- marching: rays [n] (origins, directions [n,3]; near, far, offsets [n]) ----
// counts [n]: intervals from near to max(far, near); then n_kept [n] and t_end [n]; then the samples
// at exclusive offsets `starts` [n] into ray_indices, t, deltas [sum n_kept].
void march_count_cpu(const float* near, const float* far, int64_t n, const StepRule& rule, float* counts);
void march_scan_cpu(const float* origins, const float* directions, const float* near, const float* far,
                    const float* offsets, const OccGrid& grid, const StepRule& rule, int64_t width,
                    int64_t max_samples, int64_t n, int64_t* n_kept, float* t_end);
void march_write_cpu(const float* origins, const float* directions, const float* near, const float* far,
                     const float* offsets, const OccGrid& grid, const StepRule& rule, int64_t width,
                     int64_t max_samples, int64_t n, const int64_t* starts, int64_t* ray_indices, float* t,
                     float* deltas);

// ---- Gaussian point queries: x [n,3] box points -> sigma [n] (sum of kernel weights within sqrt(cutoff2)
// Mahalanobis units) and weighted [n,C] (those weights times each Gaussian's C values). CPU only.
void gs_points_fwd_cpu(const float* x, const GaussianSet& g, float cutoff2, int64_t n, float* sigma,
                       float* weighted);

// ---- splat blending: projected Gaussians (Splats, radii [n]), order [n_order] front to back -> per pixel
// rgb [H*W,3], depth, opacity [H*W] (background not blended); gradients accumulate into zeroed SplatGrads.
// CPU only: on CUDA pvd rasterises with gsplat.
void splat_fwd_cpu(const Splats& s, const float* radii, const int64_t* order, int64_t n_order, int64_t width,
                   int64_t height, float* rgb, float* depth, float* opacity);
// rgb, depth, opacity: splat_fwd_cpu's outputs; n: the number of Gaussians (rows of `out`).
void splat_bwd_cpu(const Splats& s, const float* radii, const int64_t* order, int64_t n_order, int64_t n,
                   int64_t width, int64_t height, const float* rgb, const float* depth, const float* opacity,
                   const float* grad_rgb, const float* grad_depth, const float* grad_opacity, const SplatGrads& out);

// ---- VM products: planes [3,R,H,W], lines [3,R,L,1], unit [n,3] -> out/grad [3,R,n] (T: float, double) ----
template <typename T>
void vm_products_fwd_cpu(const T* planes, const T* lines, const T* unit, const VMShape& s, int64_t n, T* out);
// grad_planes and grad_lines are written in full.
template <typename T>
void vm_products_bwd_cpu(const T* grad, const T* planes, const T* lines, const T* unit, const VMShape& s, int64_t n,
                         T* grad_planes, T* grad_lines);

#ifdef PVD_WITH_CUDA
const char* hash_grid_fwd_cuda(const float* x, const float* table, const GridSpec& spec, int64_t n,
                               int n_levels, int n_features, float* out, void* stream);
// grad_table must be zeroed by the caller (the kernel accumulates with atomics).
const char* hash_grid_bwd_cuda(const float* x, const float* grad, const GridSpec& spec, int64_t n,
                               int n_levels, int n_features, float* grad_table, void* stream);
const char* hash_grid_dx_cuda(const float* x, const float* grad, const float* table, const GridSpec& spec,
                              int64_t n, int n_levels, int n_features, float* dx, void* stream);
const char* sh_encode_fwd_cuda(const float* d, int64_t n, int n_bands, float* out, void* stream);
const char* sh_encode_bwd_cuda(const float* d, const float* grad, int64_t n, int n_bands, float* dd,
                               void* stream);
const char* ray_aabb_cuda(const float* origins, const float* directions, const float* aabb, int64_t n,
                          float* t_near, float* t_far, bool* hit, void* stream);
const char* ray_ranges_cuda(const int64_t* ray_indices, int64_t m, int64_t n_rays, int64_t* begins,
                            int64_t* ends, void* stream);
const char* composite_fwd_cuda(const PackedSamples& s, const int64_t* begins, const int64_t* ends,
                               int64_t n_rays, float* weights, float* rgb, float* depth, float* opacity,
                               void* stream);
const char* composite_bwd_cuda(const PackedSamples& s, const float* grad_weights, const float* grad_rgb,
                               const float* grad_depth, const float* grad_opacity, const int64_t* begins,
                               const int64_t* ends, int64_t n_rays, const PackedGrads& out, void* stream);
const char* march_count_cuda(const float* near, const float* far, int64_t n, const StepRule& rule,
                             float* counts, void* stream);
const char* march_scan_cuda(const float* origins, const float* directions, const float* near,
                            const float* far, const float* offsets, const OccGrid& grid, const StepRule& rule,
                            int64_t width, int64_t max_samples, int64_t n, int64_t* n_kept, float* t_end,
                            void* stream);
const char* march_write_cuda(const float* origins, const float* directions, const float* near,
                             const float* far, const float* offsets, const OccGrid& grid, const StepRule& rule,
                             int64_t width, int64_t max_samples, int64_t n, const int64_t* starts,
                             int64_t* ray_indices, float* t, float* deltas, void* stream);
const char* vm_products_fwd_cuda(const float* planes, const float* lines, const float* unit, const VMShape& s,
                                 int64_t n, float* out, void* stream);
// grad_planes and grad_lines must be zeroed by the caller (the kernel accumulates with atomics).
const char* vm_products_bwd_cuda(const float* grad, const float* planes, const float* lines, const float* unit,
                                 const VMShape& s, int64_t n, float* grad_planes, float* grad_lines,
                                 void* stream);
#endif

}  // namespace pvd
