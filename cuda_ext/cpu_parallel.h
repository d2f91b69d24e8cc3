// Dynamic work distribution for the CPU launchers (host only). Tasks are handed out one at a time
// from a shared counter, so a thread that the OS schedules late (these CPUs are shared) takes fewer
// tasks instead of holding up the others with a fixed share.
#pragma once

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cstdint>

namespace pvd {

// Calls fn(task) once for every task in [0, n_tasks), on up to at::get_num_threads() threads.
template <typename F>
void parallel_tasks(int64_t n_tasks, const F& fn) {
  const int64_t threads = std::min<int64_t>(at::get_num_threads(), n_tasks);
  if (threads <= 1 || at::in_parallel_region()) {
    for (int64_t task = 0; task < n_tasks; ++task) fn(task);
    return;
  }
  std::atomic<int64_t> next{0};
  at::parallel_for(0, threads, 1, [&](int64_t, int64_t) {
    for (int64_t task = next++; task < n_tasks; task = next++) fn(task);
  });
}

// Calls fn(begin, end) on consecutive ranges of at most `grain` items covering [0, n).
template <typename F>
void parallel_ranges(int64_t n, int64_t grain, const F& fn) {
  parallel_tasks((n + grain - 1) / grain, [&](int64_t task) {
    const int64_t begin = task * grain;
    fn(begin, std::min(n, begin + grain));
  });
}

}  // namespace pvd
