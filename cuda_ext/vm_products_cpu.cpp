// CPU launchers of the VM plane x line products. Each point's cell in each factor set is computed once
// per call; then the loops run over blocks of kBlock channels of one set, so their planes (96^2 floats =
// 36 KB each at the tiny preset) stay in cache while every point visits them, and each cell load serves
// kBlock products. Backward tasks are whole channel blocks: a channel's plane and line gradients belong
// to one thread, so the scatter needs no atomics. (One channel per pass was about 10% slower on a real
// distillation batch, 1 thread.)
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

// Channels [c0, c0 + K) of one factor set (their planes and lines are consecutive) at points [begin, end):
// K products per point from one cell, K independent dependency chains.
template <int K, typename T>
void fwd_channels(const VMCell<T>* cells, const T* planes, const T* lines, const VMShape& s, int64_t c0,
                  int64_t n, int64_t begin, int64_t end, T* out) {
  const int64_t plane_size = s.height * s.width;
  for (int64_t i = begin; i < end; ++i) {
    const VMCell<T> c = cells[i];
    PVD_UNROLL
    for (int k = 0; k < K; ++k) {
      T pv, lv;
      vm_sample(c, planes + (c0 + k) * plane_size, lines + (c0 + k) * s.length, s.width, &pv, &lv);
      out[(c0 + k) * n + i] = pv * lv;
    }
  }
}

template <int K, typename T>
void bwd_channels(const VMCell<T>* cells, const T* grad, const T* planes, const T* lines, const VMShape& s,
                  int64_t c0, int64_t n, T* grad_planes, T* grad_lines) {
  const int64_t plane_size = s.height * s.width;
  for (int64_t i = 0; i < n; ++i) {
    const VMCell<T> c = cells[i];
    PVD_UNROLL
    for (int k = 0; k < K; ++k) {
      const int64_t ch = c0 + k;
      T pv, lv;
      vm_sample(c, planes + ch * plane_size, lines + ch * s.length, s.width, &pv, &lv);
      vm_scatter(c, grad[ch * n + i], pv, lv, s.width, grad_planes + ch * plane_size, grad_lines + ch * s.length);
    }
  }
}

// Channel blocks: a task's channels share each point's cell (kBlock channels, fewer at a set's end).
constexpr int64_t kBlock = 4;

}  // namespace

template <typename T>
void vm_products_fwd_cpu(const T* planes, const T* lines, const T* unit, const VMShape& s, int64_t n, T* out) {
  const std::vector<VMCell<T>> cells = vm_cells(unit, s, n);
  const int64_t blocks = (s.rank + kBlock - 1) / kBlock, n_chunks = (n + kChunk - 1) / kChunk;
  parallel_tasks(3 * blocks * n_chunks, [&](int64_t task) {
    const int64_t block = task / n_chunks, set = block / blocks;
    const int64_t r0 = (block % blocks) * kBlock, c0 = set * s.rank + r0;
    const int64_t begin = (task % n_chunks) * kChunk, end = std::min(n, begin + kChunk);
    const VMCell<T>* c = cells.data() + set * n;
    if (r0 + kBlock <= s.rank) {
      fwd_channels<kBlock>(c, planes, lines, s, c0, n, begin, end, out);
    } else {
      const int64_t c1 = set * s.rank + s.rank;
      for (int64_t ch = c0; ch < c1; ++ch) fwd_channels<1>(c, planes, lines, s, ch, n, begin, end, out);
    }
  });
}

template <typename T>
void vm_products_bwd_cpu(const T* grad, const T* planes, const T* lines, const T* unit, const VMShape& s, int64_t n,
                         T* grad_planes, T* grad_lines) {
  const std::vector<VMCell<T>> cells = vm_cells(unit, s, n);
  const int64_t plane_size = s.height * s.width, blocks = (s.rank + kBlock - 1) / kBlock;
  parallel_tasks(3 * blocks, [&](int64_t block) {
    const int64_t set = block / blocks, r0 = (block % blocks) * kBlock, c0 = set * s.rank + r0;
    const int64_t c1 = std::min(c0 + kBlock, set * s.rank + s.rank);
    std::fill(grad_planes + c0 * plane_size, grad_planes + c1 * plane_size, T(0));
    std::fill(grad_lines + c0 * s.length, grad_lines + c1 * s.length, T(0));
    const VMCell<T>* c = cells.data() + set * n;
    if (c1 - c0 == kBlock) {
      bwd_channels<kBlock>(c, grad, planes, lines, s, c0, n, grad_planes, grad_lines);
    } else {
      for (int64_t ch = c0; ch < c1; ++ch) bwd_channels<1>(c, grad, planes, lines, s, ch, n, grad_planes, grad_lines);
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
