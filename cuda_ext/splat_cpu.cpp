// CPU launchers of Gaussian-splat blending: Gaussians are binned into 8 x 8 pixel tiles in their
// front-to-back order, then each pixel walks its tile's list. Forward: tiles split across threads.
// Backward: the tiles are cut into kBands fixed bands of consecutive tiles, run in parallel, each
// band adding into gradients of its own (band 0 into the output); the bands are then summed in band
// order, so the result does not depend on the thread count or on which thread took which band.
#include <algorithm>
#include <vector>

#include "cpu_parallel.h"
#include "launch.h"
#include "splat.h"

namespace pvd {

namespace {
constexpr int64_t kTile = 8;  // small Gaussians (a few px): 8 x 8 tiles walk ~2x fewer entries than 16 x 16

struct Bins {
  int64_t tiles_x, tiles_y;
  std::vector<PixelBox> boxes;               // per position in `order`
  std::vector<std::vector<int32_t>> lists;  // per tile: positions in `order`, front to back
};

Bins bin_tiles(const Splats& s, const float* radii, const int64_t* order, int64_t n_order, int64_t width,
               int64_t height) {
  Bins b;
  b.tiles_x = (width + kTile - 1) / kTile;
  b.tiles_y = (height + kTile - 1) / kTile;
  b.boxes.resize(n_order);
  b.lists.resize(b.tiles_x * b.tiles_y);
  for (int64_t k = 0; k < n_order; ++k) {
    const int64_t g = order[k];
    const PixelBox box = pixel_box(s.means2d[2 * g], s.means2d[2 * g + 1], radii[g], width, height);
    b.boxes[k] = box;
    if (!(radii[g] > 0.0f) || box.x0 > box.x1 || box.y0 > box.y1) continue;
    for (int64_t ty = box.y0 / kTile; ty <= box.y1 / kTile; ++ty)
      for (int64_t tx = box.x0 / kTile; tx <= box.x1 / kTile; ++tx) b.lists[ty * b.tiles_x + tx].push_back((int32_t)k);
  }
  return b;
}

bool inside(const PixelBox& b, int64_t col, int64_t row) {
  return col >= b.x0 && col <= b.x1 && row >= b.y0 && row <= b.y1;
}
}  // namespace

void splat_fwd_cpu(const Splats& s, const float* radii, const int64_t* order, int64_t n_order, int64_t width,
                   int64_t height, float* rgb, float* depth, float* opacity) {
  const Bins b = bin_tiles(s, radii, order, n_order, width, height);
  parallel_tasks(b.tiles_x * b.tiles_y, [&](int64_t tile) {
    const std::vector<int32_t>& list = b.lists[tile];
    const int64_t tx = tile % b.tiles_x, ty = tile / b.tiles_x;
    for (int64_t row = ty * kTile; row < std::min(height, (ty + 1) * kTile); ++row) {
      for (int64_t col = tx * kTile; col < std::min(width, (tx + 1) * kTile); ++col) {
        float T = 1.0f, r = 0.0f, g = 0.0f, bl = 0.0f, z = 0.0f;
        for (const int32_t k : list) {
          if (!inside(b.boxes[k], col, row)) continue;
          const int64_t i = order[k];
          float dx, dy, power;
          float alpha = splat_alpha(s, i, col, row, &dx, &dy, &power);
          if (alpha < kSplatAlphaMin) continue;
          alpha = alpha < kSplatAlphaMax ? alpha : kSplatAlphaMax;
          if (T * (1.0f - alpha) < kSplatTMin) break;
          const float w = alpha * T;
          r += w * s.colors[3 * i];
          g += w * s.colors[3 * i + 1];
          bl += w * s.colors[3 * i + 2];
          z += w * s.dists[i];
          T *= 1.0f - alpha;
        }
        const int64_t p = row * width + col;
        rgb[3 * p] = r;
        rgb[3 * p + 1] = g;
        rgb[3 * p + 2] = bl;
        depth[p] = z;
        opacity[p] = 1.0f - T;
      }
    }
  });
}

namespace {

constexpr int64_t kBands = 8;  // backward bands (at most; a band's gradients cost 10 floats per Gaussian)

// The gradients of every Gaussian's pixels in tiles [tile0, tile1) of `b`, added into `out`.
void splat_bwd_tiles(const Splats& s, const Bins& b, const int64_t* order, int64_t width, int64_t height,
                     const float* rgb, const float* depth, const float* opacity, const float* grad_rgb,
                     const float* grad_depth, const float* grad_opacity, int64_t tile0, int64_t tile1,
                     const SplatGrads& out) {
  for (int64_t tile = tile0; tile < tile1; ++tile) {
    const std::vector<int32_t>& list = b.lists[tile];
    const int64_t tx = tile % b.tiles_x, ty = tile / b.tiles_x;
    for (int64_t row = ty * kTile; row < std::min(height, (ty + 1) * kTile); ++row) {
      for (int64_t col = tx * kTile; col < std::min(width, (tx + 1) * kTile); ++col) {
        const int64_t p = row * width + col;
        const float* gc = grad_rgb + 3 * p;
        // q_i = dL/dw_i; every output is linear in the weights (opacity = sum w)
        auto weight_grad = [&](int64_t i) {
          return gc[0] * s.colors[3 * i] + gc[1] * s.colors[3 * i + 1] + gc[2] * s.colors[3 * i + 2] +
                 grad_depth[p] * s.dists[i] + grad_opacity[p];
        };
        // sum_i w_i q_i is the outputs' own gradient sum (each output is linear in the weights)
        const double total = (double)gc[0] * rgb[3 * p] + (double)gc[1] * rgb[3 * p + 1] +
                             (double)gc[2] * rgb[3 * p + 2] + (double)grad_depth[p] * depth[p] +
                             (double)grad_opacity[p] * opacity[p];
        // dL/dalpha_i = T_i q_i - (sum_{j>i} w_j q_j) / (1 - alpha_i)
        double done = 0.0;
        float T = 1.0f;
        for (const int32_t k : list) {
          if (!inside(b.boxes[k], col, row)) continue;
          const int64_t i = order[k];
          float dx, dy, power;
          const float raw = splat_alpha(s, i, col, row, &dx, &dy, &power);
          if (raw < kSplatAlphaMin) continue;
          const bool capped = raw >= kSplatAlphaMax;
          const float alpha = capped ? kSplatAlphaMax : raw;
          if (T * (1.0f - alpha) < kSplatTMin) break;
          const float w = alpha * T;
          const float q = weight_grad(i);
          done += (double)w * q;
          const float d_alpha = (float)((double)T * q - (total - done) / (1.0 - (double)alpha));
          out.colors[3 * i] += w * gc[0];
          out.colors[3 * i + 1] += w * gc[1];
          out.colors[3 * i + 2] += w * gc[2];
          out.dists[i] += w * grad_depth[p];
          T *= 1.0f - alpha;
          if (capped) continue;  // min(0.99, .) passes no gradient
          out.opacities[i] += d_alpha * (raw / s.opacities[i]);
          if (power > 0.0f) continue;  // exp(min(power, 0))
          const float d_power = d_alpha * raw;
          const float* c = s.conics + 3 * i;
          out.means2d[2 * i] += d_power * (c[0] * dx + c[1] * dy);
          out.means2d[2 * i + 1] += d_power * (c[2] * dy + c[1] * dx);
          out.conics[3 * i] += d_power * (-0.5f * dx * dx);
          out.conics[3 * i + 1] += d_power * (-dx * dy);
          out.conics[3 * i + 2] += d_power * (-0.5f * dy * dy);
        }
      }
    }
  }
}

// SplatGrads over one zeroed buffer of 10 n floats (means2d, conics, opacities, colors, dists).
SplatGrads band_grads(std::vector<float>& buffer, int64_t n) {
  buffer.assign(10 * n, 0.0f);
  float* p = buffer.data();
  return {p, p + 2 * n, p + 5 * n, p + 6 * n, p + 9 * n};
}

}  // namespace

void splat_bwd_cpu(const Splats& s, const float* radii, const int64_t* order, int64_t n_order, int64_t n,
                   int64_t width, int64_t height, const float* rgb, const float* depth, const float* opacity,
                   const float* grad_rgb, const float* grad_depth, const float* grad_opacity, const SplatGrads& out) {
  const Bins b = bin_tiles(s, radii, order, n_order, width, height);
  const int64_t n_tiles = b.tiles_x * b.tiles_y;
  const int64_t bands = std::max<int64_t>(1, std::min(kBands, n_tiles));
  std::vector<std::vector<float>> buffers(bands - 1);
  parallel_tasks(bands, [&](int64_t band) {
    const SplatGrads dst = band == 0 ? out : band_grads(buffers[band - 1], n);
    splat_bwd_tiles(s, b, order, width, height, rgb, depth, opacity, grad_rgb, grad_depth, grad_opacity,
                    band * n_tiles / bands, (band + 1) * n_tiles / bands, dst);
  });
  if (bands == 1) return;
  // out = band 0 + band 1 + ... in band order, per Gaussian (the ranges of Gaussians in parallel)
  float* const fields[5] = {out.means2d, out.conics, out.opacities, out.colors, out.dists};
  const int64_t widths[5] = {2, 3, 1, 3, 1}, offsets[5] = {0, 2, 5, 6, 9};
  parallel_ranges(n, 4096, [&](int64_t begin, int64_t end) {
    for (int f = 0; f < 5; ++f) {
      float* dst = fields[f];
      for (const std::vector<float>& part : buffers) {
        const float* src = part.data() + offsets[f] * n;
        for (int64_t j = begin * widths[f]; j < end * widths[f]; ++j) dst[j] += src[j];
      }
    }
  });
}

}  // namespace pvd
