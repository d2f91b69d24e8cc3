// CPU launcher of the ray / box intersection (one ray per iteration).
#include "cpu_parallel.h"
#include "launch.h"
#include "ray_aabb.h"

namespace pvd {

void ray_aabb_cpu(const float* origins, const float* directions, const float* aabb, int64_t n, float* t_near,
                  float* t_far, bool* hit) {
  parallel_ranges(n, 1 << 16, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      hit[i] = ray_aabb_one(origins + 3 * i, directions + 3 * i, aabb, t_near + i, t_far + i);
    }
  });
}

}  // namespace pvd
