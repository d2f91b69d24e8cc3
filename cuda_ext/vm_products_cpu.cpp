// CPU launchers of the VM plane x line products. Each point's cell in each factor set is computed once
// per call; then the loops run channel by channel, so one channel's plane (96^2 floats = 36 KB at the
// tiny preset) stays in cache while every point visits it. Backward tasks are whole channels: a
// channel's plane and line gradients belong to one thread, so the scatter needs no atomics.
#include <algorithm>
#include <vector>

#include "cpu_parallel.h"
#include "launch.h"
#include "vm_products.h"

namespace pvd {

namespace {

constexpr int64_t kChunk = 4096;  // points per task

// cells[set * n + i]: where point i samples factor set `set`.
template <typename T>
std::vector<VMCell<T>> vm_cells(const T* unit, const VMShape& s, int64_t n) {
  std::vector<VMCell<T>> cells(3 * n);
  parallel_ranges(n, kChunk, [&](int64_t begin, int64_t end) {
    for (int set = 0; set < 3; ++set) {
      for (int64_t i = begin; i < end; ++i) cells[set * n + i] = vm_cell(unit + 3 * i, set, s);
    }
  });
  return cells;
}

}  // namespace

template <typename T>
void vm_products_fwd_cpu(const T* planes, const T* lines, const T* unit, const VMShape& s, int64_t n, T* out) {
  const std::vector<VMCell<T>> cells = vm_cells(unit, s, n);
  const int64_t channels = 3 * s.rank, n_chunks = (n + kChunk - 1) / kChunk;
  const int64_t plane_size = s.height * s.width;
  parallel_tasks(channels * n_chunks, [&](int64_t task) {
    const int64_t channel = task / n_chunks, set = channel / s.rank;
    const int64_t begin = (task % n_chunks) * kChunk, end = std::min(n, begin + kChunk);
    const T* plane = planes + channel * plane_size;
    const T* line = lines + channel * s.length;
    const VMCell<T>* c = cells.data() + set * n;
    T* o = out + channel * n;
    for (int64_t i = begin; i < end; ++i) {
      T pv, lv;
      vm_sample(c[i], plane, line, s.width, &pv, &lv);
      o[i] = pv * lv;
    }
  });
}

template <typename T>
void vm_products_bwd_cpu(const T* grad, const T* planes, const T* lines, const T* unit, const VMShape& s, int64_t n,
                         T* grad_planes, T* grad_lines) {
  const std::vector<VMCell<T>> cells = vm_cells(unit, s, n);
  const int64_t plane_size = s.height * s.width;
  parallel_tasks(3 * s.rank, [&](int64_t channel) {
    const int64_t set = channel / s.rank;
    const T* plane = planes + channel * plane_size;
    const T* line = lines + channel * s.length;
    T* gp = grad_planes + channel * plane_size;
    T* gl = grad_lines + channel * s.length;
    std::fill(gp, gp + plane_size, T(0));
    std::fill(gl, gl + s.length, T(0));
    const VMCell<T>* c = cells.data() + set * n;
    const T* g = grad + channel * n;
    for (int64_t i = 0; i < n; ++i) {
      T pv, lv;
      vm_sample(c[i], plane, line, s.width, &pv, &lv);
      vm_scatter(c[i], g[i], pv, lv, s.width, gp, gl);
    }
  });
}

template void vm_products_fwd_cpu<float>(const float*, const float*, const float*, const VMShape&, int64_t, float*);
template void vm_products_fwd_cpu<double>(const double*, const double*, const double*, const VMShape&, int64_t,
                                          double*);
template void vm_products_bwd_cpu<float>(const float*, const float*, const float*, const float*, const VMShape&,
                                         int64_t, float*, float*);
template void vm_products_bwd_cpu<double>(const double*, const double*, const double*, const double*,
                                          const VMShape&, int64_t, double*, double*);

}  // namespace pvd
