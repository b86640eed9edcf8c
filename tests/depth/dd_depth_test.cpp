// DD's depth mix (dd-spec §11.4) on the tiny fixture models: (50 - p)/19 from MiDaS alone at
// midas_weight >= 1, mixed with AdaBins below, and the same numbers when the models are parked.
#include "depth/dd_depth.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "common/error.h"
#include "depth/depth_map.h"
#include "io/image.h"

namespace {
using namespace disco::depth;

const std::string kDepthFixtures = std::string(DISCO_SOURCE_DIR) + "/tests/fixtures/";

TEST(DDDepth, MixesMidasAndAdaBinsAsDD) {
  const auto image = disco::io::read_png(kDepthFixtures + "midas/frame_80x48.png");
  auto depth = load_dd_depth(kDepthFixtures + "midas/tiny_dpt.pt", kDepthFixtures + "adabins/tiny_adabins.pt",
                             torch::kCPU);
  auto midas = load_midas(kDepthFixtures + "midas/tiny_dpt.pt");
  auto adabins = load_adabins(kDepthFixtures + "adabins/tiny_adabins.pt");
  const at::Tensor m = depth_from_midas(midas_prediction(midas, image, torch::kCPU));
  const at::Tensor a = adabins_depth(adabins, image, torch::kCPU);
  EXPECT_TRUE(torch::equal(depth->estimate(image, 1.0), m));
  EXPECT_TRUE(torch::equal(depth->estimate(image, 1.5), m));  // DD: AdaBins only where the weight is < 1
  const at::Tensor mixed = depth->estimate(image, 0.3);
  EXPECT_TRUE(torch::equal(mixed, mix_depths(m, a, 0.3)));
  EXPECT_EQ(mixed.sizes(), (std::vector<int64_t>{48, 80}));
  EXPECT_GT((m - a).abs().max().item<double>(), 0.1);  // the two estimates differ, so the mix is seen
  depth->set_parked(true);
  EXPECT_TRUE(torch::equal(depth->estimate(image, 0.3), mixed));
}

TEST(DDDepth, MidasWeightBelowOneNeedsAdaBins) {
  const auto image = disco::io::read_png(kDepthFixtures + "midas/frame_64x64.png");
  auto depth = load_dd_depth(kDepthFixtures + "midas/tiny_dpt.pt", "", torch::kCPU);
  EXPECT_NO_THROW(depth->estimate(image, 1.0));
  EXPECT_THROW(depth->estimate(image, 0.5), disco::RuntimeError);
}

}  // namespace
