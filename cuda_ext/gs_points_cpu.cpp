// CPU launcher of the Gaussian field's point queries: each point visits the Gaussians listed in its
// index cell (and the big ones), sums the kernel weights of those within the cut-off into sigma and the
// weighted per-Gaussian values into its row of `weighted`. Points are independent: ranges of points
// run in parallel and every output row belongs to one thread (no atomics, no [pairs] temporaries).
#include <math.h>

#include "cpu_parallel.h"
#include "gs_points.h"
#include "launch.h"

namespace pvd {

namespace {

constexpr int64_t kChunk = 1024;  // points per task

inline void add_gaussian(const float* p, const GaussianSet& g, int64_t id, float cutoff2, float* sigma,
                         float* row) {
  const float m2 = gs_m2(p, g, id);
  if (!(m2 < cutoff2)) return;
  const float w = g.peak[id] * expf(-0.5f * m2);
  *sigma += w;
  const float* c = g.coeffs + id * g.n_coeffs;
  for (int64_t k = 0; k < g.n_coeffs; ++k) row[k] += w * c[k];
}

}  // namespace

void gs_points_fwd_cpu(const float* x, const GaussianSet& g, float cutoff2, int64_t n, float* sigma,
                       float* weighted) {
  parallel_ranges(n, kChunk, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const float* p = x + 3 * i;
      float s = 0.0f;
      float* row = weighted + i * g.n_coeffs;
      for (int64_t k = 0; k < g.n_coeffs; ++k) row[k] = 0.0f;
      const int64_t cell = gs_cell(p, g);
      for (int64_t j = g.starts[cell]; j < g.starts[cell + 1]; ++j) add_gaussian(p, g, g.ids[j], cutoff2, &s, row);
      for (int64_t j = 0; j < g.n_big; ++j) add_gaussian(p, g, g.big[j], cutoff2, &s, row);
      sigma[i] = s;
    }
  });
}

}  // namespace pvd
