// Torch glue and Python bindings of the native ops: checks dtype, shape, contiguity and device of every
// tensor (TORCH_CHECK), allocates outputs and calls the raw-pointer launchers declared in launch.h.
// Built twice by pvd/ops/backend.py: CPU-only, and with -DPVD_WITH_CUDA together with the .cu files.
// Narrow ATen headers instead of <torch/extension.h> halve the compile time of this file.
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/zeros_like.h>
#include <torch/csrc/utils/pybind.h>

#include <optional>
#include <tuple>
#include <utility>

#include "launch.h"

#ifdef PVD_WITH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
// Runs `call` (which may use `stream`) on the tensor's device and current stream; fails on launch errors.
#define PVD_CUDA_CALL(tensor, op, call)                                                      \
  do {                                                                                       \
    const c10::cuda::CUDAGuard device_guard((tensor).device());                              \
    void* stream = static_cast<void*>(c10::cuda::getCurrentCUDAStream().stream());           \
    const char* launch_error = (call);                                                       \
    TORCH_CHECK(launch_error == nullptr, op, ": CUDA launch failed: ", launch_error);        \
  } while (0)
#else
#define PVD_CUDA_CALL(tensor, op, call) \
  TORCH_CHECK(false, op, ": this pvd native build is CPU-only; build the CUDA one (pvd build-ext --cuda)")
#endif

