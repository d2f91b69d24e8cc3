// Torch glue and Python bindings of the native ops: checks dtype, shape, contiguity and device of every
// tensor (TORCH_CHECK), allocates outputs and calls the raw-pointer launchers declared in launch.h.
// Built twice by pvd/ops/backend.py: CPU-only, and with -DPVD_WITH_CUDA together with the .cu files.
// Narrow ATen headers instead of <torch/extension.h> halve the compile time of this file.
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/zeros_like.h>
#include <torch/csrc/utils/pybind.h>

#include <optional>
#include <tuple>

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

// dtype, rank, contiguity and device (that of `like`) of one argument.
void check_arg(const Tensor& t, const char* op, const char* name, at::ScalarType dtype, int64_t dim,
               const Tensor& like) {
  TORCH_CHECK(t.defined(), op, ": ", name, " is undefined");
  TORCH_CHECK(t.scalar_type() == dtype, op, ": ", name, " must be ", dtype, ", got ", t.scalar_type());
  TORCH_CHECK(t.dim() == dim, op, ": ", name, " must have ", dim, " dimensions, got shape ", t.sizes());
  TORCH_CHECK(t.is_contiguous(), op, ": ", name, " must be contiguous");
  TORCH_CHECK(t.is_cpu() || t.is_cuda(), op, ": ", name, " must be on a CPU or CUDA device, got ", t.device());
  TORCH_CHECK(t.device() == like.device(), op, ": ", name, " is on ", t.device(), " but the points are on ",
              like.device());
}

void check_rows(const Tensor& t, const char* op, const char* name, int64_t rows, int64_t cols) {
  TORCH_CHECK(t.size(0) == rows && t.size(1) == cols, op, ": ", name, " must have shape [", rows, ", ", cols,
              "], got ", t.sizes());
}

// Hash-grid arguments; on the CPU also the values of offsets/resolutions (on a GPU that would sync).
void check_hash_grid(const char* op, const Tensor& x, const Tensor& table, const Tensor& offsets,
                     const Tensor& resolutions) {
  check_arg(x, op, "x", at::kFloat, 2, x);
  TORCH_CHECK(x.size(1) == 3, op, ": x must have shape [n, 3], got ", x.sizes());
  check_arg(table, op, "table", at::kFloat, 2, x);
  check_arg(offsets, op, "offsets", at::kLong, 1, x);
  check_arg(resolutions, op, "resolutions", at::kLong, 1, x);
  const int64_t n_levels = resolutions.size(0);
  TORCH_CHECK(n_levels >= 1 && offsets.size(0) == n_levels + 1, op, ": offsets must have L + 1 = ",
              n_levels + 1, " entries for L = ", n_levels, " resolutions, got ", offsets.size(0));
  if (!x.is_cpu()) return;
  const int64_t* off = offsets.data_ptr<int64_t>();
  const int64_t* res = resolutions.data_ptr<int64_t>();
  TORCH_CHECK(off[0] >= 0 && off[n_levels] <= table.size(0), op, ": offsets span rows ", off[0], "..",
              off[n_levels], " but the table has ", table.size(0), " rows");
  for (int64_t l = 0; l < n_levels; ++l) {
    TORCH_CHECK(off[l + 1] > off[l], op, ": level ", l, " owns no rows (offsets must increase)");
    TORCH_CHECK(res[l] >= 1, op, ": resolutions[", l, "] must be >= 1, got ", res[l]);
  }
}

