// CPU launchers of the spherical-harmonics encoding (one direction per iteration).
#include "cpu_parallel.h"
#include "launch.h"
#include "sh.h"

namespace pvd {

namespace {
constexpr int64_t kGrain = 1 << 15;  // directions per task
}

void sh_encode_fwd_cpu(const float* d, int64_t n, int n_bands, float* out) {
  const int64_t k = (int64_t)n_bands * n_bands;
  parallel_ranges(n, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) sh_encode_one(d + 3 * i, n_bands, out + k * i);
  });
}

void sh_encode_bwd_cpu(const float* d, const float* grad, int64_t n, int n_bands, float* dd) {
  const int64_t k = (int64_t)n_bands * n_bands;
  parallel_ranges(n, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) sh_encode_bwd_one(d + 3 * i, grad + k * i, n_bands, dd + 3 * i);
  });
}

}  // namespace pvd