namespace {

using at::Tensor;

// dtype, rank, contiguity and device (that of `like`, the op's first tensor) of one argument.
void check_arg(const Tensor& t, const char* op, const char* name, at::ScalarType dtype, int64_t dim,
               const Tensor& like) {
  TORCH_CHECK(t.defined(), op, ": ", name, " is undefined");
  TORCH_CHECK(t.scalar_type() == dtype, op, ": ", name, " must be ", dtype, ", got ", t.scalar_type());
  TORCH_CHECK(t.dim() == dim, op, ": ", name, " must have ", dim, " dimensions, got shape ", t.sizes());
  TORCH_CHECK(t.is_contiguous(), op, ": ", name, " must be contiguous");
  TORCH_CHECK(t.is_cpu() || t.is_cuda(), op, ": ", name, " must be on a CPU or CUDA device, got ", t.device());
  TORCH_CHECK(t.device() == like.device(), op, ": ", name, " is on ", t.device(), ", the other inputs on ",
              like.device());
}

void check_rows(const Tensor& t, const char* op, const char* name, int64_t rows, int64_t cols) {
  TORCH_CHECK(t.size(0) == rows && t.size(1) == cols, op, ": ", name, " must have shape [", rows, ", ", cols,
              "], got ", t.sizes());
}

void check_len(const Tensor& t, const char* op, const char* name, int64_t n) {
  TORCH_CHECK(t.size(0) == n, op, ": ", name, " must have ", n, " entries, got shape ", t.sizes());
}

// Hash-grid arguments; on the CPU also the values of offsets/resolutions (on a GPU that would sync).
// `scales` may be undefined (then the resolutions are the scales); returns the scales to use.
Tensor check_hash_grid(const char* op, const Tensor& x, const Tensor& table, const Tensor& offsets,
                       const Tensor& resolutions, const std::optional<Tensor>& scales, double shift) {
  check_arg(x, op, "x", at::kFloat, 2, x);
  TORCH_CHECK(x.size(1) == 3, op, ": x must have shape [n, 3], got ", x.sizes());
  check_arg(table, op, "table", at::kFloat, 2, x);
  check_arg(offsets, op, "offsets", at::kLong, 1, x);
  check_arg(resolutions, op, "resolutions", at::kLong, 1, x);
  const int64_t n_levels = resolutions.size(0);
  TORCH_CHECK(n_levels >= 1 && offsets.size(0) == n_levels + 1, op, ": offsets must have L + 1 = ",
              n_levels + 1, " entries for L = ", n_levels, " resolutions, got ", offsets.size(0));
  TORCH_CHECK(shift >= 0.0 && shift < 1.0, op, ": shift must be in [0, 1), got ", shift);
  Tensor sc = scales.has_value() && scales->defined() ? *scales : resolutions.to(at::kFloat);
  check_arg(sc, op, "scales", at::kFloat, 1, x);
  check_len(sc, op, "scales", n_levels);
  if (!x.is_cpu()) return sc;
  const int64_t* off = offsets.data_ptr<int64_t>();
  const int64_t* res = resolutions.data_ptr<int64_t>();
  const float* s = sc.data_ptr<float>();
  TORCH_CHECK(off[0] >= 0 && off[n_levels] <= table.size(0), op, ": offsets span rows ", off[0], "..",
              off[n_levels], " but the table has ", table.size(0), " rows");
  for (int64_t l = 0; l < n_levels; ++l) {
    TORCH_CHECK(off[l + 1] > off[l], op, ": level ", l, " owns no rows (offsets must increase)");
    TORCH_CHECK(res[l] >= 1, op, ": resolutions[", l, "] must be >= 1, got ", res[l]);
    TORCH_CHECK(s[l] >= 0.0f && s[l] + shift <= (float)res[l] + 1.0f, op, ": scales[", l, "] = ", s[l],
                " with shift ", shift, " reaches beyond vertex ", res[l]);
  }
  return sc;
}

pvd::GridSpec grid_spec(const Tensor& offsets, const Tensor& resolutions, const Tensor& scales, double shift,
                        bool zero_outside) {
  return pvd::GridSpec{offsets.data_ptr<int64_t>(), resolutions.data_ptr<int64_t>(), scales.data_ptr<float>(),
                       (float)shift, zero_outside};
}

Tensor hash_grid_fwd(const Tensor& x, const Tensor& table, const Tensor& offsets, const Tensor& resolutions,
                     const std::optional<Tensor>& scales, double shift, bool zero_outside) {
  const char* op = "hash_grid_fwd";
  const Tensor sc = check_hash_grid(op, x, table, offsets, resolutions, scales, shift);
  const int64_t n = x.size(0);
  const int n_levels = (int)resolutions.size(0), n_features = (int)table.size(1);
  Tensor out = at::empty({n, (int64_t)n_levels * n_features}, x.options());
  if (n == 0) return out;
  const float* xp = x.data_ptr<float>();
  const float* tp = table.data_ptr<float>();
  const pvd::GridSpec spec = grid_spec(offsets, resolutions, sc, shift, zero_outside);
  if (x.is_cuda()) {
    PVD_CUDA_CALL(x, op, pvd::hash_grid_fwd_cuda(xp, tp, spec, n, n_levels, n_features, out.data_ptr<float>(),
                                                 stream));
  } else {
    pvd::hash_grid_fwd_cpu(xp, tp, spec, n, n_levels, n_features, out.data_ptr<float>());
  }
  return out;
}

// Returns (grad_table [n_entries, F], grad_x [n, 3] when need_dx else None).
std::tuple<Tensor, std::optional<Tensor>> hash_grid_bwd(const Tensor& grad, const Tensor& x, const Tensor& table,
                                                         const Tensor& offsets, const Tensor& resolutions,
                                                         bool need_dx, const std::optional<Tensor>& scales,
                                                         double shift, bool zero_outside) {
  const char* op = "hash_grid_bwd";
  const Tensor sc = check_hash_grid(op, x, table, offsets, resolutions, scales, shift);
  const int64_t n = x.size(0);
  const int n_levels = (int)resolutions.size(0), n_features = (int)table.size(1);
  check_arg(grad, op, "grad", at::kFloat, 2, x);
  check_rows(grad, op, "grad", n, (int64_t)n_levels * n_features);
  if (n == 0) return {at::zeros_like(table), need_dx ? std::optional<Tensor>(at::zeros_like(x)) : std::nullopt};
  const float* xp = x.data_ptr<float>();
  const float* gp = grad.data_ptr<float>();
  const pvd::GridSpec spec = grid_spec(offsets, resolutions, sc, shift, zero_outside);
  Tensor grad_table;
  std::optional<Tensor> dx;
  if (need_dx) dx = at::empty_like(x);
  if (x.is_cuda()) {
    grad_table = at::zeros_like(table);
    PVD_CUDA_CALL(x, op, pvd::hash_grid_bwd_cuda(xp, gp, spec, n, n_levels, n_features,
                                                 grad_table.data_ptr<float>(), stream));
    if (need_dx) {
      PVD_CUDA_CALL(x, op, pvd::hash_grid_dx_cuda(xp, gp, table.data_ptr<float>(), spec, n, n_levels, n_features,
                                                  dx->data_ptr<float>(), stream));
    }
  } else {
    // The launcher zeroes each level's rows itself; rows outside every level are zeroed here.
    const int64_t* offp = offsets.data_ptr<int64_t>();
    const bool covered = offp[0] == 0 && offp[n_levels] == table.size(0);
    grad_table = covered ? at::empty_like(table) : at::zeros_like(table);
    pvd::hash_grid_bwd_cpu(xp, gp, spec, n, n_levels, n_features, grad_table.data_ptr<float>());
    if (need_dx) {
      pvd::hash_grid_dx_cpu(xp, gp, table.data_ptr<float>(), spec, n, n_levels, n_features, dx->data_ptr<float>());
    }
  }
  return {grad_table, dx};
}

void check_sh(const char* op, const Tensor& d, int64_t n_bands) {
  check_arg(d, op, "d", at::kFloat, 2, d);
  TORCH_CHECK(d.size(1) == 3, op, ": d must have shape [n, 3], got ", d.sizes());
  TORCH_CHECK(n_bands >= 1 && n_bands <= 4, op, ": n_bands must be in 1..4, got ", n_bands);
}

Tensor sh_encode_fwd(const Tensor& d, int64_t n_bands) {
  const char* op = "sh_encode_fwd";
  check_sh(op, d, n_bands);
  const int64_t n = d.size(0);
  Tensor out = at::empty({n, n_bands * n_bands}, d.options());
  if (n == 0) return out;
  if (d.is_cuda()) {
    PVD_CUDA_CALL(d, op, pvd::sh_encode_fwd_cuda(d.data_ptr<float>(), n, (int)n_bands, out.data_ptr<float>(),
                                                 stream));
  } else {
    pvd::sh_encode_fwd_cpu(d.data_ptr<float>(), n, (int)n_bands, out.data_ptr<float>());
  }
  return out;
}

Tensor sh_encode_bwd(const Tensor& grad, const Tensor& d, int64_t n_bands) {
  const char* op = "sh_encode_bwd";
  check_sh(op, d, n_bands);
  const int64_t n = d.size(0);
  check_arg(grad, op, "grad", at::kFloat, 2, d);
  check_rows(grad, op, "grad", n, n_bands * n_bands);
  Tensor dd = at::empty_like(d);
  if (n == 0) return dd;
  if (d.is_cuda()) {
    PVD_CUDA_CALL(d, op, pvd::sh_encode_bwd_cuda(d.data_ptr<float>(), grad.data_ptr<float>(), n, (int)n_bands,
                                                 dd.data_ptr<float>(), stream));
  } else {
    pvd::sh_encode_bwd_cpu(d.data_ptr<float>(), grad.data_ptr<float>(), n, (int)n_bands, dd.data_ptr<float>());
  }
  return dd;
}

// ---- ray / box intersection ----

std::tuple<Tensor, Tensor, Tensor> ray_aabb_fwd(const Tensor& origins, const Tensor& directions,
                                                const Tensor& aabb) {
  const char* op = "ray_aabb_fwd";
  check_arg(origins, op, "origins", at::kFloat, 2, origins);
  const int64_t n = origins.size(0);
  check_rows(origins, op, "origins", n, 3);
  check_arg(directions, op, "directions", at::kFloat, 2, origins);
  check_rows(directions, op, "directions", n, 3);
  check_arg(aabb, op, "aabb", at::kFloat, 1, origins);
  check_len(aabb, op, "aabb", 6);
  Tensor t_near = at::empty({n}, origins.options()), t_far = at::empty({n}, origins.options());
  Tensor hit = at::empty({n}, origins.options().dtype(at::kBool));
  if (n == 0) return {t_near, t_far, hit};
  const float *o = origins.data_ptr<float>(), *d = directions.data_ptr<float>(), *box = aabb.data_ptr<float>();
  if (origins.is_cuda()) {
    PVD_CUDA_CALL(origins, op, pvd::ray_aabb_cuda(o, d, box, n, t_near.data_ptr<float>(), t_far.data_ptr<float>(),
                                                  hit.data_ptr<bool>(), stream));
  } else {
    pvd::ray_aabb_cpu(o, d, box, n, t_near.data_ptr<float>(), t_far.data_ptr<float>(), hit.data_ptr<bool>());
  }
  return {t_near, t_far, hit};
}

// ---- compositing ----

pvd::PackedSamples check_composite(const char* op, const Tensor& sigmas, const Tensor& rgbs, const Tensor& deltas,
                                   const Tensor& ts, const Tensor& ray_indices, int64_t n_rays) {
  check_arg(sigmas, op, "sigmas", at::kFloat, 1, sigmas);
  const int64_t m = sigmas.size(0);
  check_arg(rgbs, op, "rgbs", at::kFloat, 2, sigmas);
  check_rows(rgbs, op, "rgbs", m, 3);
  check_arg(deltas, op, "deltas", at::kFloat, 1, sigmas);
  check_len(deltas, op, "deltas", m);
  check_arg(ts, op, "ts", at::kFloat, 1, sigmas);
  check_len(ts, op, "ts", m);
  check_arg(ray_indices, op, "ray_indices", at::kLong, 1, sigmas);
  check_len(ray_indices, op, "ray_indices", m);
  TORCH_CHECK(n_rays >= 0, op, ": n_rays must be >= 0, got ", n_rays);
  return {sigmas.data_ptr<float>(), rgbs.data_ptr<float>(), deltas.data_ptr<float>(), ts.data_ptr<float>()};
}

// [n_rays] begin and end of each ray's samples (sorted ray_indices; [0, 0) for rays without samples).
std::tuple<Tensor, Tensor> ray_ranges(const char* op, const Tensor& ray_indices, int64_t n_rays) {
  Tensor begins = at::zeros({n_rays}, ray_indices.options()), ends = at::zeros({n_rays}, ray_indices.options());
  const int64_t m = ray_indices.size(0);
  if (m == 0 || n_rays == 0) return {begins, ends};
  const int64_t *ri = ray_indices.data_ptr<int64_t>();
  int64_t *b = begins.data_ptr<int64_t>(), *e = ends.data_ptr<int64_t>();
  if (ray_indices.is_cuda()) {
    PVD_CUDA_CALL(ray_indices, op, pvd::ray_ranges_cuda(ri, m, n_rays, b, e, stream));
  } else {
    pvd::ray_ranges_cpu(ri, m, n_rays, b, e);
  }
  return {begins, ends};
}

// Returns (weights [m], rgb [n_rays, 3], depth [n_rays], opacity [n_rays]).
std::tuple<Tensor, Tensor, Tensor, Tensor> composite_fwd(const Tensor& sigmas, const Tensor& rgbs,
                                                         const Tensor& deltas, const Tensor& ts,
                                                         const Tensor& ray_indices, int64_t n_rays) {
  const char* op = "composite_fwd";
  const pvd::PackedSamples s = check_composite(op, sigmas, rgbs, deltas, ts, ray_indices, n_rays);
  const auto [begins, ends] = ray_ranges(op, ray_indices, n_rays);
  Tensor weights = at::zeros({sigmas.size(0)}, sigmas.options());
  Tensor rgb = at::empty({n_rays, 3}, sigmas.options());
  Tensor depth = at::empty({n_rays}, sigmas.options()), opacity = at::empty({n_rays}, sigmas.options());
  if (n_rays == 0) return {weights, rgb, depth, opacity};
  const int64_t *b = begins.data_ptr<int64_t>(), *e = ends.data_ptr<int64_t>();
  float *w = weights.data_ptr<float>(), *c = rgb.data_ptr<float>();
  float *z = depth.data_ptr<float>(), *a = opacity.data_ptr<float>();
  if (sigmas.is_cuda()) {
    PVD_CUDA_CALL(sigmas, op, pvd::composite_fwd_cuda(s, b, e, n_rays, w, c, z, a, stream));
  } else {
    pvd::composite_fwd_cpu(s, b, e, n_rays, w, c, z, a);
  }
  return {weights, rgb, depth, opacity};
}

// Returns the gradients of (sigmas [m], rgbs [m, 3], deltas [m], ts [m]).
std::tuple<Tensor, Tensor, Tensor, Tensor> composite_bwd(const Tensor& grad_weights, const Tensor& grad_rgb,
                                                         const Tensor& grad_depth, const Tensor& grad_opacity,
                                                         const Tensor& sigmas, const Tensor& rgbs,
                                                         const Tensor& deltas, const Tensor& ts,
                                                         const Tensor& ray_indices, int64_t n_rays) {
  const char* op = "composite_bwd";
  const pvd::PackedSamples s = check_composite(op, sigmas, rgbs, deltas, ts, ray_indices, n_rays);
  const int64_t m = sigmas.size(0);
  check_arg(grad_weights, op, "grad_weights", at::kFloat, 1, sigmas);
  check_len(grad_weights, op, "grad_weights", m);
  check_arg(grad_rgb, op, "grad_rgb", at::kFloat, 2, sigmas);
  check_rows(grad_rgb, op, "grad_rgb", n_rays, 3);
  check_arg(grad_depth, op, "grad_depth", at::kFloat, 1, sigmas);
  check_len(grad_depth, op, "grad_depth", n_rays);
  check_arg(grad_opacity, op, "grad_opacity", at::kFloat, 1, sigmas);
  check_len(grad_opacity, op, "grad_opacity", n_rays);
  const auto [begins, ends] = ray_ranges(op, ray_indices, n_rays);
  Tensor g_sigmas = at::zeros_like(sigmas), g_rgbs = at::zeros_like(rgbs);
  Tensor g_deltas = at::zeros_like(deltas), g_ts = at::zeros_like(ts);
  if (n_rays == 0 || m == 0) return {g_sigmas, g_rgbs, g_deltas, g_ts};
  const pvd::PackedGrads out{g_sigmas.data_ptr<float>(), g_rgbs.data_ptr<float>(), g_deltas.data_ptr<float>(),
                             g_ts.data_ptr<float>()};
  const float *gw = grad_weights.data_ptr<float>(), *gc = grad_rgb.data_ptr<float>();
  const float *gz = grad_depth.data_ptr<float>(), *ga = grad_opacity.data_ptr<float>();
  const int64_t *b = begins.data_ptr<int64_t>(), *e = ends.data_ptr<int64_t>();
  if (sigmas.is_cuda()) {
    PVD_CUDA_CALL(sigmas, op, pvd::composite_bwd_cuda(s, gw, gc, gz, ga, b, e, n_rays, out, stream));
  } else {
    pvd::composite_bwd_cpu(s, gw, gc, gz, ga, b, e, n_rays, out);
  }
  return {g_sigmas, g_rgbs, g_deltas, g_ts};
}

// ---- ray marching ----

// Returns (ray_indices [m] int64, t [m], deltas [m], t_end [n_rays]), see pvd/ops/march.py.
std::tuple<Tensor, Tensor, Tensor, Tensor> march_fwd(const Tensor& origins, const Tensor& directions,
                                                     const Tensor& near, const Tensor& far, const Tensor& offsets,
                                                     const Tensor& occupancy, double bound, double dt_min,
                                                     double dt_max, double dt_gamma, int64_t max_samples,
                                                     int64_t max_candidates) {
  const char* op = "march_fwd";
  check_arg(origins, op, "origins", at::kFloat, 2, origins);
  const int64_t n = origins.size(0);
  check_rows(origins, op, "origins", n, 3);
  check_arg(directions, op, "directions", at::kFloat, 2, origins);
  check_rows(directions, op, "directions", n, 3);
  const std::pair<const Tensor*, const char*> per_ray[] = {{&near, "near"}, {&far, "far"}, {&offsets, "offsets"}};
  for (const auto& [t, name] : per_ray) {
    check_arg(*t, op, name, at::kFloat, 1, origins);
    check_len(*t, op, name, n);
  }
  check_arg(occupancy, op, "occupancy", at::kBool, 4, origins);
  const int64_t res = occupancy.size(1);
  TORCH_CHECK(occupancy.size(0) >= 1 && res >= 1 && occupancy.size(2) == res && occupancy.size(3) == res, op,
              ": occupancy must have shape [C, R, R, R], got ", occupancy.sizes());
  TORCH_CHECK(bound > 0 && dt_min > 0, op, ": bound and dt_min must be > 0, got ", bound, " and ", dt_min);
  TORCH_CHECK(max_samples >= 1, op, ": max_samples must be >= 1, got ", max_samples);
  const auto lopts = origins.options().dtype(at::kLong);
  if (n == 0) {
    return {at::empty({0}, lopts), at::empty({0}, origins.options()), at::empty({0}, origins.options()),
            at::empty({0}, origins.options())};
  }
  const pvd::StepRule rule = pvd::make_step_rule(dt_min, dt_max, dt_gamma);
  const pvd::OccGrid grid = pvd::make_occ_grid(occupancy.data_ptr<bool>(), (int)occupancy.size(0), (int)res, bound);
  const float *o = origins.data_ptr<float>(), *d = directions.data_ptr<float>();
  const float *nr = near.data_ptr<float>(), *fr = far.data_ptr<float>(), *u = offsets.data_ptr<float>();
  Tensor counts = at::empty({n}, origins.options());
  if (origins.is_cuda()) {
    PVD_CUDA_CALL(origins, op, pvd::march_count_cuda(nr, fr, n, rule, counts.data_ptr<float>(), stream));
  } else {
    pvd::march_count_cpu(nr, fr, n, rule, counts.data_ptr<float>());
  }
  const int64_t width = (int64_t)std::min((double)max_candidates, (double)counts.max().item<float>());
  Tensor n_kept = at::empty({n}, lopts), t_end = at::empty({n}, origins.options());
  if (origins.is_cuda()) {
    PVD_CUDA_CALL(origins, op, pvd::march_scan_cuda(o, d, nr, fr, u, grid, rule, width, max_samples, n,
                                                    n_kept.data_ptr<int64_t>(), t_end.data_ptr<float>(), stream));
  } else {
    pvd::march_scan_cpu(o, d, nr, fr, u, grid, rule, width, max_samples, n, n_kept.data_ptr<int64_t>(),
                        t_end.data_ptr<float>());
  }
  Tensor starts = n_kept.cumsum(0);
  const int64_t total = starts[n - 1].item<int64_t>();
  starts.sub_(n_kept);
  Tensor ray_indices = at::empty({total}, lopts);
  Tensor t = at::empty({total}, origins.options()), deltas = at::empty({total}, origins.options());
  if (total == 0) return {ray_indices, t, deltas, t_end};
  if (origins.is_cuda()) {
    PVD_CUDA_CALL(origins, op, pvd::march_write_cuda(o, d, nr, fr, u, grid, rule, width, max_samples, n,
                                                     starts.data_ptr<int64_t>(), ray_indices.data_ptr<int64_t>(),
                                                     t.data_ptr<float>(), deltas.data_ptr<float>(), stream));
  } else {
    pvd::march_write_cpu(o, d, nr, fr, u, grid, rule, width, max_samples, n, starts.data_ptr<int64_t>(),
                         ray_indices.data_ptr<int64_t>(), t.data_ptr<float>(), deltas.data_ptr<float>());
  }
  return {ray_indices, t, deltas, t_end};
}

// Splat blending arguments (CPU tensors; pvd rasterises CUDA tensors with gsplat).
pvd::Splats check_splat(const char* op, const Tensor& means2d, const Tensor& conics, const Tensor& opacities,
                        const Tensor& colors, const Tensor& dists, const Tensor& radii, const Tensor& order) {
  check_arg(means2d, op, "means2d", at::kFloat, 2, means2d);
  TORCH_CHECK(means2d.is_cpu(), op, ": the native splat kernels run on the CPU (CUDA uses gsplat)");
  const int64_t n = means2d.size(0);
  check_rows(means2d, op, "means2d", n, 2);
  check_arg(conics, op, "conics", at::kFloat, 2, means2d);
  check_rows(conics, op, "conics", n, 3);
  check_arg(colors, op, "colors", at::kFloat, 2, means2d);
  check_rows(colors, op, "colors", n, 3);
  for (const auto& [t, name] : {std::pair{opacities, "opacities"}, {dists, "dists"}, {radii, "radii"}}) {
    check_arg(t, op, name, at::kFloat, 1, means2d);
    check_len(t, op, name, n);
  }
  check_arg(order, op, "order", at::kLong, 1, means2d);
  const int64_t* ord = order.data_ptr<int64_t>();
  for (int64_t k = 0; k < order.size(0); ++k) {
    TORCH_CHECK(ord[k] >= 0 && ord[k] < n, op, ": order[", k, "] = ", ord[k], " is not a Gaussian index in [0, ", n,
                ")");
  }
  return {means2d.data_ptr<float>(), conics.data_ptr<float>(), opacities.data_ptr<float>(),
          colors.data_ptr<float>(), dists.data_ptr<float>()};
}

std::tuple<Tensor, Tensor, Tensor> splat_fwd(const Tensor& means2d, const Tensor& conics, const Tensor& opacities,
                                             const Tensor& colors, const Tensor& dists, const Tensor& radii,
                                             const Tensor& order, int64_t width, int64_t height) {
  const char* op = "splat_fwd";
  const pvd::Splats s = check_splat(op, means2d, conics, opacities, colors, dists, radii, order);
  TORCH_CHECK(width > 0 && height > 0, op, ": width and height must be > 0, got ", width, " x ", height);
  Tensor rgb = at::zeros({width * height, 3}, means2d.options());
  Tensor depth = at::zeros({width * height}, means2d.options());
  Tensor opacity = at::zeros({width * height}, means2d.options());
  pvd::splat_fwd_cpu(s, radii.data_ptr<float>(), order.data_ptr<int64_t>(), order.size(0), width, height,
                     rgb.data_ptr<float>(), depth.data_ptr<float>(), opacity.data_ptr<float>());
  return {rgb, depth, opacity};
}

std::tuple<Tensor, Tensor, Tensor, Tensor, Tensor> splat_bwd(const Tensor& rgb, const Tensor& depth,
                                                             const Tensor& opacity, const Tensor& grad_rgb,
                                                             const Tensor& grad_depth, const Tensor& grad_opacity,
                                                             const Tensor& means2d,
                                                             const Tensor& conics, const Tensor& opacities,
                                                             const Tensor& colors, const Tensor& dists,
                                                             const Tensor& radii, const Tensor& order, int64_t width,
                                                             int64_t height) {
  const char* op = "splat_bwd";
  const pvd::Splats s = check_splat(op, means2d, conics, opacities, colors, dists, radii, order);
  for (const auto& [t, name] : {std::pair{rgb, "rgb"}, {grad_rgb, "grad_rgb"}}) {
    check_arg(t, op, name, at::kFloat, 2, means2d);
    check_rows(t, op, name, width * height, 3);
  }
  for (const auto& [t, name] : {std::pair{depth, "depth"}, {opacity, "opacity"}, {grad_depth, "grad_depth"},
                                {grad_opacity, "grad_opacity"}}) {
    check_arg(t, op, name, at::kFloat, 1, means2d);
    check_len(t, op, name, width * height);
  }
  Tensor g_means = at::zeros_like(means2d), g_conics = at::zeros_like(conics), g_op = at::zeros_like(opacities);
  Tensor g_colors = at::zeros_like(colors), g_dists = at::zeros_like(dists);
  const pvd::SplatGrads out{g_means.data_ptr<float>(), g_conics.data_ptr<float>(), g_op.data_ptr<float>(),
                            g_colors.data_ptr<float>(), g_dists.data_ptr<float>()};
  pvd::splat_bwd_cpu(s, radii.data_ptr<float>(), order.data_ptr<int64_t>(), order.size(0), means2d.size(0), width,
                     height, rgb.data_ptr<float>(), depth.data_ptr<float>(), opacity.data_ptr<float>(), grad_rgb.data_ptr<float>(), grad_depth.data_ptr<float>(), grad_opacity.data_ptr<float>(), out);
  return {g_means, g_conics, g_op, g_colors, g_dists};
}

// ---- Gaussian point queries (CPU only) ----

// Returns (sigma [n], weighted [n, C]); see pvd/ops/gs_points.py for the layout.
std::tuple<Tensor, Tensor> gs_points_fwd(const Tensor& x, const Tensor& means, const Tensor& prec6,
                                         const Tensor& peak, const Tensor& coeffs, const Tensor& starts,
                                         const Tensor& ids, const Tensor& big, double bound, int64_t res,
                                         double cutoff2) {
  const char* op = "gs_points_fwd";
  check_arg(x, op, "x", at::kFloat, 2, x);
  TORCH_CHECK(x.is_cpu(), op, ": the native Gaussian point queries run on the CPU (CUDA uses the PyTorch twin)");
  const int64_t n = x.size(0), n_gauss = means.size(0);
  check_rows(x, op, "x", n, 3);
  check_arg(means, op, "means", at::kFloat, 2, x);
  check_rows(means, op, "means", n_gauss, 3);
  check_arg(prec6, op, "prec6", at::kFloat, 2, x);
  check_rows(prec6, op, "prec6", n_gauss, 6);
  check_arg(peak, op, "peak", at::kFloat, 1, x);
  check_len(peak, op, "peak", n_gauss);
  check_arg(coeffs, op, "coeffs", at::kFloat, 2, x);
  check_len(coeffs, op, "coeffs", n_gauss);
  TORCH_CHECK(bound > 0.0 && res >= 1, op, ": bound must be > 0 and res >= 1, got ", bound, ", ", res);
  check_arg(starts, op, "starts", at::kLong, 1, x);
  check_len(starts, op, "starts", res * res * res + 1);
  check_arg(ids, op, "ids", at::kLong, 1, x);
  check_arg(big, op, "big", at::kLong, 1, x);
  const int64_t* st = starts.data_ptr<int64_t>();
  const int64_t cells = res * res * res;
  TORCH_CHECK(st[0] == 0 && st[cells] == ids.size(0), op, ": starts must run from 0 to len(ids) = ", ids.size(0),
              ", got ", st[0], "..", st[cells]);
  for (int64_t c = 0; c < cells; ++c) TORCH_CHECK(st[c + 1] >= st[c], op, ": starts must not decrease (cell ", c, ")");
  for (const auto& [t, name] : {std::pair{ids, "ids"}, {big, "big"}}) {
    const int64_t* v = t.data_ptr<int64_t>();
    for (int64_t j = 0; j < t.size(0); ++j) {
      TORCH_CHECK(v[j] >= 0 && v[j] < n_gauss, op, ": ", name, "[", j, "] = ", v[j], " is not a Gaussian id in [0, ",
                  n_gauss, ")");
    }
  }
  Tensor sigma = at::empty({n}, x.options()), weighted = at::empty({n, coeffs.size(1)}, x.options());
  if (n == 0) return {sigma, weighted};
  const pvd::GaussianSet g{means.data_ptr<float>(), prec6.data_ptr<float>(), peak.data_ptr<float>(),
                           coeffs.data_ptr<float>(), coeffs.size(1), st, ids.data_ptr<int64_t>(),
                           big.data_ptr<int64_t>(), big.size(0), (float)bound,
                           (float)((double)res / (2.0 * bound)), res};
  pvd::gs_points_fwd_cpu(x.data_ptr<float>(), g, (float)cutoff2, n, sigma.data_ptr<float>(),
                         weighted.data_ptr<float>());
  return {sigma, weighted};
}

// ---- VM (TensoRF) plane x line products ----

// planes [3, R, H, W], lines [3, R, L, 1], unit [n, 3]: one dtype (float; double on the CPU), one device.
pvd::VMShape check_vm_products(const char* op, const Tensor& planes, const Tensor& lines, const Tensor& unit) {
  TORCH_CHECK(planes.defined(), op, ": planes is undefined");
  const at::ScalarType dtype = planes.scalar_type();
  TORCH_CHECK(dtype == at::kFloat || (dtype == at::kDouble && planes.is_cpu()), op,
              ": planes must be float32 (or float64 on the CPU), got ", dtype, " on ", planes.device());
  check_arg(planes, op, "planes", dtype, 4, planes);
  check_arg(lines, op, "lines", dtype, 4, planes);
  check_arg(unit, op, "unit", dtype, 2, planes);
  const int64_t rank = planes.size(1), height = planes.size(2), width = planes.size(3);
  TORCH_CHECK(planes.size(0) == 3 && rank >= 1 && height >= 2 && width >= 2, op,
              ": planes must have shape [3, R, H, W] with R >= 1 and H, W >= 2, got ", planes.sizes());
  TORCH_CHECK(lines.size(0) == 3 && lines.size(1) == rank && lines.size(2) >= 2 && lines.size(3) == 1, op,
              ": lines must have shape [3, ", rank, ", L, 1] with L >= 2, got ", lines.sizes());
  TORCH_CHECK(unit.size(1) == 3, op, ": unit must have shape [n, 3], got ", unit.sizes());
  TORCH_CHECK(height * width < (int64_t(1) << 31) && lines.size(2) < (int64_t(1) << 31), op,
              ": a plane must have fewer than 2^31 texels, got ", height, " x ", width);
  return {rank, height, width, lines.size(2)};
}

// Calls fn(T{}) with T the scalar type of `like` (float or double; check_vm_products has checked it).
template <typename F>
void vm_float_or_double(const Tensor& like, const F& fn) {
  if (like.scalar_type() == at::kDouble) {
    fn(double{});
  } else {
    fn(float{});
  }
}

// Returns the products [3, R, n].
Tensor vm_products_fwd(const Tensor& planes, const Tensor& lines, const Tensor& unit) {
  const char* op = "vm_products_fwd";
  const pvd::VMShape s = check_vm_products(op, planes, lines, unit);
  const int64_t n = unit.size(0);
  Tensor out = at::empty({3, s.rank, n}, planes.options());
  if (n == 0) return out;
  if (planes.is_cuda()) {
    PVD_CUDA_CALL(planes, op, pvd::vm_products_fwd_cuda(planes.data_ptr<float>(), lines.data_ptr<float>(),
                                                        unit.data_ptr<float>(), s, n, out.data_ptr<float>(), stream));
  } else {
    vm_float_or_double(planes, [&](auto zero) {
      using T = decltype(zero);
      pvd::vm_products_fwd_cpu(planes.data_ptr<T>(), lines.data_ptr<T>(), unit.data_ptr<T>(), s, n, out.data_ptr<T>());
    });
  }
  return out;
}

// Returns the gradients of (planes [3, R, H, W], lines [3, R, L, 1]); grad: [3, R, n].
std::tuple<Tensor, Tensor> vm_products_bwd(const Tensor& grad, const Tensor& planes, const Tensor& lines,
                                           const Tensor& unit) {
  const char* op = "vm_products_bwd";
  const pvd::VMShape s = check_vm_products(op, planes, lines, unit);
  const int64_t n = unit.size(0);
  check_arg(grad, op, "grad", planes.scalar_type(), 3, planes);
  TORCH_CHECK(grad.size(0) == 3 && grad.size(1) == s.rank && grad.size(2) == n, op, ": grad must have shape [3, ",
              s.rank, ", ", n, "], got ", grad.sizes());
  if (n == 0) return {at::zeros_like(planes), at::zeros_like(lines)};
  if (planes.is_cuda()) {
    Tensor grad_planes = at::zeros_like(planes), grad_lines = at::zeros_like(lines);
    PVD_CUDA_CALL(planes, op, pvd::vm_products_bwd_cuda(grad.data_ptr<float>(), planes.data_ptr<float>(),
                                                        lines.data_ptr<float>(), unit.data_ptr<float>(), s, n,
                                                        grad_planes.data_ptr<float>(), grad_lines.data_ptr<float>(),
                                                        stream));
    return {grad_planes, grad_lines};
  }
  Tensor grad_planes = at::empty_like(planes), grad_lines = at::empty_like(lines);
  vm_float_or_double(planes, [&](auto zero) {
    using T = decltype(zero);
    pvd::vm_products_bwd_cpu(grad.data_ptr<T>(), planes.data_ptr<T>(), lines.data_ptr<T>(), unit.data_ptr<T>(), s, n,
                             grad_planes.data_ptr<T>(), grad_lines.data_ptr<T>());
  });
  return {grad_planes, grad_lines};
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "pvd native kernels (see pvd/ops/backend.py)";
#ifdef PVD_WITH_CUDA
  m.attr("with_cuda") = true;
#else
  m.attr("with_cuda") = false;
#endif
  const auto no_gil = py::call_guard<py::gil_scoped_release>();
  m.def("hash_grid_fwd", &hash_grid_fwd, "hash-grid encoding: x [n,3], table [E,F] -> [n, L*F]", py::arg("x"),
        py::arg("table"), py::arg("offsets"), py::arg("resolutions"), py::arg("scales") = py::none(),
        py::arg("shift") = 0.0, py::arg("zero_outside") = false, no_gil);
  m.def("hash_grid_bwd", &hash_grid_bwd, "hash-grid gradients -> (grad_table [E,F], grad_x [n,3] or None)",
        py::arg("grad"), py::arg("x"), py::arg("table"), py::arg("offsets"), py::arg("resolutions"),
        py::arg("need_dx"), py::arg("scales") = py::none(), py::arg("shift") = 0.0,
        py::arg("zero_outside") = false, no_gil);
  m.def("sh_encode_fwd", &sh_encode_fwd, "SH basis: d [n,3] -> [n, n_bands^2]", no_gil);
  m.def("sh_encode_bwd", &sh_encode_bwd, "SH basis gradient: grad [n, n_bands^2], d [n,3] -> [n,3]", no_gil);
  m.def("ray_aabb_fwd", &ray_aabb_fwd, "ray/box: origins, directions [n,3], aabb [6] -> (t_near, t_far, hit)",
        no_gil);
  m.def("composite_fwd", &composite_fwd, "packed compositing -> (weights, rgb, depth, opacity)", no_gil);
  m.def("composite_bwd", &composite_bwd, "packed compositing gradients -> (sigmas, rgbs, deltas, ts)", no_gil);
  m.def("splat_fwd", &splat_fwd, "splat blending -> (rgb [H*W,3], depth, opacity [H*W])", no_gil);
  m.def("splat_bwd", &splat_bwd, "splat blending gradients (outputs, their gradients, inputs) -> (means2d, conics, opacities, colors, dists)", no_gil);
  m.def("vm_products_fwd", &vm_products_fwd,
        "VM plane x line products: planes [3,R,H,W], lines [3,R,L,1], unit [n,3] -> [3,R,n]", no_gil);
  m.def("vm_products_bwd", &vm_products_bwd, "VM products gradients: grad [3,R,n] -> (planes, lines)", no_gil);
  m.def("gs_points_fwd", &gs_points_fwd,
        "Gaussian point queries: x [n,3] -> (sigma [n], weighted [n,C]) (CPU; no gradients)", no_gil);
  m.def("march_fwd", &march_fwd, "occupancy-grid marching -> (ray_indices, t, deltas, t_end)", no_gil);
}
