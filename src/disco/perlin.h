// Disco Diffusion's Perlin init (disco.py perlin / perlin_ms / create_perlin_noise /
// regen_perlin), dd-spec §10, manifest "perlin". Every random draw is one torch randn call from
// the explicit generator, in the reference order (dd-spec §14), so a CPU generator seeded like
// torch.manual_seed(seed) reproduces DD's CPU path bit for bit.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/Tensor.h>
#include <ATen/core/Generator.h>

#include "disco/settings.h"
#include "io/image.h"

namespace disco {

// "mixed" | "color" | "gray" (DD's perlin_mode); throws SettingsError otherwise.
PerlinMode perlin_mode_from_string(const std::string& mode);

// One noise tile: gx, gy = randn([2, w+1, h+1, 1, 1]) (one call), gradient-noise dots
// -> float32 [w*scale, h*scale] on `device` (the generator's device). On the CPU the dots are
// computed element by element (`fused_on_cpu`, bit-identical to the reference's tensor ops).
at::Tensor perlin(int64_t w, int64_t h, int64_t scale, at::Generator& generator, c10::Device device,
                  bool fused_on_cpu = true);

// Octave sum per channel, starting at 0.5: [C*S, S] with S = w * 2^len(octaves), C = 1 or 3.
at::Tensor perlin_ms(const std::vector<double>& octaves, int64_t w, int64_t h, bool grayscale,
                     at::Generator& generator, c10::Device device);

// ImageOps.autocontrast(img) with cutoff 0: per channel, stretch [min, max] to [0, 255].
io::Image8 autocontrast(const io::Image8& image);

// perlin_ms, bilinear resize (no antialias) to side_y x side_x, to_pil_image truncation,
// gray -> RGB, autocontrast.
io::Image8 create_perlin_noise(const std::vector<double>& octaves, int64_t w, int64_t h, bool grayscale,
                               int side_x, int side_y, at::Generator& generator, c10::Device device);

struct PerlinInit {
  at::Tensor init;    // float32 [batch_size, 3, side_y, side_x] in [-1, 1] (an expanded view)
  io::Image8 init1;   // the two autocontrasted images, for inspection
  io::Image8 init2;
};

// regen_perlin(): init1 (12 octaves, 1x1 grid), init2 (8 octaves, 4x4 grid);
// init = (to_tensor(init1) + to_tensor(init2)) / 2 * 2 - 1 on `device`.
PerlinInit regen_perlin(PerlinMode mode, int side_x, int side_y, int64_t batch_size, at::Generator& generator,
                        c10::Device device);

}  // namespace disco
