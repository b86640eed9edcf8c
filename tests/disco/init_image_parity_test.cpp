// DD's init-image pipeline against manifest section "init_image": PNG -> PIL LANCZOS stretch to
// (side_x, side_y) -> to_tensor * 2 - 1, then the loop start x = q_sample(init, i0, noise) for
// every run listed. Sizes, runs and tolerances come from manifest.json.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "diffusion/samplers.h"
#include "diffusion/schedule.h"
#include "io/image.h"
#include "io/pil_resize.h"
#include "support/fixtures.h"

namespace disco::test {
namespace {

TEST(InitImageParity, InitTensorAndLoopStartMatch) {
  const auto& sec = manifest().at("init_image");
  const Fixture expected("init_image");
  io::Image8 img = io::read_png(fixture_path(png_file_of(sec)));
  img = io::resize_lanczos(img, sec.at("side_x").get<int>(), sec.at("side_y").get<int>());
  auto init = io::to_tensor(img);  // [1, 3, side_y, side_x]
  expected.check(init, "init");

  auto noise = expected["noise"];
  ASSERT_FALSE(sec.at("runs").empty());
  for (const auto& run : sec.at("runs")) {
    const std::string p = "run" + std::to_string(run.at("run").get<int>()) + ".";
    auto schedule = diffusion::make_schedule(run.at("T_orig").get<int64_t>(), run.at("respacing").get<std::string>());
    const int64_t skip = run.at("skip_steps").get<int64_t>();
    const int64_t i0 = diffusion::first_index(schedule, skip);
    expected.check(torch::tensor(i0), p + "i0");
    expected.check(torch::tensor({schedule.t_model(i0)}), p + "t_model");
    expected.check(diffusion::loop_start(schedule, noise, init, skip), p + "x_start");
  }
}

}  // namespace
}  // namespace disco::test