Tensor hash_grid_fwd(const Tensor& x, const Tensor& table, const Tensor& offsets, const Tensor& resolutions) {
  const char* op = "hash_grid_fwd";
  check_hash_grid(op, x, table, offsets, resolutions);
  const int64_t n = x.size(0);
  const int n_levels = (int)resolutions.size(0), n_features = (int)table.size(1);
  Tensor out = at::empty({n, (int64_t)n_levels * n_features}, x.options());
  if (n == 0) return out;
  const float* xp = x.data_ptr<float>();
  const float* tp = table.data_ptr<float>();
  const int64_t* offp = offsets.data_ptr<int64_t>();
  const int64_t* rp = resolutions.data_ptr<int64_t>();
  if (x.is_cuda()) {
    PVD_CUDA_CALL(x, op, pvd::hash_grid_fwd_cuda(xp, tp, offp, rp, n, n_levels, n_features,
                                                 out.data_ptr<float>(), stream));
  } else {
    pvd::hash_grid_fwd_cpu(xp, tp, offp, rp, n, n_levels, n_features, out.data_ptr<float>());
  }
  return out;
}

// Returns (grad_table [n_entries, F], grad_x [n, 3] when need_dx else None).
std::tuple<Tensor, std::optional<Tensor>> hash_grid_bwd(const Tensor& grad, const Tensor& x, const Tensor& table,
                                                         const Tensor& offsets, const Tensor& resolutions,
                                                         bool need_dx) {
  const char* op = "hash_grid_bwd";
  check_hash_grid(op, x, table, offsets, resolutions);
  const int64_t n = x.size(0);
  const int n_levels = (int)resolutions.size(0), n_features = (int)table.size(1);
  check_arg(grad, op, "grad", at::kFloat, 2, x);
  check_rows(grad, op, "grad", n, (int64_t)n_levels * n_features);
  if (n == 0) return {at::zeros_like(table), need_dx ? std::optional<Tensor>(at::zeros_like(x)) : std::nullopt};
  const float* xp = x.data_ptr<float>();
  const float* gp = grad.data_ptr<float>();
  const int64_t* offp = offsets.data_ptr<int64_t>();
  const int64_t* rp = resolutions.data_ptr<int64_t>();
  Tensor grad_table;
  std::optional<Tensor> dx;
  if (need_dx) dx = at::empty_like(x);
  if (x.is_cuda()) {
    grad_table = at::zeros_like(table);
    PVD_CUDA_CALL(x, op, pvd::hash_grid_bwd_cuda(xp, gp, offp, rp, n, n_levels, n_features,
                                                 grad_table.data_ptr<float>(), stream));
    if (need_dx) {
      PVD_CUDA_CALL(x, op, pvd::hash_grid_dx_cuda(xp, gp, table.data_ptr<float>(), offp, rp, n, n_levels,
                                                  n_features, dx->data_ptr<float>(), stream));
    }
  } else {
    // The launcher zeroes each level's rows itself; rows outside every level are zeroed here.
    const bool covered = offp[0] == 0 && offp[n_levels] == table.size(0);
    grad_table = covered ? at::empty_like(table) : at::zeros_like(table);
    pvd::hash_grid_bwd_cpu(xp, gp, offp, rp, n, n_levels, n_features, grad_table.data_ptr<float>());
    if (need_dx) {
      pvd::hash_grid_dx_cpu(xp, gp, table.data_ptr<float>(), offp, rp, n, n_levels, n_features,
                            dx->data_ptr<float>());
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

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "pvd native kernels (see pvd/ops/backend.py)";
#ifdef PVD_WITH_CUDA
  m.attr("with_cuda") = true;
#else
  m.attr("with_cuda") = false;
#endif
  const auto no_gil = py::call_guard<py::gil_scoped_release>();
  m.def("hash_grid_fwd", &hash_grid_fwd, "hash-grid encoding: x [n,3], table [E,F] -> [n, L*F]", no_gil);
  m.def("hash_grid_bwd", &hash_grid_bwd, "hash-grid gradients -> (grad_table [E,F], grad_x [n,3] or None)",
        no_gil);
  m.def("sh_encode_fwd", &sh_encode_fwd, "SH basis: d [n,3] -> [n, n_bands^2]", no_gil);
  m.def("sh_encode_bwd", &sh_encode_bwd, "SH basis gradient: grad [n, n_bands^2], d [n,3] -> [n,3]", no_gil);
}
