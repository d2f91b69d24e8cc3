// CPU launchers of the hash-grid encoding. Loops are level-major so that one level's rows (a few MB at
// most) stay in cache while every point visits them.
#include <algorithm>

#include "cpu_parallel.h"
#include "hash_grid.h"
#include "launch.h"

namespace pvd {

namespace {

constexpr int64_t kChunk = 2048;  // points per task

template <int kF>
void fwd_impl(const float* x, const float* table, const GridSpec& spec, int64_t n, int n_levels,
              int n_features, float* out) {
  const int64_t n_chunks = (n + kChunk - 1) / kChunk;
  const int64_t stride = (int64_t)n_levels * n_features;
  parallel_tasks(n_levels * n_chunks, [&](int64_t task) {
    const int level = (int)(task / n_chunks);
    const int64_t p0 = (task % n_chunks) * kChunk, p1 = std::min(n, p0 + kChunk);
    const GridLevel lv = grid_level(spec, level);
    float* o = out + (int64_t)level * n_features;
    for (int64_t p = p0; p < p1; ++p) hash_grid_fwd_one<kF>(x + 3 * p, table, n_features, lv, o + p * stride);
  });
}

// A task is one whole level: its rows belong to one thread, so the scatter needs no atomics. Finest
// levels go first (they miss the cache most and take longest).
template <int kF>
void bwd_impl(const float* x, const float* grad, const GridSpec& spec, int64_t n, int n_levels,
              int n_features, float* grad_table) {
  const int64_t stride = (int64_t)n_levels * n_features;
  parallel_tasks(n_levels, [&](int64_t task) {
    const int level = n_levels - 1 - (int)task;
    const GridLevel lv = grid_level(spec, level);
    std::fill(grad_table + lv.offset * n_features, grad_table + (lv.offset + lv.rows) * n_features, 0.0f);
    const float* g = grad + (int64_t)level * n_features;
    for (int64_t p = 0; p < n; ++p) hash_grid_bwd_one<kF>(x + 3 * p, g + p * stride, n_features, lv, grad_table);
  });
}

}  // namespace

void hash_grid_fwd_cpu(const float* x, const float* table, const GridSpec& spec, int64_t n, int n_levels,
                       int n_features, float* out) {
  PVD_DISPATCH_FEATURES(n_features, fwd_impl, x, table, spec, n, n_levels, n_features, out);
}

void hash_grid_bwd_cpu(const float* x, const float* grad, const GridSpec& spec, int64_t n, int n_levels,
                       int n_features, float* grad_table) {
  PVD_DISPATCH_FEATURES(n_features, bwd_impl, x, grad, spec, n, n_levels, n_features, grad_table);
}

void hash_grid_dx_cpu(const float* x, const float* grad, const float* table, const GridSpec& spec, int64_t n,
                      int n_levels, int n_features, float* dx) {
  const int64_t stride = (int64_t)n_levels * n_features;
  parallel_ranges(n, kChunk, [&](int64_t begin, int64_t end) {
    for (int64_t p = begin; p < end; ++p) {
      float* d = dx + 3 * p;
      d[0] = d[1] = d[2] = 0.0f;
      for (int level = 0; level < n_levels; ++level) {
        const GridLevel lv = grid_level(spec, level);
        hash_grid_dx_one(x + 3 * p, grad + p * stride + level * n_features, table, n_features, lv, d);
      }
    }
  });
}

}  // namespace pvd
