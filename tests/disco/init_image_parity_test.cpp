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
  const auto& tensors = sec.at("tensors");
  auto expected = load_fixture(sec.at("expected_file").get<std::string>());
  io::Image8 img = io::read_png(fixture_path(png_file_of(sec)));
  img = io::resize_lanczos(img, sec.at("side_x").get<int>(), sec.at("side_y").get<int>());
  auto init = io::to_tensor(img);  // [1, 3, side_y, side_x]
  expect_close(init, expected["init"], "init_image.init", tolerance_from(tensors.at("init")));

  auto noise = expected["noise"];
  ASSERT_FALSE(sec.at("runs").empty());
  for (const auto& run : sec.at("runs")) {
    const std::string p = "run" + std::to_string(run.at("run").get<int>()) + ".";
    auto schedule = diffusion::make_schedule(run.at("T_orig").get<int64_t>(), run.at("respacing").get<std::string>());
    const int64_t skip = run.at("skip_steps").get<int64_t>();
    const int64_t i0 = diffusion::first_index(schedule, skip);
    expect_close(torch::tensor(i0), expected[p + "i0"], p + "i0", tolerance_from(tensors.at(p + "i0")));
    expect_close(torch::tensor({schedule.t_model(i0)}), expected[p + "t_model"], p + "t_model",
                 tolerance_from(tensors.at(p + "t_model")));
    auto x_start = diffusion::loop_start(schedule, noise, init, skip);
    expect_close(x_start, expected[p + "x_start"], "init_image." + p + "x_start", tolerance_from(tensors.at(p + "x_start")));
  }
}

}  // namespace
}  // namespace disco::test
